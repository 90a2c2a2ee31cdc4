"""The single entry point ``run(scenario, engine, ...)`` (DESIGN.md section 5)."""

from __future__ import annotations

import importlib
import math

import numpy as np

from .errors import InputError, InputTypeError, check_array, check_int, check_real, describe
from .scenario import Scenario
from .schedules import make_schedule

__all__ = ["run", "ENGINES", "resolve_steps", "resolve_grid"]

ENGINES = ("oile", "meanfield", "master", "circuit", "exact", "closed")
# Engines that live in the optional heavy parts (Qiskit / QuSpin), imported on demand.
_EXTERNAL = {"circuit": "oile_q.circuits", "exact": "oile_q.exact", "closed": "oile_q.exact"}
DEFAULT_MAX_RECORDS = 1001
EVERY_STEP_LIMIT = 10_000

_OPTIONS = {
    "oile": {"propagator", "progress"},
    "meanfield": {"method", "rtol", "atol", "progress"},
    "master": {"isotropic", "method", "rtol", "atol", "progress"},
}


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
    elif t_max is not None:
        t_max = check_real("t_max", t_max, positive=True)
        x = t_max / dt
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


def run(scenario, engine, *, steps=None, t_max=None, times=None, schedule="matching", seed=None,
        **engine_options):
    """Evolve ``scenario`` with ``engine`` and return the shared xarray.Dataset.

    Parameters
    ----------
    scenario : Scenario
    engine : {"oile", "meanfield", "master", "circuit", "exact", "closed"}
    steps, t_max, times :
        Run length as a number of steps, or in mu t; ``times`` (mu t) are the times to
        record; discrete engines round them to step ends, ODE engines keep them as given.
        Without ``times`` every engine records the same step-end grid.
    schedule : "matching", "round-robin", "poisson", or an int array (steps, k, 2)
        Who meets whom. Foreground scenarios meet a fresh partner every step.
        The ODE engines use it for the time grid, and ``master`` for its Poisson variant.
    seed : int, optional
        Seed of a random schedule (drawn and recorded if not given).
    engine_options :
        ``p`` (Poisson probability per step); oile: ``propagator`` ("exact", "split",
        "symmetric"), ``progress``; meanfield/master: ``method``, ``rtol``, ``atol``,
        ``progress``; master: ``isotropic`` (paper I Eq. 17).
    """
    if not isinstance(scenario, Scenario):
        raise InputTypeError(f"`scenario` must be an oile_q.Scenario; got {describe(scenario)}.")
    if not isinstance(engine, str) or engine not in ENGINES:
        raise InputError(f"`engine` must be one of {list(ENGINES)}; got {describe(engine)}.")
    if engine in _EXTERNAL:
        module = _EXTERNAL[engine]
        try:
            mod = importlib.import_module(module)
        except ImportError as err:
            raise InputError(f"`engine` {engine!r} needs {module}, which cannot be imported here: {err}.") from err
        fn = getattr(mod, "run_engine", None)
        if fn is None:
            raise InputError(f"`engine` {engine!r} is not available in this version of oile-q ({module} has no engine yet).")
        return fn(scenario, engine, steps=steps, t_max=t_max, times=times, schedule=schedule,
                  seed=seed, **engine_options)

    p = engine_options.pop("p", None)
    unknown = sorted(set(engine_options) - _OPTIONS[engine])
    if unknown:
        raise InputError(
            f"`{unknown[0]}` is not an option of engine {engine!r}; expected among {sorted(_OPTIONS[engine] | {'p'})}."
        )
    sched = make_schedule(schedule, scenario.n, seed=seed, p=p, foreground=scenario.kind == "foreground",
                          require_even=engine != "meanfield")
    dt = scenario.gamma * sched.step_fraction
    nsteps, record_steps, rec_times = resolve_grid(dt, steps=steps, t_max=t_max, times=times,
                                                   continuous=engine != "oile")
    if sched.length is not None and sched.length < nsteps:
        raise InputError(f"`schedule` array has {sched.length} steps; the run needs {nsteps}.")
    options = dict(engine_options)
    options.pop("progress", None)

    from . import engines
    from .results import make_dataset

    if engine == "oile":
        propagator = engine_options.get("propagator", "exact")
        from .encounter import PROPAGATORS

        if propagator not in PROPAGATORS:
            raise InputError(f"`propagator` must be one of {list(PROPAGATORS)}; got {describe(propagator)}.")
        P = engines.run_oile(scenario, sched, record_steps, **engine_options)
        options.setdefault("propagator", "exact")
    else:
        for key in ("rtol", "atol"):
            if key in engine_options:
                engine_options[key] = check_real(key, engine_options[key], positive=True)
        if "method" in engine_options and engine_options["method"] not in ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"):
            raise InputError(f"`method` must be a scipy solve_ivp method name; got {describe(engine_options['method'])}.")
        if engine == "meanfield":
            P = engines.run_meanfield(scenario, rec_times, **engine_options)
        else:
            iso = engine_options.get("isotropic", False)
            if not isinstance(iso, bool):
                raise InputTypeError(f"`isotropic` must be True or False; got {describe(iso)}.")
            if iso and scenario.kind == "foreground":
                raise InputError("`isotropic` applies to ensembles, not to a foreground scenario.")
            P = engines.run_master(scenario, rec_times, p=sched.p, **engine_options)
    attrs = sched.attrs()
    extras = {}
    if sched.kind == "explicit":
        import xarray as xr

        extras["schedule_pairs"] = xr.DataArray(sched.pairs[:nsteps], dims=("step", "slot", "end"))
    return make_dataset(scenario, P, rec_times, engine=engine, schedule_attrs=attrs,
                        options=options, extras=extras)
