"""The ``MisciEngine`` class: the ``misci`` engine's options, its checks and cost estimate, and the
run glue (start, flow, output). The work is done in the sibling modules: ``start`` (up to the
switch), ``flow`` (the slow flow in tau), ``output`` (P, the group extras, the attributes).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ...engine import Cost, Engine, GroupObservables, Option, Output
from ...errors import InputError, describe
from ...scenario import Scenario
from .._ode import ODE_OPTIONS
from .flow import FlowState, integrate_flow
from .output import assemble, run_attrs
from .start import AUTO_ABOVE, AUTO_POINTS, quadrature_points, run_start

__all__ = ["MisciEngine"]

# The rough cost model of ``estimate`` (calibrated with ``benchmarks/bench_misci.py cost``): the start
# takes ~10 master-equation right-hand sides per mu t, each at a cost per particle; the flow takes
# ~500 evaluations, each at a fixed cost (Newton, solve_ivp) plus a cost per particle.
_START_RHS_PER_MU_T = 10.0
_START_S_PER_PARTICLE_RHS = 0.5e-6
_FLOW_EVALS = 500
_FLOW_S_PER_EVAL = 1e-3
_FLOW_S_PER_PARTICLE = 2e-7


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
    """The ``misci`` engine (miscidynamics): the master equation through the transient, then the
    slow flow along quasi-steady states in tau = gamma mu t, at a cost independent of gamma.

    Used through ``oile_q.run(scenario, "misci", ...)``; the constructor takes no parameters.
    The options (``oile-q engines`` lists them) choose the encounter weights, how the start
    switches to the flow (automatic criterion, ``switch_time``, a ``start`` Dataset,
    ``start_sample`` or ``quadrature``) and the integrator's tolerances. Ensembles with at least two
    distinct vacuum frequencies; every-step or Poisson schedules (not explicit schedule arrays).

    Examples
    --------
    >>> import numpy as np, oile_q
    >>> sc = oile_q.Scenario.from_groups([dict(name="nu_e", count=12, flavor="e", omega=0.1),
    ...                                   dict(name="nu_x", count=8, flavor="x", omega=0.2)],
    ...                                  gamma=1e-3, theta=1e-3, seed=1)
    >>> ds = oile_q.run(sc, "misci", times=np.linspace(0, 1e4, 11))       # to tau = 10
    >>> ds.attrs["misci_start"].startswith("automatic"), ds.group_P3.dims
    (True, ('time', 'group'))
    """

    name = "misci"
    summary = (
        "miscidynamics: master equation through the transient, then the slow path along "
        "quasi-steady states in tau = gamma mu t (cost independent of gamma)"
    )
    grid = "continuous"
    supports = frozenset({"ensemble", "poisson"})
    # P is no per-particle Bloch vector: before the switch the master equation's (without the
    # schedule spread X_a), after it c_a h_a turned by an approximate phase (without the dephased
    # parts). The group observables that are phase-invariant are the engine's own extras.
    group_observables = GroupObservables(
        {"abs_mean": "group_abs_mean", "mean_abs": "group_mean_abs"},
        "P is phase-approximate and lacks the dephased parts and the schedule spread",
    )
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
            f"more particles than points run as they are. Default: {AUTO_POINTS} points when the gas has more "
            f"than {AUTO_ABOVE} particles (weights 'g', no `start`/`start_sample`); 0: never",
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
        start (master equation to the QSS criterion, mu t ~ 160) and the flow.

        Returns
        -------
        tuple
            (Scenario, ``run`` keywords).
        """
        sc = Scenario.from_groups(
            [dict(name="nu_e", count=12, flavor="e", omega=0.1), dict(name="nu_x", count=8, flavor="x", omega=0.2)],
            gamma=1e-2,
            theta=1e-3,
            seed=1,
        )
        return sc, {"times": np.linspace(0.0, 300.0, 31), "seed": 3}

    # ------------------------------------------------------------------ checks
    def check(self, request):
        """Refuse, before any work, what misci cannot run: one vacuum frequency, explicit schedule
        arrays, a switch time after the run's end, a ``start`` Dataset of another scenario, clashing
        start options.

        Raises
        ------
        InputError
            One line naming the offending parameter.
        """
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
        """The rough cost: the master-equation start to mu t ~ 450 (or the switch time) on the particles
        it runs on, plus ~500 flow evaluations on all of them; no 1/gamma anywhere.

        Returns
        -------
        Cost
            Seconds, memory of the result and what dominates.
        """
        sc, opts = request.scenario, request.options
        t_start = opts["switch_time"] if opts["switch_time"] is not None else 450.0
        if opts["start"] is not None:
            t_start = 0.0
        n_start = sc.n if opts["start_sample"] is None else min(sc.n, opts["start_sample"])
        points = quadrature_points(request)
        if points:
            _, counts = np.unique(np.concatenate([sc.omega[:, None], sc.P0], 1), axis=0, return_counts=True)
            n_start = int(np.minimum(counts, points).sum())
        start_s = _START_RHS_PER_MU_T * t_start * n_start * _START_S_PER_PARTICLE_RHS
        flow_s = _FLOW_EVALS * (_FLOW_S_PER_EVAL + sc.n * _FLOW_S_PER_PARTICLE)
        return Cost(
            seconds=start_s + flow_s,
            memory_bytes=24.0 * sc.n * len(request.times),
            what=f"master equation to mu t ~ {t_start:g} on {n_start} particles, then ~500 flow evaluations "
            f"on {sc.n} (independent of gamma)",
            hint="`quadrature` (automatic above N = 2000) keeps the start's cost flat in N",
        )

    # ------------------------------------------------------------------ run
    def run(self, request):
        """Run the start up to the switch, then the flow to the last requested time.

        Returns
        -------
        Output
            P at every requested time, the group extras, the counters and the ``misci_*`` attributes.
        """
        sc, opts = request.scenario, request.options
        times = np.asarray(request.times, dtype=float)
        stats = {}
        wall0 = time.perf_counter()
        s = 1.0 if request.schedule.p is None else float(request.schedule.p)
        start = run_start(request, stats)
        stats["start_wall_s"] = round(time.perf_counter() - wall0, 4)
        wall1 = time.perf_counter()
        state = FlowState.make(sc, start.fit, weights=opts["weights"], s=s, include_source=opts["include_source"])
        taus = sc.gamma * times[times > start.T0 + 1e-12]
        path = integrate_flow(state, start.fit, sc.gamma * start.T0, taus, opts, stats)
        stats["flow_wall_s"] = round(time.perf_counter() - wall1, 4)
        P, extras = assemble(sc, times, start, state, path)
        return Output(P=P, extras=extras, stats=stats, attrs=run_attrs(sc, opts, start, s, stats))
