r"""The ``misci`` engine: miscidynamics -- the slow path along quasi-steady states (QSS), at a cost
independent of gamma (DESIGN.md section 7; paper II, arXiv:2508.14331).

Two stages:

1. **Start.** The first few hundred 1/mu (flavor pendulum, kinematic decoherence) are no QSS.
   The master equation (``master`` engine; cost fixed in mu t) runs until a window of
   ``window`` mu t has a steady |M_perp| (relative scatter about a straight line, and the
   mismatch between the measured and the self-consistent mode, both <= ``qss_tol``; after
   ``switch_by`` a scatter up to ``scatter_max`` is accepted, since at small gamma a finite gas
   keeps a residual collective oscillation that only decoherence, at tau ~ 1, damps); then
   ``oile_q.qss.qss_from_dataset`` measures Omega, the signed lengths c_a and the dephased
   parts q_a^2 there. Or the user gives the switch time (``switch_time``) or a result to start
   from (``start``). The attributes say which and when.

   The master equation has no S_a: the random choice of partners spreads each particle's vector
   over schedules, E|P_a|^2 = |P_a^master|^2 + X_a, and the start integrates that spread along
   the master equation's path (``_misci_kernels.spread_source``), dX_a/dtau = r_a X_a + S_a with
   the flow's source and dephasing rate taken about u_a = P_a/|P_a| instead of h_a. X_a enters
   <|P|>_g before the switch and q_a^2 at it (without it misci's <|P|>_g for tau in [1, 3] missed
   the map's seed mean by 3e-2 at gamma = 3e-3 and 1e-3; with it, by 2e-3 and 6e-3).
2. **Slow flow** in tau = gamma mu t (mass basis, B = (0, 0, 1), units of mu), with the axes
   h_a = h(omega_a; Omega, m) re-solved from Q1-Q2 at fixed M3 at every evaluation:

   .. math::

       \frac{dc_a}{d\tau} &= -\left(\langle g_{ab}^2\rangle_b c_a - h_a\cdot\langle g_{ab}^2 P_b\rangle_b\right)
                            + \frac{s}{2} c_a |M_a \times h_a|^2, \\
       \frac{dq_a^2}{d\tau} &= \left[-2\langle g_{ab}^2\rangle_b + s\left(|M_a|^2
                               - \tfrac12 |M_a\times h_a|^2\right)\right] q_a^2 + S_a, \\
       S_a &= \langle g_{ab}^2 |P_b \times P_a|^2\rangle_b - s |M_a \times P_a|^2 ,

   with P_b = c_b h_b, M_a = <g_ab P_b>_b and, in S_a, the phase average over the dephased
   parts: E[P_a P_a^T] = c_a^2 h_a h_a^T + (q_a^2/2)(1 - h_a h_a^T), |P_a|^2 = c_a^2 + q_a^2.
   ``weights="isotropic"`` is paper I Eq. (17): <g^2> -> 4/3, M_a -> <P> = (m, 0, M3).
   The precession phase is integrated alongside: d(gamma phi)/dtau = Omega / mu.

**Poisson timing** (schedule "poisson", probability p per step of mu t = p gamma): the
decoherence term is unchanged and the O(gamma) bracket of the master equation enters with
weight s = p (see ``oile_q.engines.master``), so the terms marked ``s`` above take s = p. The
source follows from the exact encounter map: a particle meets a partner with probability p in
a step of d tau = p gamma^2, and E d|P_a|^2 per meeting is
gamma^2 g^2 [-2(|P_a|^2 - P_a.P_b) + |P_a x P_b|^2], while the master equation's rate carries
s |M_a x P_a|^2; the difference per unit tau is S_a with s = p. Every-step schedules
(matching, round-robin) take s = 1; explicit schedule arrays are refused (the flow is the
schedule average of random encounters, not a replay).

**Cost.** The axes depend on omega only, so Q1-Q2 need one weighted sum of c per distinct
frequency (K of them), and every partner sum is a velocity-moment sum over 2K + 2 scalar fields
per particle (``flow_terms``: <g^2 P_b> = sum_k h_k <g^2 c_b [b in k]>, and likewise M_a and
<g^2 E[P_b P_b^T]> for S_a), computed in one compiled O(N) pass (``_misci_kernels``). Nothing
depends on 1/gamma: the flow takes the same steps in tau for every gamma. The start runs a stretch of
mu t that saturates as gamma -> 0 (the transient ends when decoherence or, at small gamma, the
gas's own anisotropic instability breaks the flavor pendulum; the instability grows from the
O(N^-1/2) anisotropy of the sampled velocities, so at N = 10^4 it takes ~1800/mu against a few
hundred 1/mu at N = 100). Above N = 2000 it therefore runs by default on a velocity quadrature
(``velocity_quadrature``, ``_QuadratureRunner``): per class of particles sharing (omega, initial
state), 512 weighted directions whose velocity moments equal the class's own to degree 12. To
linear order in the anisotropy every P_a is a degree-2 polynomial in v_a whose partner sums need
moments to degree 4, so the quadrature's transient is the gas's own; at N = 10^4 its path differs
from the full start's by 2e-10 to 3.3e-4 in the group means (gamma 1e-2 to 1e-5; ``bench_misci.py
cost``) at a start cost that no longer grows with N.
``start_sample`` (a stratified sample, whose own velocities seed a different transient: 1-4e-2
off) remains as a cruder option.

**Output.** ``P`` (time, particle, component), flavor basis: before the switch, the start's
own vectors (from a ``start`` Dataset: its vectors at the nearest time within half a step of
gamma, NaN where it has none; with ``start_sample``, NaN for particles outside the sample);
on a quadrature, each particle's nearest point's vector corrected so that the class sums over
1, v and v v^T are the quadrature's; after it, c_a h_a turned about B by the integrated phase --
*phase-approximate* (its error
grows like (1/gamma) int dOmega dtau) and without the dephased parts (which average out of
every group mean). The phase-invariant observables are extras per group (dimension ``group``,
labels in coordinate ``group_name``; before the switch over the start's particles): mass-basis
P_3 and |P_perp| of the group mean, |<P>| and <|P|> (the latter with q_a:
<sqrt(c_a^2 + q_a^2)>), the signed <c_a> (``group_c``), plus ``Omega`` and ``qss_m`` (NaN
before the switch). Attributes: ``misci_start`` ("automatic", "automatic-relaxed",
"switch_time" or "dataset"), ``misci_switch_time`` (mu t), ``misci_tau0``, ``misci_qss`` (the
measured QSS and its quality figures, JSON), ``misci_criterion``, ``phase_approximate``,
``misci_start_quadrature`` (when the start ran on one).

Example
-------
>>> import numpy as np, oile_q
>>> sc = oile_q.Scenario.from_groups([dict(name="nu_e", count=12, flavor="e", omega=0.1),
...                                   dict(name="nu_x", count=8, flavor="x", omega=0.2)],
...                                  gamma=1e-3, theta=1e-3, seed=1)
>>> ds = oile_q.run(sc, "misci", times=np.linspace(0, 1e4, 11))       # to tau = 10
>>> ds.attrs["misci_start"].startswith("automatic"), ds.group_P3.dims
(True, ('time', 'group'))
"""

from __future__ import annotations

import dataclasses
import json
import time as _time

import numpy as np

from ..conventions import flavor_to_mass, mass_to_flavor
from ..engine import Cost, Engine, Option, Output
from ..errors import InputError, describe
from ..moments import Moments
from ..qss import NoQSSError, detrended_scatter, qss_from_samples, solve_reduced
from ._ode import ODE_OPTIONS

__all__ = ["MisciEngine", "FlowState", "flow_rhs", "flow_terms"]

_START_RECORD = 0.5  # mu t between the start's samples in the QSS window
_CHECK_EVERY = 5.0  # mu t between checks of the automatic criterion
_AUTO_POINTS = 512  # quadrature points per class by default (velocity moments matched to degree 12)
_AUTO_ABOVE = 2000  # ... for gases of more particles than this


def _check_start(value):
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover
        raise InputError("`start` needs xarray.") from None
    if not isinstance(value, xr.Dataset) or "P" not in value or "time" not in value.coords:
        raise InputError(
            f"`start` must be a result (xarray.Dataset with P and time) of this scenario; got {describe(value)}."
        )
    return value


def _ode_option(opt, default):
    return dataclasses.replace(opt, default=default)


class MisciEngine(Engine):
    name = "misci"
    summary = (
        "miscidynamics: master equation through the transient, then the slow path along "
        "quasi-steady states in tau = gamma mu t (cost independent of gamma)"
    )
    grid = "continuous"
    supports = frozenset({"ensemble", "poisson"})
    options = (
        Option(
            "weights",
            "encounter weights of the flow: 'g' (g_ab = 1 - v_a.v_b, velocity moments) or "
            "'isotropic' (paper I Eq. 17: <g^2> = 4/3, M = <P>); the start uses the same",
            default="g",
            kind="choice",
            choices=("g", "isotropic"),
        ),
        Option(
            "switch_time",
            "mu t of the switch from the master equation to the flow (default: the first time the QSS criterion holds)",
            default=None,
            kind="float",
            low=0.0,
        ),
        Option(
            "start",
            "a result (xarray.Dataset) of this scenario: the QSS is measured in the window "
            "ending at its last time, and the flow starts there",
            default=None,
            kind="any",
            check=_check_start,
            record=False,
            cli=False,
        ),
        Option(
            "window", "length in mu t of the window the QSS is measured in", default=50.0, kind="float", positive=True
        ),
        Option(
            "qss_tol",
            "QSS criterion: detrended relative scatter of |M_perp| and relative mismatch of "
            "the measured mode must both be <= this",
            default=0.01,
            kind="float",
            positive=True,
        ),
        Option(
            "switch_by",
            "after this mu t the automatic criterion accepts a self-consistent mode whose "
            "|M_perp| still oscillates by up to `scatter_max` (small gamma: a finite gas keeps a residual "
            "collective oscillation until decoherence damps it)",
            default=600.0,
            kind="float",
            positive=True,
        ),
        Option(
            "scatter_max",
            "the relaxed criterion's bound on the scatter of |M_perp|",
            default=0.1,
            kind="float",
            positive=True,
        ),
        Option(
            "switch_max",
            "give up the automatic search for a QSS at this mu t",
            default=3000.0,
            kind="float",
            positive=True,
        ),
        Option(
            "start_sample",
            "run the start on this many particles (a sample stratified by group, evenly "
            "spread through each group) and give every particle its group's mean c and q^2 at the switch: "
            "the start's cost no longer grows with N, but it is an approximation (the smaller gas's "
            "transient ends in a slightly different QSS: at N = 10^4 a 400-particle start moved the group "
            "means by 0.8-2e-2 for tau in [3, 10]); P before the switch then holds the sample only",
            default=None,
            kind="int",
            low=4,
        ),
        Option(
            "quadrature",
            "run the start on a velocity quadrature of this many points per class of particles "
            "sharing (omega, initial state): weighted points whose velocity moments equal the class's own up to a "
            "degree set by the number of points, so the start follows the gas's own anisotropic transient (exact "
            "to linear order in the anisotropy) at a cost that does not grow with N; the QSS is then carried to "
            "every particle from its nearest point, corrected so that the partner sums are kept. Classes with no "
            f"more particles than points run as they are. Default: {_AUTO_POINTS} points when the gas has more "
            f"than {_AUTO_ABOVE} particles (weights 'g', no `start`/`start_sample`); 0: never",
            default=None,
            kind="int",
            low=0,
        ),
        Option(
            "include_source",
            "include S_a, the purity source from the random choice of partners, in the "
            "flow and, as the schedule spread X_a, in the start (affects <|P|> only)",
            default=True,
            kind="bool",
        ),
        _ode_option(ODE_OPTIONS[0], "DOP853"),
        _ode_option(ODE_OPTIONS[1], 1e-9),
        _ode_option(ODE_OPTIONS[2], 1e-11),
    )

    def example(self):
        """Paper I's two-group gas at N = 20 (gamma = 1e-2, theta = 1e-3) to tau = 3: the automatic
        start (master equation to the QSS criterion, mu t ~ 160) and the flow; ~0.3 s."""
        from ..scenario import Scenario

        sc = Scenario.from_groups(
            [dict(name="nu_e", count=12, flavor="e", omega=0.1), dict(name="nu_x", count=8, flavor="x", omega=0.2)],
            gamma=1e-2,
            theta=1e-3,
            seed=1,
        )
        return sc, {"times": np.linspace(0.0, 300.0, 31), "seed": 3}

    # ------------------------------------------------------------------ checks
    def check(self, request):
        sc, opts = request.scenario, request.options
        if np.unique(sc.omega).size < 2:
            raise InputError(
                f"`scenario` has one vacuum frequency (omega = {sc.omega[0]:g}): misci needs at least two "
                "distinct frequencies; with one, a QSS is a rigid precession at Omega = -omega and there is "
                "no miscidynamic path to follow (use 'master')."
            )
        if request.schedule.kind == "explicit":
            raise InputError(
                "`schedule` arrays are not supported by engine 'misci': it follows the schedule-averaged flow of "
                "random encounters ('matching', 'round-robin' or 'poisson' with p), not a replayed schedule."
            )
        t_end = float(request.times[-1])
        T0 = opts["switch_time"]
        if T0 is not None and opts["start"] is not None:
            raise InputError("give only one of `switch_time` or `start`; got both.")
        if T0 is not None and T0 >= t_end:
            raise InputError(f"`switch_time` must be before the run's end at mu t = {t_end:g}; got {T0:g}.")
        ds = opts["start"]
        if ds is not None:
            self._check_start_matches(ds, sc, t_end)
        K = opts["quadrature"]
        if K is not None and 0 < K < 16:
            raise InputError(f"`quadrature` must be 0 (off) or at least 16 points per class; got {K}.")
        if K:
            if ds is not None or opts["start_sample"] is not None:
                raise InputError("give only one of `quadrature`, `start_sample` or `start`.")
            if opts["weights"] != "g":
                raise InputError(
                    "`quadrature` needs weights 'g' (with isotropic weights the start does not depend "
                    f"on velocities); got weights {opts['weights']!r}."
                )

    @staticmethod
    def _check_start_matches(ds, sc, t_end):
        n = ds.sizes.get("particle")
        if n != sc.n:
            raise InputError(f"`start` holds {n} particles; the scenario has {sc.n}.")
        if "omega" in ds.coords and not np.allclose(np.asarray(ds["omega"], dtype=float), sc.omega):
            raise InputError("`start` has other vacuum frequencies than the scenario (coordinate omega).")
        theta = float(ds.attrs.get("theta", sc.theta))
        if abs(theta - sc.theta) > 1e-15:
            raise InputError(f"`start` has theta = {theta:g}; the scenario has {sc.theta:g}.")
        t_last = float(ds["time"].values[-1])
        if t_last >= t_end:
            raise InputError(f"`start` ends at mu t = {t_last:g}, not before the run's end at mu t = {t_end:g}.")

    def estimate(self, request):
        """Master-equation start (~10 right-hand sides per mu t, ~0.5 us per particle each, to mu t
        ~ 300-600) plus ~500 flow evaluations (~0.2 us per particle each); no 1/gamma anywhere."""
        sc, opts = request.scenario, request.options
        t_start = opts["switch_time"] if opts["switch_time"] is not None else 450.0
        if opts["start"] is not None:
            t_start = 0.0
        n_start = sc.n if opts["start_sample"] is None else min(sc.n, opts["start_sample"])
        points = _quadrature_points(request)
        if points:
            _, counts = np.unique(np.concatenate([sc.omega[:, None], sc.P0], 1), axis=0, return_counts=True)
            n_start = int(np.minimum(counts, points).sum())
        start_s = 10.0 * t_start * n_start * 0.5e-6
        flow_s = 500 * (1e-3 + sc.n * 2e-7)
        return Cost(
            seconds=start_s + flow_s,
            memory_bytes=24.0 * sc.n * len(request.times),
            what=f"master equation to mu t ~ {t_start:g} on {n_start} particles, then ~500 flow evaluations "
            f"on {sc.n} (independent of gamma)",
            hint="`quadrature` (automatic above N = 2000) keeps the start's cost flat in N",
        )

    # ------------------------------------------------------------------ run
    def run(self, request):
        sc, opts = request.scenario, request.options
        times = np.asarray(request.times, dtype=float)
        stats = {}
        wall0 = _time.perf_counter()
        s = 1.0 if request.schedule.p is None else float(request.schedule.p)
        sample = None
        if opts["start_sample"] is not None and opts["start"] is None and opts["start_sample"] < sc.n:
            sample = _stratified_sample(sc.group, opts["start_sample"])
            sub = dataclasses.replace(request, scenario=_subscenario(sc, sample))
            start, P_sub, X_sub = self._start(sub, stats)
            start["fit"] = _spread_fit(start["fit"], sc, sample)
            P_before = np.full((len(P_sub), sc.n, 3), np.nan)
            P_before[:, sample] = P_sub
            X_before = np.full((len(P_sub), sc.n), np.nan)
            X_before[:, sample] = X_sub
        else:
            start, P_before, X_before = self._start(request, stats)
        fit, T0, mode = start["fit"], start["T0"], start["mode"]
        stats["start_wall_s"] = round(_time.perf_counter() - wall0, 4)

        # the flow
        wall1 = _time.perf_counter()
        after = times > T0 + 1e-12
        n = sc.n
        state = FlowState.make(sc, fit, weights=opts["weights"], s=s, include_source=opts["include_source"])
        out_c, out_q2, out_psi, qss_t = _integrate_flow(state, fit, sc.gamma * T0, sc.gamma * times[after], opts, stats)
        stats["flow_wall_s"] = round(_time.perf_counter() - wall1, 4)

        # assemble: P (flavor basis), group observables, Omega and m
        P = np.full((len(times), n, 3), np.nan)
        before = ~after
        if before.any():
            P[before] = P_before
        Omega = np.full(len(times), np.nan)
        mm = np.full(len(times), np.nan)
        labels = np.unique(sc.group)
        gidx = np.searchsorted(labels, sc.group)
        counts = np.bincount(gidx, minlength=len(labels)).astype(float)
        G = np.full((4, len(times), len(labels)), np.nan)
        Gc = np.full((len(times), len(labels)), np.nan)
        if before.any():
            keep = np.arange(n) if sample is None else sample
            Pm = flavor_to_mass(P_before[:, keep], sc.theta)
            G[:, before] = _group_observables(
                Pm,
                np.sqrt((Pm**2).sum(-1) + X_before[:, keep]),
                gidx[keep],
                np.bincount(gidx[keep], minlength=len(labels)).astype(float),
            )
        if after.any():
            phase = fit.phase + out_psi / sc.gamma
            H = np.stack([q.h for q in qss_t])[:, state.idx]  # (T, N, 3) axes, co-rotating frame
            Prot = out_c[..., None] * H
            cs, sn = np.cos(phase)[:, None], np.sin(phase)[:, None]
            Plab = np.stack(
                [cs * Prot[..., 0] - sn * Prot[..., 1], sn * Prot[..., 0] + cs * Prot[..., 1], Prot[..., 2]], -1
            )
            P[after] = mass_to_flavor(Plab, sc.theta)
            G[:, after] = _group_observables(Prot, np.sqrt(out_c**2 + out_q2), gidx, counts)
            Gc[after] = _group_sums(out_c, gidx, len(labels)) / counts
            Omega[after] = [q.Omega * sc.mu for q in qss_t]
            mm[after] = [q.m for q in qss_t]
        extras = _extras(G, Gc, Omega, mm, times, labels)
        attrs = {
            "misci_start": mode,
            "misci_switch_time": float(T0),
            "misci_tau0": float(sc.gamma * T0),
            "misci_qss": json.dumps(fit.summary(), sort_keys=True),
            "misci_weights": opts["weights"],
            "misci_s": s,
            "phase_approximate": (
                "P after misci_switch_time is c_a h_a turned about B by the integrated phase: "
                "phase-approximate (error ~ (1/gamma) int dOmega dtau) and without the dephased "
                "parts q_a; use the group_* extras and Omega for phase-invariant observables"
            ),
        }
        if sample is not None:
            attrs["misci_start_sample"] = int(len(sample))
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
        return Output(P=P, extras=extras, stats=stats, attrs=attrs)

    # ------------------------------------------------------------------ the start
    def _start(self, request, stats):
        """Returns ({fit, T0, mode}, P_before, X_before): the QSS fit, the switch time, how it was
        chosen, the start's Bloch vectors (flavor basis) at the requested times <= T0 and the schedule
        spread X_a there (zero from a ``start`` Dataset, whose own spread is in its vectors). From the
        master equation, q_a^2 at the switch includes the spread X_a."""
        sc, opts = request.scenario, request.options
        times = np.asarray(request.times, dtype=float)
        W, tol = opts["window"], opts["qss_tol"]
        if opts["start"] is not None:
            ds = opts["start"]
            T0 = float(ds["time"].values[-1])
            from ..results import mass_basis

            where = f"`start` (its last window, mu t {max(T0 - W, 0):g} to {T0:g})"
            fit = _measure(
                np.asarray(ds["time"], dtype=float), np.asarray(mass_basis(ds)), sc.omega, sc.mu, T0, W, where
            )
            _require_quality(fit, tol, where)
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
            return {"fit": fit, "T0": T0, "mode": "dataset"}, P_before, np.zeros(P_before.shape[:2])
        points = _quadrature_points(request)
        if points:
            runner = _QuadratureRunner(request, stats, points)
        else:
            runner = _MasterRunner(request, stats)
        if opts["switch_time"] is not None:
            T0 = float(opts["switch_time"])
            t, Pm = runner.advance(T0, times)
            where = f"`switch_time` = {T0:g} (window mu t {max(T0 - W, 0):g} to {T0:g})"
            fit = _measure(t, Pm, runner.omega, sc.mu, T0, W, where, runner.weights)
            _require_quality(fit, tol, where)
            return (
                {"fit": runner.to_gas(runner.with_spread(fit, T0)), "T0": T0, "mode": "switch_time"},
                *runner.P_at(times[times <= T0 + 1e-12], with_spread=True),
            )
        # automatic: advance in chunks, check windows every _CHECK_EVERY mu t; after `switch_by`
        # accept a window whose |M_perp| still oscillates (up to `scatter_max`) if the measured mode is
        # self-consistent: at small gamma nothing but decoherence (tau ~ 1) damps the residual
        # collective oscillation of a finite gas, so the strict criterion may never hold.
        t_end = float(times[-1])
        limit = min(opts["switch_max"], t_end)
        relax_at = opts["switch_by"]
        T = 0.0
        last_reason = ""
        while T < limit - 1e-9:
            T_next = min(T + W, limit)
            t, Pm = runner.advance(T_next, times)
            checks = np.arange(max(W, np.ceil(T / _CHECK_EVERY) * _CHECK_EVERY), T_next + 1e-9, _CHECK_EVERY)
            for Tc in checks:
                relaxed = Tc >= relax_at
                bound = max(tol, opts["scatter_max"]) if relaxed else tol
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
                    return (
                        {"fit": runner.to_gas(runner.with_spread(fit, Tc)), "T0": float(Tc), "mode": mode},
                        *runner.P_at(times[times <= Tc + 1e-12], with_spread=True),
                    )
                last_reason = f"mismatch {fit.mismatch:.3g} at mu t = {Tc:g}"
            T = T_next
        raise InputError(
            f"no QSS found by mu t = {limit:g} (`switch_max` {opts['switch_max']:g}, run end {t_end:g}): the QSS "
            f"criterion (`qss_tol` = {tol:g} over `window` = {W:g}) never held; last: {last_reason}."
        )


def _quadrature_points(request):
    """Points per class of the start's velocity quadrature (0: the particles themselves)."""
    sc, opts = request.scenario, request.options
    K = opts["quadrature"]
    if K is None:
        auto = sc.n > _AUTO_ABOVE and opts["weights"] == "g" and opts["start"] is None and opts["start_sample"] is None
        K = _AUTO_POINTS if auto else 0
    return int(K)


def _stratified_sample(group, size):
    """Indices of about ``size`` particles, each group represented in proportion (at least 2),
    evenly spread through the group; an even count (the start's matching schedule needs one)."""
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


def _subscenario(sc, idx):
    from ..scenario import Scenario

    return Scenario(
        sc.P0[idx],
        sc.omega[idx],
        sc.velocity[idx],
        gamma=sc.gamma,
        theta=sc.theta,
        mu=sc.mu,
        group=[str(g) for g in sc.group[idx]],
    )


def _spread_fit(fit, sc, idx):
    """The sample's QSS carried to every particle: each gets its group's (and frequency's) mean c and
    q^2 over the sample; (Omega, m) re-solved at the whole gas's conserved M3."""
    from ..qss import solve_qss

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


class _MasterRunner:
    """The master equation advanced in chunks through the public ``oile_q.run``. Keeps only what
    the start needs: the mass-basis samples of the last two windows (the QSS window and the
    criterion look no further back) and the Bloch vectors at the requested times, so its memory
    and per-chunk work do not grow with the length of the transient (at N = 10^4 the whole history
    of samples was half a gigabyte, converted to the mass basis again at every chunk)."""

    def __init__(self, request, stats):
        from ..scenario import Scenario

        self.sc = request.scenario
        self.stats = stats
        stats["master_rhs_evals"] = 0
        opts = request.options
        sched = request.schedule
        self.kw = dict(
            isotropic=opts["weights"] == "isotropic", method=opts["method"], rtol=opts["rtol"], atol=opts["atol"]
        )
        if sched.p is not None:
            self.kw.update(schedule="poisson", p=sched.p, seed=sched.seed)
        self.keep = 2.0 * opts["window"]
        self.Scenario = Scenario
        self.T = 0.0
        self.P = np.asarray(self.sc.P0, dtype=float)
        self.t_buf = np.array([0.0])
        self.Pm_buf = flavor_to_mass(self.P, self.sc.theta)[None]
        # the schedule spread X_a = E|delta P_a|^2 (``_misci_kernels.spread_source``): what the random
        # choice of partners adds to |P_a|^2 beyond the master equation, integrated along the start
        self.spread = bool(opts["include_source"])
        self.isotropic = opts["weights"] == "isotropic"
        self.s = 1.0 if sched.p is None else float(sched.p)
        self.V = np.ascontiguousarray(self.sc.velocity, dtype=float)
        n = self.sc.n
        self.g2 = np.full(n, 4.0 / 3.0) if self.isotropic else Moments(self.V).g2_sum / (n - 1)
        self.w = np.ones(n)
        self.X = np.zeros(n)
        self.X_buf = self.X[None].copy()
        self.kept = {0.0: (self.P.copy(), self.X.copy())}  # requested time -> (flavor-basis P, X)

    omega = property(lambda self: self.sc.omega)
    weights = None  # every particle stands for itself

    def _evolve(self, grid):
        """The master equation from the current state to the times ``grid`` (> self.T): (len(grid), N, 3)."""
        import oile_q

        sc = self.sc
        P0 = self.P / np.maximum(1.0, np.linalg.norm(self.P, axis=1))[:, None]
        chunk = self.Scenario(P0, sc.omega, sc.velocity, gamma=sc.gamma, theta=sc.theta, mu=sc.mu, group=list(sc.group))
        ds = oile_q.run(chunk, "master", times=np.concatenate([[0.0], grid - self.T]), **self.kw)
        self.stats["master_rhs_evals"] += json.loads(ds.attrs["engine_stats"]).get("rhs_evals", 0)
        return np.asarray(ds["P"])[1:]

    def to_gas(self, fit):
        """The fit for the scenario's particles (here: already)."""
        return fit

    def advance(self, T_to, want_times):
        """Run from the current time to T_to; returns (times, mass-basis P) of the samples of the
        last two windows."""
        if T_to > self.T + 1e-12:
            grid = np.arange(self.T, T_to + 1e-9, _START_RECORD)
            extra = want_times[(want_times > self.T) & (want_times <= T_to + 1e-12)]
            grid = np.unique(np.concatenate([grid, extra, [T_to]]))
            grid = grid[grid > self.T + 1e-12]
            sc = self.sc
            Pn = self._evolve(grid)
            Xn = self._integrate_spread(grid, Pn)
            for t in extra:
                j = int(np.argmin(np.abs(grid - t)))
                self.kept[float(t)] = (Pn[j].copy(), Xn[j].copy())
            keep = grid >= T_to - self.keep - 1e-9
            old = self.t_buf >= T_to - self.keep - 1e-9
            self.t_buf = np.concatenate([self.t_buf[old], grid[keep]])
            self.Pm_buf = np.concatenate([self.Pm_buf[old], flavor_to_mass(Pn[keep], sc.theta)])
            self.X_buf = np.concatenate([self.X_buf[old], Xn[keep]])
            self.T = float(grid[-1])
            self.P = Pn[-1]
        return self.t_buf, self.Pm_buf

    def _integrate_spread(self, grid, Pn):
        """X at every sample of ``grid`` (its last value carried in ``self.X``): exponential Euler
        on the samples (every ``_START_RECORD`` mu t, so gamma d(mu t) <= 5e-3 per step for gamma <= 1e-2).
        S_a and r_a are rotation invariants, so the flavor-basis P serves."""
        Xn = np.zeros((len(grid), len(self.X)))
        if not self.spread:
            return Xn
        from ._misci_kernels import spread_source

        t_prev, P_prev, X = self.T, self.P, self.X
        gamma = self.sc.gamma
        for i, t in enumerate(grid):
            S, r = spread_source(np.ascontiguousarray(P_prev), X, self.V, self.w, self.g2, self.s, self.isotropic)
            dtau = gamma * (t - t_prev)
            X = np.maximum(X * np.exp(r * dtau) + S * dtau, 0.0)
            Xn[i] = X
            t_prev, P_prev = t, Pn[i]
        self.X = X
        return Xn

    def with_spread(self, fit, T):
        """The fit with the spread X at the sample at mu t = T added to its dephased parts q_a^2."""
        j = int(np.argmin(np.abs(self.t_buf - T)))
        return dataclasses.replace(fit, q2=fit.q2 + self.X_buf[j])

    def P_at(self, times, with_spread=False):
        """Flavor-basis P of the start at requested times (each was a sample); with
        ``with_spread`` also X there."""
        out = np.empty((len(times), len(self.X), 3))
        X = np.empty((len(times), len(self.X)))
        keys = np.array(sorted(self.kept))
        for i, t in enumerate(times):
            j = int(np.argmin(np.abs(keys - t)))
            if abs(keys[j] - t) > 1e-9 * max(1.0, t):  # pragma: no cover - the grid holds every time
                raise RuntimeError(f"master start has no sample at mu t = {t}")
            out[i], X[i] = self.kept[float(keys[j])]
        return (out, X) if with_spread else out


def _monomials(V, degree):
    """Every monomial v_x^i v_y^j v_z^k with i + j + k <= degree, one row each: (n_monomials, len(V))."""
    pw = [np.cumprod(np.vstack([np.ones(len(V)), np.repeat(V[None, :, c], degree, 0)]), 0) for c in range(3)]
    return np.array(
        [
            pw[0][i] * pw[1][j] * pw[2][k]
            for i in range(degree + 1)
            for j in range(degree + 1 - i)
            for k in range(degree + 1 - i - j)
        ]
    )


def velocity_quadrature(velocity, points, *, seed=0):
    """A weighted quadrature of a set of unit velocities: ``points`` directions (a Fibonacci sphere
    turned by a fixed random rotation) with weights w_k >= 0, sum_k w_k = len(velocity) and
    sum_k w_k v_k^alpha = sum_b v_b^alpha for every monomial of degree <= L, L = floor(sqrt(points/3)) - 1
    (so the least-norm weight correction stays well conditioned). Returns (V, w, L).

    The start's anisotropic transient is seeded by the empirical velocity moments of the gas
    (O(N^-1/2) away from isotropy); to linear order in the anisotropy every particle's P is a
    degree-2 polynomial in its velocity and the partner sums need moments up to degree 4, so
    L >= 4 makes the quadrature's linear dynamics the gas's own."""
    V0 = np.asarray(velocity, dtype=float)
    L = max(int(np.floor(np.sqrt(points / 3.0))) - 1, 2)
    i = np.arange(points) + 0.5
    z = 1.0 - 2.0 * i / points
    phi = np.pi * (1.0 + 5.0**0.5) * i
    r = np.sqrt(1.0 - z * z)
    Q, R = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    Vq = np.stack([r * np.cos(phi), r * np.sin(phi), z], 1) @ (Q * np.sign(np.diag(R))).T
    A = _monomials(Vq, L)
    m = _monomials(V0, L).sum(1)
    w0 = np.full(points, len(V0) / points)
    w = w0 + np.linalg.lstsq(A, m - A @ w0, rcond=None)[0]
    if np.abs(A @ w - m).max() > 1e-9 * len(V0) or w.min() <= 0:
        raise InputError(
            f"`quadrature` = {points}: no positive weights match the velocity moments up to degree {L} "
            f"of a class of {len(V0)} particles (smallest weight {w.min() / w0[0]:.3g} of uniform); "
            "use more points."
        )
    return Vq, w, L


class _QuadratureRunner(_MasterRunner):
    """The start on a velocity quadrature (``velocity_quadrature``) of each class of particles that share
    (omega, initial state): the g-weighted master equation with weighted partner sums
    (``_misci_kernels.weighted_master_rhs``) and the weighted schedule spread, on ~``points`` particles
    per class whatever N. ``to_gas`` carries the QSS measured on it to the scenario's particles
    (``_to_gas``: nearest point plus a degree-2 correction that keeps the partner sums)."""

    def __init__(self, request, stats, points):
        super().__init__(request, stats)
        sc, opts = self.sc, request.options
        key = np.concatenate([sc.omega[:, None], sc.P0], 1)
        _, cls = np.unique(key, axis=0, return_inverse=True)
        self.gas_cls = cls.ravel()
        V, w, P0, om, qcls, degs = [], [], [], [], [], []
        self.real = {}
        self.nearest = {}
        for k in range(self.gas_cls.max() + 1):
            idx = np.flatnonzero(self.gas_cls == k)
            if len(idx) <= points:
                Vk, wk = sc.velocity[idx], np.ones(len(idx))
                self.real[k] = idx
            else:
                Vk, wk, L = velocity_quadrature(sc.velocity[idx], points)
                degs.append(L)
                self.nearest[k] = np.argmax(sc.velocity[idx] @ Vk.T, axis=1)
            V.append(Vk)
            w.append(wk)
            P0.append(np.repeat(sc.P0[idx[:1]], len(wk), 0))
            om.append(np.full(len(wk), sc.omega[idx[0]]))
            qcls.append(np.full(len(wk), k))
        self.V = np.ascontiguousarray(np.concatenate(V))
        self.w = np.concatenate(w)
        self.q_omega = np.concatenate(om)
        self.qcls = np.concatenate(qcls)
        self.inv = 1.0 / (sc.n - 1)
        g = 1.0 - self.V @ self.V.T
        self.g2 = (g * g) @ self.w * self.inv
        self.wB = np.ascontiguousarray((self.q_omega / sc.mu)[:, None] * sc.B[None, :])
        self.ode = dict(method=opts["method"], rtol=opts["rtol"], atol=opts["atol"])
        self.P = np.concatenate(P0)
        self.X = np.zeros(len(self.w))
        self.Pm_buf = flavor_to_mass(self.P, sc.theta)[None]
        self.X_buf = self.X[None].copy()
        self.kept = {0.0: (self.P.copy(), self.X.copy())}
        stats["quadrature_points"] = int(len(self.w))
        stats["quadrature_degree"] = int(min(degs)) if degs else None

    omega = property(lambda self: self.q_omega)
    weights = property(lambda self: self.w)

    def _evolve(self, grid):
        from scipy.integrate import solve_ivp

        from ._misci_kernels import weighted_master_rhs

        out = np.empty_like(self.P)
        gamma = self.sc.gamma

        def fun(_t, y):
            weighted_master_rhs(y.reshape(-1, 3), self.V, self.w, self.wB, self.g2, self.inv, gamma, self.s, out)
            return out.ravel().copy()

        sol = solve_ivp(fun, (self.T, float(grid[-1])), self.P.ravel(), t_eval=grid, **self.ode)
        if not sol.success:  # pragma: no cover - DOP853 on a smooth bounded system
            raise RuntimeError(f"misci quadrature start: ODE solver failed: {sol.message}")
        self.stats["master_rhs_evals"] += int(sol.nfev)
        return sol.y.T.reshape(len(grid), -1, 3)

    def _to_gas(self, values):
        """Quadrature values (K_total, m) carried to the scenario's particles (N, m): per class, each
        particle takes its nearest quadrature point's value, plus one polynomial of degree 2 in the
        velocity that makes the class's sums of the values times 1, v and v v^T (the only velocity
        moments the flow's partner sums use) equal the quadrature's weighted sums."""
        sc = self.sc
        out = np.empty((sc.n, values.shape[1]))
        for k in range(self.gas_cls.max() + 1):
            qi = self.qcls == k
            gi = self.gas_cls == k
            if k in self.real:
                out[self.real[k]] = values[qi]
                continue
            vq = values[qi]
            base = vq[self.nearest[k]]
            Bg = _monomials(sc.velocity[gi], 2)
            gap = _monomials(self.V[qi], 2) @ (self.w[qi][:, None] * vq) - Bg @ base
            coef = np.linalg.lstsq(Bg @ Bg.T, gap, rcond=None)[0]
            out[gi] = base + Bg.T @ coef
        return out

    def to_gas(self, fit):
        """The QSS for the scenario's particles: c and c^2 + q^2 carried over (``_to_gas``), (Omega, m)
        re-solved at the gas's conserved M3."""
        from ..qss import solve_qss

        sc = self.sc
        both = self._to_gas(np.stack([fit.c, fit.c**2 + fit.q2], 1))
        c = both[:, 0]
        q2 = np.clip(both[:, 1] - c**2, 0.0, None)
        M3 = float(flavor_to_mass(sc.P0, sc.theta)[:, 2].mean())
        q = solve_qss(c, sc.omega, M3=M3, mu=sc.mu, guess=(fit.qss.Omega, fit.qss.m))
        return dataclasses.replace(fit, qss=q, c=c, q2=q2)

    def P_at(self, times, with_spread=False):
        """The start at requested times for the scenario's particles: P and |P|^2 + X carried over
        (``_to_gas``: group means those of the quadrature; each vector its nearest point's, corrected)."""
        Pq, Xq = super().P_at(times, with_spread=True)
        P = np.empty((len(times), self.sc.n, 3))
        X = np.empty((len(times), self.sc.n))
        for i in range(len(times)):
            g = self._to_gas(np.concatenate([Pq[i], ((Pq[i] ** 2).sum(1) + Xq[i])[:, None]], 1))
            P[i] = g[:, :3]
            X[i] = np.clip(g[:, 3] - (g[:, :3] ** 2).sum(1), 0.0, None)
        return (P, X) if with_spread else P


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


# --------------------------------------------------------------------------- the flow


@dataclasses.dataclass
class FlowState:
    """What the flow's right-hand side needs: the distinct frequencies (units of mu) and each
    particle's index among them, the velocities, the weights, s, and the last QSS (Newton's guess)."""

    n: int
    levels: np.ndarray  # distinct omega / mu, sorted
    idx: np.ndarray  # particle -> level
    V: np.ndarray  # unit velocities (N, 3), C-contiguous
    M3: float
    weights: str
    s: float
    include_source: bool
    g2: np.ndarray  # <g_ab^2>_b per particle (4/3 for isotropic weights)
    qss: object = None
    first: object = None
    evals: int = 0
    newton: int = 0

    @classmethod
    def build(cls, velocity, omega, *, M3, weights="g", s=1.0, include_source=True, qss=None):
        """From per-particle velocities and frequencies (units of mu)."""
        levels, idx = np.unique(np.asarray(omega, dtype=float), return_inverse=True)
        idx = idx.astype(np.int64)
        V = np.ascontiguousarray(velocity, dtype=float)
        n = V.shape[0]
        if weights == "g":
            g2 = Moments(V).g2_sum / (n - 1)
        else:
            g2 = np.full(n, 4.0 / 3.0)
        return cls(
            n=n,
            levels=levels,
            idx=idx,
            V=V,
            M3=float(M3),
            weights=weights,
            s=float(s),
            include_source=bool(include_source),
            g2=g2,
            qss=qss,
            first=qss,
        )

    @classmethod
    def make(cls, sc, fit, *, weights, s, include_source):
        q = _unit_qss(fit.qss, sc.mu)
        return cls.build(
            sc.velocity, sc.omega / sc.mu, M3=fit.qss.M3, weights=weights, s=s, include_source=include_source, qss=q
        )

    def sums(self, F):
        """(<g_ab F_b>_b, <g_ab^2 F_b>_b), each (N, k); isotropic weights: (<F>, (4/3) <F>)."""
        if self.weights == "g":
            from ._misci_kernels import g_sums

            G1, G2 = g_sums(self.V, np.ascontiguousarray(F))
            inv = 1.0 / (self.n - 1)
            return G1 * inv, G2 * inv
        mean = F.mean(0)
        return np.broadcast_to(mean, F.shape), np.broadcast_to((4.0 / 3.0) * mean, F.shape)


def _unit_qss(q, mu):
    """The same QSS in units of mu (omega -> omega / mu)."""
    return dataclasses.replace(q, Omega=q.Omega / mu, omega=q.omega / mu, mu=1.0)


def flow_terms(state: FlowState, c, q2, H):
    r"""(dc/dtau, dq^2/dtau, S, M) for axes ``H`` (K, 3) per distinct frequency (module docstring).

    Every partner sum is over per-level fields: <g^2 P_b> = sum_k h_k <g^2 c_b [b in k]>,
    M_a = sum_k h_k <g c_b [b in k]>, and for S_a, with Pi_b = E[P_b P_b^T],
    <g^2 Pi_b> = sum_k h_k h_k^T <g^2 (c_b^2 - q_b^2/2) [b in k]> + 1 <g^2 q_b^2 / 2>; so the
    sums need 2K + 2 scalar fields per particle, whatever N."""
    n, K, s = state.n, len(state.levels), state.s
    idx = state.idx
    rows = np.arange(n)
    h = H[idx]
    F = np.zeros((n, 2 * K + 2 if state.include_source else K))
    F[rows, idx] = c
    if state.include_source:
        F[rows, K + idx] = c * c - 0.5 * q2
        F[:, 2 * K] = c * c + q2
        F[:, 2 * K + 1] = 0.5 * q2
    A1, A2 = state.sums(F)
    M = A1[:, 0:1] * H[0]
    for k in range(1, K):
        M = M + A1[:, k : k + 1] * H[k]
    hdot = (H @ H.T)[idx]  # h_a . h_k, (N, K)
    hA = (hdot * A2[:, :K]).sum(1)  # h_a . <g^2 P_b>_b
    M2 = (M * M).sum(1)
    Mh = (M * h).sum(1)
    Mxh2 = M2 - Mh * Mh
    g2 = state.g2
    dc = -(g2 * c - hA) + 0.5 * s * c * Mxh2
    dq2 = (-2.0 * g2 + s * (M2 - 0.5 * Mxh2)) * q2
    S = None
    if state.include_source:
        a2 = c * c - 0.5 * q2
        n2 = c * c + q2
        pair = (
            n2 * A2[:, 2 * K]
            - (A2[:, K : 2 * K] * (a2[:, None] * hdot**2 + 0.5 * q2[:, None])).sum(1)
            - A2[:, 2 * K + 1] * n2
        )
        MPiM = a2 * Mh * Mh + 0.5 * q2 * M2
        S = pair - s * (M2 * n2 - MPiM)
        dq2 = dq2 + S
    return dc, dq2, S, M


def flow_rhs(state: FlowState, c, q2):
    """(dc/dtau, dq^2/dtau, Omega/mu, QSS): re-solve Q1-Q2 at fixed M3 from the last QSS, then the flow."""
    C = np.bincount(state.idx, weights=c, minlength=len(state.levels)) / state.n
    q = solve_reduced(state.levels, C, M3=state.M3, guess=state.qss)
    state.qss = q
    state.evals += 1
    state.newton += q.iterations
    from ._misci_kernels import flow_kernel

    dc, dq2, _, _ = flow_kernel(
        state.V, state.idx, c, q2, q.h, state.g2, state.s, state.include_source, state.weights == "isotropic"
    )
    return dc, dq2, q.Omega, q


def _integrate_flow(state, fit, tau0, taus, opts, stats):
    """Integrate (c, q^2, psi = gamma * phase) from tau0; per output tau: c, q2, psi and the QSS."""
    from scipy.integrate import solve_ivp

    n = state.n
    stats["flow_rhs_evals"] = 0
    if len(taus) == 0:
        return [], [], np.zeros(0), []

    def fun(tau, y):
        try:
            dc, dq2, Om, _ = flow_rhs(state, y[:n], y[n : 2 * n])
        except NoQSSError as err:
            raise NoQSSError(f"the QSS branch ends at tau = gamma mu t = {tau:.6g}: {err}") from err
        return np.concatenate([dc, dq2, [Om]])

    y0 = np.concatenate([fit.c, fit.q2, [0.0]])
    sol = solve_ivp(
        fun, (tau0, float(taus[-1])), y0, method=opts["method"], t_eval=taus, rtol=opts["rtol"], atol=opts["atol"]
    )
    if not sol.success:
        raise RuntimeError(f"misci flow: ODE solver failed: {sol.message}")
    stats["flow_rhs_evals"] = state.evals
    stats["newton_iterations"] = state.newton
    Y = sol.y.T
    guess = state.first
    out_q = []
    for c in Y[:, :n]:
        C = np.bincount(state.idx, weights=c, minlength=len(state.levels)) / n
        guess = solve_reduced(state.levels, C, M3=state.M3, guess=guess)
        out_q.append(guess)
    return Y[:, :n], Y[:, n : 2 * n], Y[:, 2 * n], out_q


def _group_sums(X, gidx, k):
    """Sums over the particles of each group: X (T, N) -> (T, k)."""
    onehot = np.zeros((X.shape[1], k))
    onehot[np.arange(X.shape[1]), gidx] = 1.0
    return X @ onehot


def _group_observables(Pm, norms, gidx, counts):
    """(4, T, G): mass-basis P_3 and |P_perp| of the group mean, |<P>|_g and <|P|>_g."""
    k = len(counts)
    mean = np.stack([_group_sums(Pm[..., i], gidx, k) for i in range(3)], -1) / counts[:, None]
    mabs = _group_sums(norms, gidx, k) / counts
    return np.stack([mean[..., 2], np.hypot(mean[..., 0], mean[..., 1]), np.linalg.norm(mean, axis=-1), mabs])


def _extras(G, Gc, Omega, m, times, labels):
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
