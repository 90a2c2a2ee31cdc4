"""The start of the ``misci`` engine: from the initial state to the switch onto the slow flow.

The first few hundred 1/mu (flavor pendulum, kinematic decoherence) are no QSS. The master
equation (``master_start.MasterRunner``, or ``quadrature.QuadratureRunner`` on a velocity
quadrature, by default above ``AUTO_ABOVE`` particles) runs until a window of ``window`` mu t
has a steady |M_perp|: the relative scatter about a straight line and the mismatch between the
measured and the self-consistent mode both <= ``qss_tol``; after ``switch_by`` a scatter up to
``scatter_max`` is accepted, since at small gamma a finite gas keeps a residual collective
oscillation that only decoherence, at tau ~ 1, damps. Then ``oile_q.qss.qss_from_samples``
measures Omega, the signed lengths c_a and the dephased parts q_a^2 there (q_a^2 with the
schedule spread X_a). Or the user gives the switch time (``switch_time``), a result to start
from (``start``), or a stratified sample to run the start on (``start_sample``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...conventions import flavor_to_mass
from ...errors import InputError
from ...qss import NoQSSError, QSSFit, detrended_scatter, qss_from_samples, solve_qss
from ...results import mass_basis
from .master_start import MasterRunner, particles_of
from .quadrature import QuadratureRunner

__all__ = ["Start", "run_start", "quadrature_points", "stratified_sample", "AUTO_POINTS", "AUTO_ABOVE"]

AUTO_POINTS = 512  # quadrature points per class by default (velocity moments matched to degree 12)
AUTO_ABOVE = 2000  # ... for gases of more particles than this
_CHECK_EVERY = 5.0  # mu t between checks of the automatic criterion


@dataclasses.dataclass
class Start:
    """How the start ended.

    Parameters
    ----------
    fit : QSSFit
        The QSS at the switch, for the scenario's particles (q_a^2 with the schedule spread).
    T0 : float
        The switch time (mu t).
    mode : str
        How it was chosen: "automatic", "automatic-relaxed", "switch_time" or "dataset".
    P : ndarray (T, N, 3)
        The start's flavor-basis vectors at the requested times <= T0 (NaN where it has none).
    X : ndarray (T, N)
        The schedule spread X_a there (zero from a ``start`` Dataset, whose own spread is in its vectors).
    sample : ndarray of int, optional
        The particles the start ran on (``start_sample``; None: all).
    """

    fit: QSSFit
    T0: float
    mode: str
    P: np.ndarray
    X: np.ndarray
    sample: np.ndarray | None = None


def run_start(request, stats: dict) -> Start:
    """Run the start of a ``misci`` request up to the switch (on a sample with ``start_sample``).

    Returns
    -------
    Start
        The QSS at the switch, the switch time, and the start's vectors before it.

    Raises
    ------
    InputError
        When the start is not in a QSS at a given switch time or ``start`` Dataset, or none is
        found by ``switch_max``.
    """
    sc, opts = request.scenario, request.options
    if opts["start_sample"] is None or opts["start"] is not None or opts["start_sample"] >= sc.n:
        return _start(request, stats)
    sample = stratified_sample(sc.group, opts["start_sample"])
    sub = _start(dataclasses.replace(request, scenario=particles_of(sc, sample)), stats)
    P = np.full((len(sub.P), sc.n, 3), np.nan)
    P[:, sample] = sub.P
    X = np.full((len(sub.P), sc.n), np.nan)
    X[:, sample] = sub.X
    return Start(_spread_fit(sub.fit, sc, sample), sub.T0, sub.mode, P, X, sample)


def _start(request, stats):
    if request.options["start"] is not None:
        return _from_dataset(request, stats)
    points = quadrature_points(request)
    if points:
        runner = QuadratureRunner(request, stats, points)
    else:
        runner = MasterRunner(request, stats)
    if request.options["switch_time"] is not None:
        return _at_switch_time(request, runner)
    return _automatic(request, runner)


def _from_dataset(request, stats):
    """The QSS measured in the last window of the ``start`` Dataset; its vectors at the requested
    times (the nearest time within half a step of gamma, NaN where it has none)."""
    sc, opts = request.scenario, request.options
    times = np.asarray(request.times, dtype=float)
    W = opts["window"]
    ds = opts["start"]
    T0 = float(ds["time"].values[-1])
    where = f"`start` (its last window, mu t {max(T0 - W, 0):g} to {T0:g})"
    fit = _measure(np.asarray(ds["time"], dtype=float), np.asarray(mass_basis(ds)), sc.omega, sc.mu, T0, W, where)
    _require_quality(fit, opts["qss_tol"], where)
    before = times[times <= T0 + 1e-12]
    P_before = np.full((len(before), sc.n, 3), np.nan)
    tt = np.asarray(ds["time"], dtype=float)
    # a discrete engine's times are step ends (requested times rounded): half a step matches
    tol = 0.5 * sc.gamma * (1 + 1e-9)
    for i, t in enumerate(before):
        j = int(np.argmin(np.abs(tt - t)))
        if abs(tt[j] - t) <= tol:
            P_before[i] = np.asarray(ds["P"][j])
    stats["master_rhs_evals"] = 0
    return Start(fit, T0, "dataset", P_before, np.zeros(P_before.shape[:2]))


def _at_switch_time(request, runner):
    """The QSS measured in the window ending at the given ``switch_time``."""
    sc, opts = request.scenario, request.options
    times = np.asarray(request.times, dtype=float)
    W = opts["window"]
    T0 = float(opts["switch_time"])
    t, Pm = runner.advance(T0, times)
    where = f"`switch_time` = {T0:g} (window mu t {max(T0 - W, 0):g} to {T0:g})"
    fit = _measure(t, Pm, runner.omega, sc.mu, T0, W, where, runner.weights)
    _require_quality(fit, opts["qss_tol"], where)
    return _switch(runner, fit, T0, "switch_time", times)


def _switch(runner, fit, T0, mode, times):
    return Start(runner.to_gas(runner.with_spread(fit, T0)), T0, mode, *runner.P_at(times[times <= T0 + 1e-12]))


def _automatic(request, runner):
    """Advance in chunks and check windows every ``_CHECK_EVERY`` mu t; after ``switch_by`` accept a
    window whose |M_perp| still oscillates (up to ``scatter_max``) if the measured mode is
    self-consistent: at small gamma nothing but decoherence (tau ~ 1) damps the residual collective
    oscillation of a finite gas, so the strict criterion may never hold."""
    sc, opts = request.scenario, request.options
    times = np.asarray(request.times, dtype=float)
    W, tol = opts["window"], opts["qss_tol"]
    t_end = float(times[-1])
    limit = min(opts["switch_max"], t_end)
    T = 0.0
    last_reason = ""
    while T < limit - 1e-9:
        T_next = min(T + W, limit)
        t, Pm = runner.advance(T_next, times)
        checks = np.arange(max(W, np.ceil(T / _CHECK_EVERY) * _CHECK_EVERY), T_next + 1e-9, _CHECK_EVERY)
        for Tc in checks:
            bound = max(tol, opts["scatter_max"]) if Tc >= opts["switch_by"] else tol
            scatter = _scatter(t, Pm, Tc, W, runner.weights)
            if scatter > bound:
                last_reason = f"scatter {scatter:.3g} at mu t = {Tc:g}"
                continue
            try:
                fit = qss_from_samples(t, Pm, runner.omega, mu=sc.mu, t_end=Tc, window=W, weights=runner.weights)
            except NoQSSError as err:
                last_reason = f"no QSS at mu t = {Tc:g} ({err})"
                continue
            if fit.mismatch <= tol:
                mode = "automatic" if fit.scatter <= tol else "automatic-relaxed"
                return _switch(runner, fit, float(Tc), mode, times)
            last_reason = f"mismatch {fit.mismatch:.3g} at mu t = {Tc:g}"
        T = T_next
    raise InputError(
        f"no QSS found by mu t = {limit:g} (`switch_max` {opts['switch_max']:g}, run end {t_end:g}): the QSS "
        f"criterion (`qss_tol` = {tol:g} over `window` = {W:g}) never held; last: {last_reason}."
    )


def quadrature_points(request) -> int:
    """Points per class of the start's velocity quadrature for a ``misci`` request: the option
    ``quadrature``, or by default ``AUTO_POINTS`` for a gas of more than ``AUTO_ABOVE`` particles
    (weights 'g', no ``start`` or ``start_sample``).

    Returns
    -------
    int
        Points per class; 0: the start runs on the particles themselves.
    """
    sc, opts = request.scenario, request.options
    K = opts["quadrature"]
    if K is None:
        auto = sc.n > AUTO_ABOVE and opts["weights"] == "g" and opts["start"] is None and opts["start_sample"] is None
        K = AUTO_POINTS if auto else 0
    return int(K)


def stratified_sample(group: np.ndarray, size: int) -> np.ndarray:
    """Indices of about ``size`` particles, each group represented in proportion (at least 2),
    evenly spread through the group; an even count (the start's matching schedule needs one).

    Returns
    -------
    ndarray of int
        Sorted distinct indices.
    """
    labels, inv = np.unique(group, return_inverse=True)
    n = len(group)
    picks = []
    for k in range(len(labels)):
        members = np.flatnonzero(inv == k)
        take = min(len(members), max(2, int(round(size * len(members) / n))))
        picks.append(members[np.round(np.linspace(0, len(members) - 1, take)).astype(int)])
    idx = np.unique(np.concatenate(picks))
    if len(idx) % 2:
        rest = np.setdiff1d(np.arange(n), idx)
        idx = np.sort(np.append(idx, rest[0]))
    return idx


def _spread_fit(fit, sc, idx):
    """The sample's QSS carried to every particle: each gets its group's (and frequency's) mean c and
    q^2 over the sample; (Omega, m) re-solved at the whole gas's conserved M3."""
    key = np.char.add(np.char.add(sc.group.astype(str), "|"), sc.omega.astype(str))
    c = np.empty(sc.n)
    q2 = np.empty(sc.n)
    for k in np.unique(key):
        members = key == k
        in_sample = members[idx]
        if not in_sample.any():
            raise InputError(f"`start_sample` misses the particles of group|omega {k}; give a larger sample.")
        c[members] = fit.c[in_sample].mean()
        q2[members] = fit.q2[in_sample].mean()
    M3 = float(flavor_to_mass(sc.P0, sc.theta)[:, 2].mean())
    q = solve_qss(c, sc.omega, M3=M3, mu=sc.mu, guess=(fit.qss.Omega, fit.qss.m))
    return dataclasses.replace(fit, qss=q, c=c, q2=q2)


def _scatter(t, Pm, T, W, weights=None):
    """Detrended relative scatter of |M_perp| (mass basis) over [T - W, T]."""
    sel = (t >= T - W - 1e-9) & (t <= T + 1e-9)
    M = Pm[sel].mean(1) if weights is None else np.einsum("b,tbi->ti", weights / weights.sum(), Pm[sel])
    a = np.hypot(M[:, 0], M[:, 1])
    if not np.all(a > 0):
        return np.inf
    return detrended_scatter(t[sel], a)


def _measure(t, Pm, omega, mu, T0, W, where, weights=None):
    try:
        return qss_from_samples(t, Pm, omega, mu=mu, t_end=T0, window=W, weights=weights)
    except NoQSSError as err:
        raise NoQSSError(f"{where} is not in a QSS: {err}") from err


def _require_quality(fit, tol, where):
    if fit.scatter > tol or fit.mismatch > tol:
        raise InputError(
            f"{where} is not in a QSS (the transient has not ended): |M_perp| scatters by {fit.scatter:.3g} and "
            f"the measured mode misses the self-consistent one by {fit.mismatch:.3g} (`qss_tol` = {tol:g}); "
            "start later, or leave `switch_time` unset for the automatic criterion."
        )
