"""The ODE driver shared by the continuous-time engines (meanfield, master, misci): the
``solve_ivp`` options, the driver, and the rough cost of an ODE run."""

from __future__ import annotations

import numpy as np

from ..engine import Cost, Option

__all__ = ["ODE_OPTIONS", "solve", "ode_cost"]

ODE_METHODS = ("DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")
ODE_OPTIONS = (
    Option("method", "scipy solve_ivp integrator", default="DOP853", kind="choice", choices=ODE_METHODS),
    Option("rtol", "relative tolerance of the integrator", default=1e-10, kind="float", positive=True),
    Option("atol", "absolute tolerance of the integrator", default=1e-12, kind="float", positive=True),
)


def solve(rhs, y0, request, stats):
    """Integrate dy/d(mu t) = rhs(y) from 0 and return y at ``request.times`` (rows).

    Counts right-hand-side evaluations in ``stats["rhs_evals"]`` and reports progress in
    units of 1/1000 of the run."""
    from scipy.integrate import solve_ivp

    opts = request.options
    times = np.asarray(request.times, dtype=float)
    t_end = float(times[-1])
    stats["rhs_evals"] = 0
    if t_end == 0.0:
        return y0[None, :].copy()
    bar = request.progress.start(1000, unit="permille")

    def fun(t, y):
        stats["rhs_evals"] += 1
        bar.update(int(1000 * min(t, t_end) / t_end))
        return rhs(y)

    sol = solve_ivp(fun, (0.0, t_end), y0, method=opts["method"], t_eval=times, rtol=opts["rtol"], atol=opts["atol"])
    if not sol.success:
        raise RuntimeError(f"ODE solver failed: {sol.message}")
    return sol.y.T


def ode_cost(request, seconds_per_particle_eval):
    """A rough cost of an ODE run: ~200 right-hand sides per unit mu t at rtol 1e-10, each costing
    ``seconds_per_particle_eval`` per particle (the engine's rough constant)."""
    evals = 200.0 * max(float(request.times[-1]), 1.0)
    n = request.scenario.n
    return Cost(
        seconds=evals * n * seconds_per_particle_eval,
        memory_bytes=24.0 * n * len(request.times),
        what=f"about {evals:.2g} right-hand-side evaluations on {n} particles",
        hint="a shorter t_max or fewer particles",
    )
