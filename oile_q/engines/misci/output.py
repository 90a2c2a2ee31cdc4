"""What the ``misci`` engine returns: P at every requested time, the per-group phase-invariant
extras and the attributes that say how the run started.

``P`` (time, particle, component), flavor basis: before the switch, the start's own vectors;
after it, c_a h_a turned about B by the integrated phase -- *phase-approximate* (its error grows
like (1/gamma) int dOmega dtau) and without the dephased parts (which average out of every group
mean). The phase-invariant observables are extras per group (dimension ``group``, labels in
coordinate ``group_name``; before the switch over the start's particles): mass-basis P_3 and
|P_perp| of the group mean, |<P>| and <|P|> (the latter with the dephased parts), the signed
<c_a> (``group_c``), plus ``Omega`` and ``qss_m`` (NaN before the switch).
"""

from __future__ import annotations

import json

import numpy as np

from ...conventions import flavor_to_mass, mass_to_flavor
from ...errors import InputError
from ...results import declared_group_observables, mass_basis
from .flow import FlowPath, FlowState
from .start import Start

__all__ = ["assemble", "run_attrs", "phase_invariants"]

_PHASE_NOTE = (
    "P after misci_switch_time is c_a h_a turned about B by the integrated phase: "
    "phase-approximate (error ~ (1/gamma) int dOmega dtau) and without the dephased "
    "parts q_a; use the group_* extras and Omega for phase-invariant observables"
)


def _group_sums(X, gidx, k):
    """Sums over the particles of each group: X (T, N) -> (T, k)."""
    onehot = np.zeros((X.shape[1], k))
    onehot[np.arange(X.shape[1]), gidx] = 1.0
    return X @ onehot


def _group_observables(Pm: np.ndarray, norms: np.ndarray, gidx: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The phase-invariant group observables of mass-basis vectors ``Pm`` (T, N, 3) with lengths
    ``norms`` (T, N) (with the dephased parts), particles in groups ``gidx`` (N,) of ``counts``.

    Returns
    -------
    ndarray (4, T, G)
        Mass-basis P_3 and |P_perp| of the group mean, |<P>|_g and <|P|>_g.
    """
    k = len(counts)
    mean = np.stack([_group_sums(Pm[..., i], gidx, k) for i in range(3)], -1) / counts[:, None]
    mabs = _group_sums(norms, gidx, k) / counts
    return np.stack([mean[..., 2], np.hypot(mean[..., 0], mean[..., 1]), np.linalg.norm(mean, axis=-1), mabs])


def phase_invariants(ds) -> np.ndarray:
    """The phase-invariant group observables of any engine's result, for comparing it with misci's
    extras (``group_P3``, ``group_Pperp``, ``group_abs_mean``, ``group_mean_abs``, whose <|P|>_g
    also counts the dephased parts).

    Parameters
    ----------
    ds : xarray.Dataset
        A result with the shared layout (``P``, per-particle ``group`` labels).

    Returns
    -------
    ndarray (4, T, G)
        Per group (labels sorted): mass-basis P_3 and |P_perp| of the group mean, |<P>|_g and <|P|>_g.

    Raises
    ------
    InputError
        For a result whose engine records its own group observables (misci itself).

    Examples
    --------
    >>> import numpy as np, oile_q
    >>> sc = oile_q.Scenario.from_groups([dict(name="a", count=2, flavor="e", omega=0.1),
    ...                                   dict(name="b", count=2, flavor="x", omega=0.2)], gamma=0.1)
    >>> obs = phase_invariants(oile_q.run(sc, "meanfield", times=[0.0, 1.0]))
    >>> obs.shape, obs[:, 0].round(6).tolist()
    ((4, 2, 2), [[1.0, -1.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    """
    if declared_group_observables(ds) is not None:
        raise InputError(f"`ds`: a {ds.attrs.get('engine')} result records its group observables itself; use those.")
    P = np.asarray(mass_basis(ds))
    g = np.asarray(ds["group"]).astype(str)
    out = []
    for name in sorted(set(g)):
        sel = g == name
        M = P[:, sel].mean(1)
        mean_abs = np.linalg.norm(P[:, sel], axis=2).mean(1)
        out.append([M[:, 2], np.hypot(M[:, 0], M[:, 1]), np.linalg.norm(M, axis=1), mean_abs])
    return np.moveaxis(np.array(out), 0, -1)


def assemble(sc, times: np.ndarray, start: Start, state: FlowState, path: FlowPath) -> tuple[np.ndarray, dict]:
    """P (flavor basis) at every requested time and the extras, from the start (times up to the
    switch) and the flow's ``path`` (the times after it).

    Returns
    -------
    tuple
        (P (T, N, 3), extras: dict of xarray.DataArray).
    """
    n = sc.n
    after = times > start.T0 + 1e-12
    before = ~after
    P = np.full((len(times), n, 3), np.nan)
    if before.any():
        P[before] = start.P
    Omega = np.full(len(times), np.nan)
    mm = np.full(len(times), np.nan)
    labels = np.unique(sc.group)
    gidx = np.searchsorted(labels, sc.group)
    counts = np.bincount(gidx, minlength=len(labels)).astype(float)
    G = np.full((4, len(times), len(labels)), np.nan)
    Gc = np.full((len(times), len(labels)), np.nan)
    if before.any():
        keep = np.arange(n) if start.sample is None else start.sample
        Pm = flavor_to_mass(start.P[:, keep], sc.theta)
        G[:, before] = _group_observables(
            Pm,
            np.sqrt((Pm**2).sum(-1) + start.X[:, keep]),
            gidx[keep],
            np.bincount(gidx[keep], minlength=len(labels)).astype(float),
        )
    if after.any():
        phase = start.fit.phase + path.psi / sc.gamma
        H = np.stack([q.h for q in path.qss])[:, state.idx]  # (T, N, 3) axes, co-rotating frame
        Prot = path.c[..., None] * H
        cs, sn = np.cos(phase)[:, None], np.sin(phase)[:, None]
        Plab = np.stack(
            [cs * Prot[..., 0] - sn * Prot[..., 1], sn * Prot[..., 0] + cs * Prot[..., 1], Prot[..., 2]], -1
        )
        P[after] = mass_to_flavor(Plab, sc.theta)
        G[:, after] = _group_observables(Prot, np.sqrt(path.c**2 + path.q2), gidx, counts)
        Gc[after] = _group_sums(path.c, gidx, len(labels)) / counts
        Omega[after] = [q.Omega * sc.mu for q in path.qss]
        mm[after] = [q.m for q in path.qss]
    return P, _extras(G, Gc, Omega, mm, labels)


def _extras(G, Gc, Omega, m, labels):
    import xarray as xr

    coords = {"group_name": ("group", [str(x) for x in labels])}
    names = [
        ("group_P3", "mass-basis P_3 of the group mean"),
        ("group_Pperp", "|P_perp| of the group mean (mass basis)"),
        ("group_abs_mean", "|<P>| per group"),
        ("group_mean_abs", "<|P|> per group (with the dephased parts)"),
    ]
    out = {}
    for (name, doc), arr in zip(names, G):
        out[name] = xr.DataArray(arr, dims=("time", "group"), coords=coords, attrs={"long_name": doc})
    out["group_c"] = xr.DataArray(
        Gc,
        dims=("time", "group"),
        coords=coords,
        attrs={"long_name": "signed length <c_a> per group along its QSS axis (NaN before the switch)"},
    )
    out["Omega"] = xr.DataArray(
        Omega, dims=("time",), attrs={"long_name": "QSS precession frequency (units of omega; NaN before the switch)"}
    )
    out["qss_m"] = xr.DataArray(m, dims=("time",), attrs={"long_name": "|M_perp| of the QSS (NaN before the switch)"})
    return out


def run_attrs(sc, opts: dict, start: Start, s: float, stats: dict) -> dict:
    """The result's ``misci_*`` attributes: how and when the start switched to the flow, the
    measured QSS (JSON), the weights and s, and the criterion, sample or quadrature used.

    Returns
    -------
    dict
        Attribute name -> value.
    """
    fit, mode = start.fit, start.mode
    attrs = {
        "misci_start": mode,
        "misci_switch_time": float(start.T0),
        "misci_tau0": float(sc.gamma * start.T0),
        "misci_qss": json.dumps(fit.summary(), sort_keys=True),
        "misci_weights": opts["weights"],
        "misci_s": s,
        "phase_approximate": _PHASE_NOTE,
    }
    if start.sample is not None:
        attrs["misci_start_sample"] = int(len(start.sample))
    if stats.get("quadrature_degree") is not None:
        attrs["misci_start_quadrature"] = (
            f"{stats['quadrature_points']} weighted points for {sc.n} particles, velocity moments matched to "
            f"degree {stats['quadrature_degree']}; before the switch each particle holds its nearest point's P, "
            "corrected so that the class sums over 1, v and v v^T are the quadrature's"
        )
    if mode == "automatic":
        attrs["misci_criterion"] = (
            f"first window of {opts['window']:g} mu t with detrended relative scatter "
            f"of |M_perp| and mode mismatch <= {opts['qss_tol']:g}"
        )
    elif mode == "automatic-relaxed":
        attrs["misci_criterion"] = (
            f"no window of {opts['window']:g} mu t had |M_perp| steady to {opts['qss_tol']:g} by mu t = "
            f"{opts['switch_by']:g}; first later window with mode mismatch <= {opts['qss_tol']:g} and scatter "
            f"<= {opts['scatter_max']:g} (here {fit.scatter:.3g}: a residual collective oscillation the flow "
            "averages over)"
        )
    return attrs
