"""The one pipeline behind ``run(scenario, engine, ...)`` (docs/architecture.md, Data flow).

For every engine alike: check the scenario, look the engine up (``oile_q.engine``), validate
its options against its declaration, build the schedule, resolve the time grid, let the
engine check the request, run it, and assemble the shared Dataset with run statistics.
``prepare`` does everything up to the run (no work), so callers such as ``oile-q compare`` can
validate several engines before running any.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import time as _time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .engine import Progress, Request, get_engine
from .errors import InputError, InputTypeError, check_array, check_int, check_real, check_size, describe
from .results import load, make_dataset, scenario_of
from .scenario import Scenario
from .schedules import make_schedule

if TYPE_CHECKING:  # annotations only: xarray loads with the first result
    import xarray as xr

__all__ = ["run", "rerun", "prepare", "execute", "resolve_steps", "resolve_grid", "progress_default"]


@contextlib.contextmanager
def progress_default(progress):
    """Within the block, runs that do not say ``progress=`` use this setting (True: a bar on
    stderr for runs longer than 2 s)."""
    token = _PROGRESS_DEFAULT.set(progress)
    try:
        yield
    finally:
        _PROGRESS_DEFAULT.reset(token)


# The progress setting of runs that do not give one (``progress_default``): a study run from the
# command line shows the bars of its long runs without every study passing progress=True.
_PROGRESS_DEFAULT = contextvars.ContextVar("oile_q_progress_default", default=False)

DEFAULT_MAX_RECORDS = 1001
EVERY_STEP_LIMIT = 10_000
MAX_STEPS = 2**62  # step indices are int64


def resolve_steps(dt, *, steps=None, t_max=None, times=None):
    """Turn steps / t_max / times (mu t) into (nsteps, record_steps).

    dt is mu*tau of one step. Requested times are rounded to step ends. Without ``times``
    every step is recorded up to 10,000 steps, beyond that 1,001 evenly spaced step ends.
    """
    given = [name for name, v in (("steps", steps), ("t_max", t_max)) if v is not None]
    if len(given) > 1:
        raise InputError("give only one of `steps` or `t_max`; got both.")
    if steps is not None:
        nsteps = check_int("steps", steps, low=1)
        if nsteps > MAX_STEPS:
            raise InputError(f"`steps` must be at most {MAX_STEPS:.3g} (step indices are 64-bit); got {nsteps:.3g}.")
    elif t_max is not None:
        t_max = check_real("t_max", t_max, positive=True)
        x = t_max / dt
        if x > MAX_STEPS:
            raise InputError(
                f"`t_max` = {t_max:g} is {x:.3g} steps of mu tau = {dt:g}; at most {MAX_STEPS:.3g} steps "
                "fit in one run."
            )
        nsteps = int(round(x)) if abs(x - round(x)) <= 1e-9 * max(1.0, x) else int(math.ceil(x))
        nsteps = max(nsteps, 1)
    else:
        nsteps = None
    if times is not None:
        t = check_array("times", times, (None,))
        if t.size == 0:
            raise InputError("`times` must hold at least one time; got an empty array.")
        if np.any(t < 0):
            raise InputError(f"`times` must be >= 0; got {float(t.min())}.")
        if t.max() / dt > MAX_STEPS:
            raise InputError(
                f"`times` reach mu t = {float(t.max()):g}, {float(t.max()) / dt:.3g} steps of mu tau = "
                f"{dt:g}; at most {MAX_STEPS:.3g} steps fit in one run."
            )
        idx = np.unique(np.rint(t / dt).astype(np.int64))
        if nsteps is None:
            nsteps = int(idx[-1])
        elif idx[-1] > nsteps:
            raise InputError(
                f"`times` reach mu t = {float(t.max()):g}, beyond the run's end at mu t = {nsteps * dt:g}."
            )
        if nsteps < 1:
            raise InputError(f"`times` must reach at least one step (mu t = {dt:g}); got max {float(t.max()):g}.")
        return nsteps, idx
    if nsteps is None:
        raise InputError("one of `steps`, `t_max` or `times` is required.")
    if nsteps <= EVERY_STEP_LIMIT:
        return nsteps, np.arange(nsteps + 1)
    return nsteps, np.unique(np.rint(np.linspace(0, nsteps, DEFAULT_MAX_RECORDS)).astype(np.int64))


def resolve_grid(dt, *, steps=None, t_max=None, times=None, continuous=False):
    """(nsteps, record_steps, record_times) for a run with steps of mu*tau = dt.

    Discrete engines round requested times to step ends; continuous-time engines
    (``continuous=True``) keep them as given, and ``record_steps`` is then None. Without
    ``times`` every engine records the same step-end grid (see ``resolve_steps``).
    """
    given = None
    if continuous and times is not None:
        given = np.unique(check_array("times", times, (None,)))
        if given.size == 0 or given[0] < 0:
            raise InputError("`times` must be a non-empty array of mu t values >= 0.")
        if steps is None and t_max is None:
            t_max = max(float(given[-1]), dt)
        times = None
    nsteps, record_steps = resolve_steps(dt, steps=steps, t_max=t_max, times=times)
    if given is not None:
        if given[-1] > nsteps * dt + 1e-12 * max(1.0, nsteps * dt):
            raise InputError(f"`times` reach mu t = {given[-1]:g}, beyond the run's end at mu t = {nsteps * dt:g}.")
        return nsteps, None, given
    # Rounded so that equal times from different step lengths compare equal as coordinates
    # (0.01 * 100 == 0.1 * 10 after rounding, not before).
    return nsteps, record_steps, np.round(record_steps * dt, 12)


def prepare(
    scenario,
    engine,
    *,
    steps=None,
    t_max=None,
    times=None,
    schedule="matching",
    seed=None,
    progress=False,
    **engine_options,
):
    """Validate a run request without running it: returns (engine, Request).

    Same arguments as ``run``. Every check that can be made before the run is made here."""
    if not isinstance(scenario, Scenario):
        raise InputTypeError(f"`scenario` must be an oile_q.Scenario; got {describe(scenario)}.")
    eng = get_engine(engine)
    p = engine_options.pop("p", None)
    options = eng.validate_options(engine_options)
    progress = Progress(progress, desc=eng.name)
    foreground = scenario.kind == "foreground"
    if foreground and "foreground" not in eng.supports:
        raise InputError(
            f"`scenario` is a foreground scenario (one neutrino, fresh partners); engine "
            f"{eng.name!r} needs an ensemble."
        )
    if not foreground and "ensemble" not in eng.supports:
        raise InputError(f"`scenario` is an ensemble; engine {eng.name!r} takes foreground scenarios only.")
    if isinstance(schedule, str) and schedule == "poisson" and "poisson" not in eng.supports:
        raise InputError(f"`schedule` 'poisson' is not supported by engine {eng.name!r}.")
    sched = make_schedule(
        schedule, scenario.n, seed=seed, p=p, foreground=foreground, require_even="odd_n" not in eng.supports
    )
    dt = scenario.gamma * sched.step_fraction
    nsteps, record_steps, rec_times = resolve_grid(
        dt, steps=steps, t_max=t_max, times=times, continuous=eng.grid == "continuous"
    )
    if sched.length is not None and sched.length < nsteps:
        raise InputError(f"`schedule` array has {sched.length} steps; the run needs {nsteps}.")
    notes = ()
    if times is not None and eng.grid == "steps":
        notes = _rounding_note(times, rec_times, dt)
    check_size(
        "times",
        3 * 24.0 * scenario.n * len(rec_times),
        f"{len(rec_times)} recorded times of {scenario.n} Bloch vectors",
        hint="record fewer `times` (or fewer particles)",
    )
    request = Request(
        scenario=scenario,
        schedule=sched,
        steps=nsteps,
        dt=dt,
        times=rec_times,
        record_steps=record_steps,
        options=options,
        progress=progress,
        notes=notes,
    )
    eng.check(request)
    return eng, request


def _rounding_note(times, rec_times, dt):
    """A note when requested times are not step ends (a discrete engine records step ends)."""
    asked = np.unique(np.asarray(times, dtype=float))
    if asked.size == rec_times.size and np.allclose(asked, rec_times, rtol=1e-12, atol=1e-12):
        return ()
    show = lambda a: ", ".join(f"{x:g}" for x in a[:6]) + (", ..." if a.size > 6 else "")
    nearest = np.round(np.rint(asked / dt) * dt, 12)
    return (
        f"`times` rounded to step ends (mu tau = {dt:g} per step): requested {show(asked)} -> recorded "
        f"{show(nearest)} (largest shift {float(np.abs(nearest - asked).max()):.3g}"
        + (f"; {asked.size - rec_times.size} merged" if asked.size != rec_times.size else "")
        + ").",
    )


def execute(engine, request):
    """Run a prepared request and assemble the shared Dataset (see ``run``)."""
    from threadpoolctl import threadpool_limits

    t0 = _time.perf_counter()
    try:
        # One BLAS thread: the engines' heavy work is compiled (numba) or in Aer/QuSpin, and idle
        # OpenBLAS workers spinning after small calls starved it.
        with threadpool_limits(limits=1, user_api="blas"):
            out = engine.run(request)
    finally:
        request.progress.close()
    wall = _time.perf_counter() - t0
    P = np.asarray(out.P, dtype=float)
    want = (len(request.times), request.scenario.n, 3)
    if P.shape != want:
        raise RuntimeError(f"engine {engine.name!r} returned P of shape {P.shape}; expected {want}")
    if out.options is not None:
        recorded = dict(out.options)
    else:
        recorded = {
            name: value for name, value in request.options.items() if value is not None and engine.option(name).record
        }
    extras = dict(out.extras)
    sched = request.schedule
    if sched.kind == "explicit":
        import xarray as xr

        extras["schedule_pairs"] = xr.DataArray(sched.pairs[: request.steps], dims=("step", "slot", "end"))
    stats = {"wall_s": round(wall, 4), "steps": int(request.steps), **out.stats}
    ds = make_dataset(
        request.scenario,
        P,
        request.times,
        engine=engine.name,
        schedule_attrs=sched.attrs(),
        options=recorded,
        extras=extras,
    )
    ds.attrs.update(out.attrs)
    if engine.group_observables is not None:  # the generic helpers read these (oile_q.results)
        ds.attrs["group_observables"] = json.dumps(engine.group_observables.variables, sort_keys=True)
        ds.attrs["group_observables_reason"] = engine.group_observables.reason
    hidden = sorted(
        name
        for name, value in request.options.items()
        if value is not None and not engine.option(name).record and engine.option(name).affects_result
    )
    if hidden:  # a re-run needs these again (oile_q.rerun says so)
        ds.attrs["options_not_recorded"] = ",".join(hidden)
    if request.notes:
        ds.attrs["notes"] = " ".join(request.notes)
    ds.attrs["engine_stats"] = json.dumps(stats, sort_keys=True, default=_plain)
    return ds


def _plain(value):
    """JSON for numpy scalars in run statistics."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {value!r}")


def run(
    scenario: Scenario,
    engine: str,
    *,
    steps: int | None = None,
    t_max: float | None = None,
    times: ArrayLike | None = None,
    schedule: str | ArrayLike = "matching",
    seed: int | None = None,
    **engine_options: Any,
) -> xr.Dataset:
    """Evolve ``scenario`` with ``engine`` and return the shared xarray.Dataset.

    Parameters
    ----------
    scenario : Scenario
    engine : str
        A registered engine: "oile", "meanfield", "master", "misci", "circuit", "exact",
        "closed", or a plug-in (``oile_q.list_engines()``; ``oile-q engines`` lists them with their options).
    steps, t_max, times :
        Run length as a number of steps, or in mu t; ``times`` (mu t) are the times to
        record; discrete engines round them to step ends, ODE engines keep them as given.
        Without ``times`` every engine records the same step-end grid.
    schedule : "matching", "round-robin", "poisson", or an int array (steps, k, 2)
        Who meets whom. Foreground scenarios meet a fresh partner every step.
        Engines without the "replay" capability use it only for the time grid.
    seed : int, optional
        Seed of a random schedule (drawn and recorded if not given).
    p : float, optional
        Poisson encounter probability per step (schedule "poisson").
    progress : bool or callable, optional
        A progress bar on stderr (True) or a callable f(done_fraction).
    engine_options :
        The engine's own options, as it declares them (``oile_q.list_engines()[name].options``).

    Returns
    -------
    xarray.Dataset
        ``P`` (time, particle, component) in the flavor basis, the engine's extras, and attrs
        (engine, gamma, mu, theta, schedule, seed, options, scenario, ``engine_stats``).

    Raises
    ------
    InputError
        Before any work, one line naming the parameter: an unknown engine or option, an
        ill-typed value, a scenario the engine does not take, a run length that does not fit.

    Examples
    --------
    >>> import oile_q
    >>> fg = oile_q.Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    >>> ds = oile_q.run(fg, "oile", t_max=1.0)
    >>> ds.P.shape
    (11, 1, 3)
    """
    progress = engine_options.pop("progress", _PROGRESS_DEFAULT.get())
    length = {"steps": steps, "t_max": t_max, "times": times}
    eng, request = prepare(
        scenario, engine, **length, schedule=schedule, seed=seed, progress=progress, **engine_options
    )
    return execute(eng, request)


def rerun_arguments(ds):
    """The ``run`` arguments that reproduce a result: (scenario, engine, keywords), from its
    attrs (scenario, engine, schedule kind, seed, p, options), its recorded times and, for an
    explicit schedule, its ``schedule_pairs``."""

    a = ds.attrs
    for key in ("engine", "scenario", "schedule", "options"):
        if key not in a:
            raise InputError(f"`ds` is not an oile-q result: its attrs lack {key!r}.")
    kw = {"times": np.asarray(ds["time"], dtype=float)}
    kind = a["schedule"]
    if kind == "explicit":
        if "schedule_pairs" not in ds:
            raise InputError("`ds` used an explicit schedule but does not hold its `schedule_pairs`.")
        kw["schedule"] = np.asarray(ds["schedule_pairs"])
    elif kind in ("foreground", "foreground-poisson"):
        kw["schedule"] = "poisson" if kind == "foreground-poisson" else "matching"
    else:
        kw["schedule"] = kind
    if "seed" in a:
        kw["seed"] = int(a["seed"])
    if "p" in a:
        kw["p"] = float(a["p"])
    kw.update(json.loads(a["options"]))
    return scenario_of(ds), str(a["engine"]), kw


def rerun(ds: xr.Dataset | str | Path, **overrides: Any) -> xr.Dataset:
    """Run a result again from its own record: the same scenario, engine, schedule (seed or
    explicit pairs), recorded times and options, with ``overrides`` applied.

    Parameters
    ----------
    ds : xarray.Dataset or path
        A result of ``run`` (or the netCDF file ``oile_q.results.save`` wrote).
    overrides :
        ``engine``, any ``run`` keyword (``t_max``, ``times``, ``seed``, ...) or engine option.
        Giving ``steps`` or ``t_max`` drops the recorded times.

    Returns
    -------
    xarray.Dataset
        The new result (as ``run`` returns it).

    Raises
    ------
    InputError
        ``ds`` is not an oile-q result, or was computed with an option results do not record
        (give it again as an override).

    Examples
    --------
    >>> import numpy as np, oile_q
    >>> fg = oile_q.Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    >>> ds = oile_q.run(fg, "oile", t_max=1.0)
    >>> bool(np.array_equal(oile_q.rerun(ds).P, ds.P))
    True
    """
    if not hasattr(ds, "attrs"):
        ds = load(ds)
    scenario, engine, kw = rerun_arguments(ds)
    missing = [name for name in ds.attrs.get("options_not_recorded", "").split(",") if name and name not in overrides]
    if missing and overrides.get("engine", engine) == engine:
        raise InputError(
            f"`ds` was computed with the option `{missing[0]}`, which results do not record; "
            f"give it again: rerun(ds, {missing[0]}=...)."
        )
    engine = overrides.pop("engine", engine)
    if "steps" in overrides or "t_max" in overrides:
        kw.pop("times", None)
    if engine != ds.attrs["engine"]:  # options belong to the recorded engine
        kw = {k: v for k, v in kw.items() if k in ("times", "schedule", "seed", "p")}
    kw.update(overrides)
    return run(scenario, engine, **kw)
