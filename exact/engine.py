"""The ``exact`` and ``closed`` engines behind ``oile_q.run`` (DESIGN.md sections 1, 2, 5).

``exact``: the closed all-to-all Hamiltonian
    H = sum_a -(omega_a/2) B.sigma_a + mu/(N-1) sum_{a<b} (g_ab/2) sigma_a.sigma_b
evolved exactly (``oile_q.exact.evolve``) from a product initial state.

``closed``: the encounter schedule of the ``oile`` engine applied to the whole N-spin state
vector, without tracing. Each step applies, to every pair (a, b) of the step, the 4x4 pair
propagator (the same "exact", "split" or "symmetric" propagator as ``oile``, closed form
in the mass basis: phases on |up up>, |down down> and a 2x2 block on |up down>, |down up>),
and free precession to the unpaired particles.
Why a tensor-reshape statevector update and not QuSpin: a step is a product of disjoint
two-spin unitaries with a closed form, so one in-place pass over the 2^N vector per pair
(``_kernels.apply_pair``, 4 amplitudes at a time, parallel) is exact and costs O(2^N) with
no build at all, while QuSpin would need a new sparse Hamiltonian and an expm_multiply
(tens of sparse products with N^2/4 non-zeros per row) for every step.
Foreground scenarios: every step meets a *fresh* partner in state Q that never meets the
tracked neutrino again, so the engine keeps the tracked neutrino's 2x2 density matrix and
traces each partner out right after its encounter; nothing is lost (the partner is never
used again), and the result equals the ``oile`` engine's to round-off.

Mixed initial states (|P| < 1): each one-body state is purified with an ancilla spin that
never interacts. Because the ancillas never act, the purified evolution is, exactly, the
weighted sum over the 2^m branches of the eigen-decomposition rho_a = sum_+- (1 +- |P_a|)/2
|+-P_a><+-P_a| of the m mixed particles; the engine evolves every branch and adds the
one- and two-body density matrices with their weights (``max_branches`` limits 2^m).
``mixed="refuse"`` raises instead. Nothing is ever normalised.
"""

from __future__ import annotations

import itertools
import json
import time as _time

import numpy as np

from oile_q.conventions import flavor_to_mass, mass_to_flavor
from oile_q.errors import InputError, InputTypeError, check_array, check_int, check_real, describe
from oile_q.runner import resolve_grid
from oile_q.schedules import make_schedule

from . import _kernels
from .evolve import chebyshev_evolve, expm_evolve, spectral_bounds
from .hamiltonian import Model
from ._threads import limited_threads
from .memory import check_memory
from .observables import concurrence, entropy_bits, mutual_information, purity

__all__ = ["run_engine", "pair_blocks", "product_branches"]

_PURE_TOL = 1e-12

_COMMON = {"p", "pairs", "mixed", "max_branches", "memory_limit"}
_OPTIONS = {
    "exact": _COMMON | {"method", "basis", "builder", "tol", "energy"},
    "closed": _COMMON | {"propagator"},
}
_MODES = {"exact": 0, "split": 1, "symmetric": 2}


# --------------------------------------------------------------------------- initial states


def _amplitudes(unit):
    """(up, down) amplitudes of the pure one-body states with mass-basis unit Bloch vectors."""
    x, y, z = unit[:, 0], unit[:, 1], unit[:, 2]
    up = np.sqrt(np.clip((1.0 + z) / 2.0, 0.0, 1.0)).astype(complex)
    den = np.sqrt(np.clip(2.0 * (1.0 + z), 0.0, None))
    safe = den > 1e-150
    down = np.where(safe, (x + 1j * y) / np.where(safe, den, 1.0), 1.0 + 0j)
    return up, down


def product_branches(P_mass, *, mixed="purify", max_branches=64):
    """The initial state as a list of (weight, up, down) product-state branches.

    Pure one-body states (|P| = 1 within 1e-12) give one branch; every mixed one doubles the
    branches (its eigen-decomposition, equivalently an ancilla purification)."""
    P = np.asarray(P_mass, float)
    r = np.linalg.norm(P, axis=1)
    mixed_idx = np.flatnonzero(r < 1.0 - _PURE_TOL)
    unit = P / np.where(r > 0, r, 1.0)[:, None]
    unit[r == 0] = (0.0, 0.0, 1.0)
    if mixed_idx.size and mixed == "refuse":
        raise InputError(
            f"`P0` holds mixed one-body states (|P| < 1) for particles {mixed_idx[:8].tolist()}"
            f"{'...' if mixed_idx.size > 8 else ''}; with mixed='refuse' only pure product states "
            "are accepted (use mixed='purify' to evolve their exact branch decomposition).")
    nb = 2 ** mixed_idx.size
    if nb > max_branches:
        raise InputError(
            f"`P0` has {mixed_idx.size} mixed one-body states, i.e. {nb} pure branches to evolve; "
            f"`max_branches` is {max_branches}. Raise `max_branches` (cost grows as 2^m) "
            "or start from pure states.")
    out = []
    for signs in itertools.product((1.0, -1.0), repeat=mixed_idx.size):
        u = unit.copy()
        w = 1.0
        for s, a in zip(signs, mixed_idx):
            u[a] = s * unit[a]
            w *= 0.5 * (1.0 + s * r[a])
        if w > 0.0:
            up, down = _amplitudes(u)
            out.append((w, up, down))
    return out


# --------------------------------------------------------------------------- pair unitaries


def pair_blocks(wa, wb, phi, mode):
    """Mass-basis pair unitary (e_uu, e_dd, b00, b01, b10, b11), up to a global phase.

    wa = omega_a tau, wb = omega_b tau (vacuum angles), phi = gamma g_ab (the kick);
    mode "exact": exp(-i [tau H_vac + phi SWAP]); "split": vacuum after the SWAP power;
    "symmetric": half vacuum, SWAP power, half vacuum (as ``oile_q.encounter``).
    Broadcasts over arrays; returns an array (..., 6) complex."""
    wa, wb, phi = np.broadcast_arrays(np.asarray(wa, float), np.asarray(wb, float),
                                      np.asarray(phi, float))
    sigma = 0.5 * (wa + wb)
    delta = 0.5 * (wa - wb)
    e_uu = np.exp(1j * (sigma - phi))
    e_dd = np.exp(-1j * (sigma + phi))
    if mode == "exact":
        w = np.sqrt(phi**2 + delta**2)
        sw = np.where(w > 1e-300, np.sin(w) / np.where(w > 1e-300, w, 1.0), 1.0)
        b00 = np.cos(w) + 1j * delta * sw
        b11 = np.cos(w) - 1j * delta * sw
        b01 = b10 = -1j * phi * sw
    elif mode == "split":
        c, s = np.cos(phi), np.sin(phi)
        b00 = np.exp(1j * delta) * c
        b11 = np.exp(-1j * delta) * c
        b01 = -1j * s * np.exp(1j * delta)
        b10 = -1j * s * np.exp(-1j * delta)
    else:
        c, s = np.cos(phi), np.sin(phi)
        b00 = np.exp(1j * delta) * c
        b11 = np.exp(-1j * delta) * c
        b01 = b10 = -1j * s + 0 * c
    return np.stack([e_uu, e_dd, b00, b01, b10, b11], axis=-1)


def _block_matrix(blk):
    U = np.zeros((4, 4), dtype=complex)
    U[0, 0], U[3, 3] = blk[0], blk[1]
    U[1, 1], U[1, 2], U[2, 1], U[2, 2] = blk[2], blk[3], blk[4], blk[5]
    return U


# --------------------------------------------------------------------------- options


def _check_pairs(pairs, n):
    if pairs is None:
        return []
    if isinstance(pairs, str):
        if pairs != "all":
            raise InputError(f"`pairs` must be 'all' or a list of (a, b) particle pairs; got {pairs!r}.")
        return [(a, b) for a in range(n) for b in range(a + 1, n)]
    arr = check_array("pairs", pairs, (None, 2), dtype=float)
    if arr.size and (np.any(arr != np.round(arr)) or np.any(arr < 0) or np.any(arr >= n)):
        raise InputError(f"`pairs` must hold particle indices 0..{n - 1}; got {describe(pairs)}.")
    out = [(int(a), int(b)) for a, b in arr]
    for a, b in out:
        if a == b:
            raise InputError(f"`pairs` must pair two different particles; got ({a}, {b}).")
    return out


def _common_options(engine, options, n):
    unknown = sorted(set(options) - _OPTIONS[engine])
    if unknown:
        raise InputError(
            f"`{unknown[0]}` is not an option of engine {engine!r}; expected among {sorted(_OPTIONS[engine])}.")
    mixed = options.get("mixed", "purify")
    if mixed not in ("purify", "refuse"):
        raise InputError(f"`mixed` must be 'purify' or 'refuse'; got {describe(mixed)}.")
    max_branches = check_int("max_branches", options.get("max_branches", 64), low=1)
    limit = options.get("memory_limit")
    if limit is not None:
        limit = check_real("memory_limit", limit, positive=True)
    pairs = _check_pairs(options.get("pairs"), n)
    return mixed, max_branches, limit, pairs


def _grid(scenario, engine, sched, steps, t_max, times):
    """(nsteps, record_steps or None, record times) exactly as oile_q.runner does it."""
    return resolve_grid(scenario.gamma * sched.step_fraction, steps=steps, t_max=t_max, times=times,
                        continuous=engine == "exact")


# --------------------------------------------------------------------------- accumulation


class _Observer:
    """Adds w * (one-body Bloch vectors, norm, energy, pair density matrices) per output."""

    def __init__(self, n, ntimes, pairs, energy_fn=None):
        self.n = n
        self.pairs = pairs
        self.P = np.zeros((ntimes, n, 3))
        self.norm = np.zeros(ntimes)
        self.energy = np.zeros(ntimes) if energy_fn is not None else None
        self.energy_fn = energy_fn
        self.rho = np.zeros((ntimes, len(pairs), 4, 4), dtype=complex)
        self.weight = 1.0

    def __call__(self, j, v):
        from .observables import one_body, two_body

        P, nrm = one_body(v, self.n)
        w = self.weight
        self.P[j] += w * P
        self.norm[j] += w * nrm
        if self.energy_fn is not None:
            self.energy[j] += w * self.energy_fn(v)
        for k, (a, b) in enumerate(self.pairs):
            self.rho[j, k] += w * two_body(v, self.n, a, b)


def _extras(obs, times, pairs, *, s3=True):
    import xarray as xr

    P = obs.P
    ex = {
        "entropy": xr.DataArray(entropy_bits(P), dims=("time", "particle"),
                                attrs={"long_name": "one-body von Neumann entropy", "units": "bits"}),
        "purity": xr.DataArray(purity(P), dims=("time", "particle"),
                               attrs={"long_name": "one-body purity Tr rho^2"}),
        "norm": xr.DataArray(obs.norm, dims=("time",), attrs={"long_name": "|psi|^2 (check: 1)"}),
    }
    if s3:
        ex["S3_total"] = xr.DataArray(P[:, :, 2].sum(axis=1), dims=("time",),
                                      attrs={"long_name": "sum_a P_3 (mass basis), conserved"})
    if obs.energy is not None:
        ex["energy"] = xr.DataArray(obs.energy, dims=("time",),
                                    attrs={"long_name": "<H> / mu, conserved"})
    if pairs:
        conc = np.array([[concurrence(r) for r in row] for row in obs.rho])
        mi = np.array([[mutual_information(r) for r in row] for row in obs.rho])
        coords = {"pair_a": ("pair", [a for a, _ in pairs]), "pair_b": ("pair", [b for _, b in pairs])}
        ex["concurrence"] = xr.DataArray(conc, dims=("time", "pair"), coords=coords,
                                         attrs={"long_name": "two-body concurrence"})
        ex["mutual_information"] = xr.DataArray(mi, dims=("time", "pair"), coords=coords,
                                                attrs={"long_name": "two-body mutual information",
                                                       "units": "bits"})
    return ex


# --------------------------------------------------------------------------- engines


def run_engine(scenario, engine, *, steps=None, t_max=None, times=None, schedule="matching",
               seed=None, **options):
    """Run the ``exact`` or ``closed`` engine (called by ``oile_q.run``).

    Options (both engines)
    ----------------------
    pairs : list of (a, b) or "all", optional
        Pairs whose two-body concurrence and mutual information (bits) are recorded.
    mixed : {"purify", "refuse"}
        Mixed initial one-body states: exact branch decomposition (ancilla purification), or
        a ValueError.
    max_branches : int
        Largest number of pure branches (2^m for m mixed particles), default 64.
    memory_limit : float
        Bytes the run may use (default 85% of the available memory); a larger estimate
        raises ValueError naming the estimate and the largest N that fits.
    p : float
        Poisson encounter probability (schedule "poisson"; for ``exact`` only the time grid).

    ``exact`` only: ``method`` ("chebyshev" default, or "expm"), ``tol`` (Chebyshev series
    truncation, default 1e-12; for "expm" QuSpin's Taylor tolerance, default machine
    precision), ``basis`` ("sectors" or "full", method "expm"), ``builder`` ("fast" or
    "quspin", method "expm"), ``energy`` (record <H>, default True).
    ``closed`` only: ``propagator`` ("exact", "split", "symmetric") as for ``oile``.
    """
    if engine not in ("exact", "closed"):
        raise InputError(f"`engine` must be 'exact' or 'closed' here; got {describe(engine)}.")
    options = dict(options)
    n = scenario.n
    mixed, max_branches, limit, pairs = _common_options(engine, options, n)
    p = options.get("p")
    foreground = scenario.kind == "foreground"
    if engine == "exact" and foreground:
        raise InputError("`scenario` is a foreground scenario (fresh partners, no closed Hamiltonian); "
                         "engine 'exact' needs an ensemble. Use engine 'closed' or 'oile'.")
    if foreground and pairs:
        raise InputError("`pairs` needs an ensemble; a foreground result has one particle.")
    # exact uses the schedule only for its time grid (steps of gamma), which needs no
    # matching: odd N is fine
    sched = make_schedule(schedule, n, seed=seed, p=p, foreground=foreground,
                          require_even=engine != "exact")
    nsteps, record_steps, rec_times = _grid(scenario, engine, sched, steps, t_max, times)
    if sched.length is not None and sched.length < nsteps:
        raise InputError(f"`schedule` array has {sched.length} steps; the run needs {nsteps}.")
    recorded = {k: v for k, v in options.items() if k not in ("p", "memory_limit")}
    if "pairs" in recorded and not isinstance(recorded["pairs"], str):
        recorded["pairs"] = [list(x) for x in pairs]
    stats = {}
    t_start = _time.perf_counter()
    with limited_threads(n):
        obs = _dispatch(engine, foreground, scenario, sched, record_steps, rec_times, options, mixed,
                        max_branches, limit, pairs, stats, recorded)
    s3 = not foreground
    stats["wall_s"] = round(_time.perf_counter() - t_start, 3)
    import xarray as xr
    from oile_q.results import make_dataset

    extras = _extras(obs, rec_times, pairs, s3=s3)
    if sched.kind == "explicit":
        extras["schedule_pairs"] = xr.DataArray(sched.pairs[:nsteps], dims=("step", "slot", "end"))
    P = mass_to_flavor(obs.P, scenario.theta)
    ds = make_dataset(scenario, P, rec_times, engine=engine, schedule_attrs=sched.attrs(),
                      options=recorded, extras=extras)
    ds.attrs["engine_stats"] = json.dumps(stats, sort_keys=True)
    return ds


def _dispatch(engine, foreground, scenario, sched, record_steps, rec_times, options, mixed,
              max_branches, limit, pairs, stats, recorded):
    if engine == "exact":
        return _run_exact(scenario, rec_times, options, mixed, max_branches, limit, pairs, stats,
                          recorded)
    if foreground:
        return _run_foreground(scenario, sched, record_steps, options, recorded)
    return _run_closed(scenario, sched, record_steps, options, mixed, max_branches, limit, pairs,
                       recorded)


def _run_exact(scenario, times, options, mixed, max_branches, limit, pairs, stats, recorded):
    n = scenario.n
    method = options.get("method", "chebyshev")
    if method not in ("chebyshev", "expm"):
        raise InputError(f"`method` must be 'chebyshev' or 'expm'; got {describe(method)}.")
    basis = options.get("basis", "sectors")
    if basis not in ("sectors", "full"):
        raise InputError(f"`basis` must be 'sectors' or 'full'; got {describe(basis)}.")
    builder = options.get("builder", "fast")
    if builder not in ("fast", "quspin"):
        raise InputError(f"`builder` must be 'fast' or 'quspin'; got {describe(builder)}.")
    if method == "chebyshev" and ("basis" in options or "builder" in options):
        raise InputError("`basis` and `builder` apply to method 'expm' only.")
    tol = options.get("tol")
    if tol is not None:
        tol = check_real("tol", tol, positive=True)
    energy = options.get("energy", True)
    if not isinstance(energy, bool):
        raise InputTypeError(f"`energy` must be True or False; got {describe(energy)}.")
    recorded.setdefault("method", method)
    max_out = check_memory(n, "exact", method=method, basis=basis, builder=builder, limit=limit)
    branches = product_branches(scenario.P0_mass, mixed=mixed, max_branches=max_branches)

    model = Model(scenario)
    diag = model.diagonal()
    scratch = np.empty(1 << n, dtype=complex) if energy else None

    def energy_fn(v):
        _kernels.hmatvec(v, scratch, diag, model.flip_bits, n)
        return _kernels.vdot(v, scratch).real

    obs = _Observer(n, len(times), pairs, energy_fn if energy else None)
    psis = [(w, _kernels.product_state(up, down)) for w, up, down in branches]
    stats["branches"] = len(psis)
    if method == "chebyshev":
        allowed = np.zeros(n + 1, dtype=bool)
        for _, v in psis:
            allowed |= _kernels.sector_weights(v, n) > 0
        t0 = _time.perf_counter()
        bounds = spectral_bounds(model, diag, allowed)
        stats["bounds_s"] = round(_time.perf_counter() - t0, 3)
        stats["sectors"] = int(allowed.sum())
    for w, psi in psis:
        obs.weight = w
        if method == "chebyshev":
            chebyshev_evolve(model, diag, psi, times, obs, tol=1e-12 if tol is None else tol,
                             bounds=bounds, max_outputs=max_out, stats=stats)
        else:
            expm_evolve(model, psi, times, obs, basis=basis, builder=builder, tol=tol, stats=stats)
    return obs


def _run_closed(scenario, sched, record_steps, options, mixed, max_branches, limit, pairs, recorded):
    n = scenario.n
    propagator = options.get("propagator", "exact")
    if propagator not in _MODES:
        raise InputError(f"`propagator` must be one of {list(_MODES)}; got {describe(propagator)}.")
    recorded.setdefault("propagator", propagator)
    check_memory(n, "closed", limit=limit)
    branches = product_branches(scenario.P0_mass, mixed=mixed, max_branches=max_branches)
    mu = scenario.mu
    tau_mu = scenario.gamma * sched.step_fraction
    wt = np.asarray(scenario.omega, float) / mu * tau_mu
    V = np.asarray(scenario.velocity, float)
    g = 1.0 - V @ V.T
    blocks = np.ascontiguousarray(
        pair_blocks(wt[:, None], wt[None, :], scenario.gamma * g, propagator), dtype=complex)
    free_half = np.ascontiguousarray(0.5 * wt)
    bits = np.ascontiguousarray(n - 1 - np.arange(n), dtype=np.int64)
    nsteps = int(record_steps[-1])
    record = np.zeros(nsteps + 1, dtype=np.bool_)
    record[record_steps] = True
    obs = _Observer(n, len(record_steps), pairs)
    chunk = max(1, 200_000 // max(1, n // 2))
    for w, up, down in branches:
        obs.weight = w
        v = _kernels.product_state(up, down)
        j = 0
        if record[0]:
            obs(0, v)
            j = 1
        s = 0
        while s < nsteps:
            count = min(chunk, nsteps - s)
            pr = np.ascontiguousarray(sched.chunk(s, count), dtype=np.int64)
            i = 0
            while i < count:
                done = _kernels.closed_steps(v, bits, blocks, pr[i:], free_half,
                                             record[s + i + 1:s + count + 1], 0)
                i += done
                if record[s + i]:
                    obs(j, v)
                    j += 1
            s += count
    return obs


def _run_foreground(scenario, sched, record_steps, options, recorded):
    propagator = options.get("propagator", "exact")
    if propagator not in _MODES:
        raise InputError(f"`propagator` must be one of {list(_MODES)}; got {describe(propagator)}.")
    recorded.setdefault("propagator", propagator)
    theta = scenario.theta
    tau_mu = scenario.gamma * sched.step_fraction
    wt = float(scenario.omega[0] / scenario.mu * tau_mu)
    phi = scenario.gamma * (1.0 - scenario.background["vdotu"])
    U = _block_matrix(pair_blocks(wt, wt, phi, propagator))
    from oile_q.conventions import bloch_to_rho

    rho = bloch_to_rho(flavor_to_mass(scenario.P0[0], theta)).astype(complex)
    rhoQ = bloch_to_rho(flavor_to_mass(scenario.background["Q"], theta)).astype(complex)
    free = np.array([np.exp(0.5j * wt), np.exp(-0.5j * wt)])
    nsteps = int(record_steps[-1])
    record = np.zeros(nsteps + 1, dtype=np.bool_)
    record[record_steps] = True
    out = np.empty((len(record_steps), 1, 3))
    pos = 0
    if record[0]:
        out[0, 0] = _kernels.rho_bloch(rho)
        pos = 1
    p = 1.0 if sched.p is None else float(sched.p)
    seed = 0 if sched.seed is None else int(sched.seed)
    pos = _kernels.foreground_steps(rho, rhoQ, U, free, seed, nsteps, p, record[1:], out, pos)
    assert pos == len(record_steps)
    obs = _Observer(1, len(record_steps), [])
    obs.P = out
    obs.norm[:] = 1.0
    return obs
