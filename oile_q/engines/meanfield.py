"""The ``meanfield`` engine: the gamma -> 0 limit of OILE (docs/theory.md).

    dP_a/d(mu t) = (-(omega_a/mu) B + M_a) x P_a,   M_a = <g_ab P_b>_b = (1/(N-1)) sum_b g_ab P_b,

with O(N) velocity moments; for a foreground scenario M = g Q, g = 1 - v.u. These are
exactly the mean-field equations of the ``exact`` engine's all-to-all Hamiltonian.
"""

from __future__ import annotations

import numpy as np

from ..engine import Engine, Output
from ..moments import Moments
from ._ode import ODE_OPTIONS, ode_cost, solve

__all__ = ["MeanFieldEngine", "mean_field"]


def mean_field(scenario, P, mom):
    """M_a = <g_ab P_b>_b (units of mu) for an ensemble, g Q for a foreground scenario."""
    if scenario.kind == "foreground":
        return (1.0 - scenario.background["vdotu"]) * scenario.background["Q"][None, :]
    return mom.g_sum(P) / (scenario.n - 1)


class MeanFieldEngine(Engine):
    name = "meanfield"
    summary = "the gamma -> 0 limit: dP_a/dt = (-omega_a B + mu M_a) x P_a (ODE, O(N) moments)"
    grid = "continuous"
    supports = frozenset({"ensemble", "foreground", "odd_n", "poisson"})
    options = ODE_OPTIONS

    def estimate(self, request):
        return ode_cost(request, 0.12e-6)

    def run(self, request):
        sc = request.scenario
        n = sc.n
        wB = (sc.omega / sc.mu)[:, None] * sc.B[None, :]
        mom = None if request.foreground else Moments(sc.velocity)

        def rhs(y):
            P = y.reshape(n, 3)
            return np.cross(-wB + mean_field(sc, P, mom), P).ravel()

        stats = {}
        out = solve(rhs, sc.P0.ravel().astype(float), request, stats)
        return Output(P=out.reshape(-1, n, 3), stats=stats)
