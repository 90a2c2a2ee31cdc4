r"""The ``master`` engine: the OILE master equations (paper I Eqs. 8, 14, 17; docs/theory.md).

In units of mu t,

    dP_a = (-w_a B + M_a) x P_a - gamma <g_ab^2 (P_a - P_b)>_b
           - s (gamma/2) [M_a x (M_a x P_a) + <g_ab (M_b x P_b)>_b x P_a]

with s = 1 for every-step encounters and s = p for Poisson encounters (probability p per step
of mu*tau = p*gamma). ``isotropic`` uses paper I Eq. (17): M_a -> <P>, <g^2> -> 4/3 and no
<g (M_b x P_b)> term. For the foreground model (fresh partners in state Q, g = 1 - v.u):

    dP = (-w B + g Q) x P - gamma g^2 (P - Q) - s (gamma g^2/2) Q x (Q x P)
         - s (gamma g w / 2) (B x Q) x P,

paper I Eq. (8) plus the term from the partner's own vacuum precession during the encounter
(zero when omega = 0).

Derivation of the Poisson variant: a step lasts mu*tau = p gamma and brings an encounter with
probability p. Expanding the expected one-step map to second order,
E[dP] = p gamma <g P_b> x P + p gamma^2 <g^2 (P_b - P)> + (vacuum and cross terms), and matching
it to the flow of dP/dt = F over tau, P + tau F + (tau^2/2)(grad F) F, gives the same
decoherence term gamma <g^2 (P_b - P)> but only a fraction p of the (tau^2/2)(grad F) F
correction, i.e. of the bracket. The partner's vacuum precession during an encounter likewise
enters with weight p (foreground model).
"""

from __future__ import annotations

import numpy as np

from ..engine import Engine, Option, Output
from ..errors import InputError
from ..moments import Moments
from ._ode import ODE_OPTIONS, ode_cost, solve

__all__ = ["MasterEngine"]


class MasterEngine(Engine):
    name = "master"
    summary = "the OILE master equations (paper I Eqs. 8, 14, 17; Poisson variant with s = p)"
    grid = "continuous"
    supports = frozenset({"ensemble", "foreground", "poisson"})
    options = (
        Option("isotropic", "paper I Eq. (17): M_a -> <P>, <g^2> -> 4/3 (ensembles)", default=False, kind="bool"),
    ) + ODE_OPTIONS

    def check(self, request):
        if request.options["isotropic"] and request.foreground:
            raise InputError("`isotropic` applies to ensembles, not to a foreground scenario.")

    def estimate(self, request):
        return ode_cost(request, 0.35e-6)

    def run(self, request):
        sc = request.scenario
        gamma = sc.gamma
        p = request.schedule.p
        s = 1.0 if p is None else float(p)
        n = sc.n
        w = sc.omega / sc.mu
        wB = w[:, None] * sc.B[None, :]

        if request.foreground:
            g = 1.0 - sc.background["vdotu"]
            Q = sc.background["Q"]
            BxQ = np.cross(sc.B, Q)

            def rhs(y):
                P = y.reshape(1, 3)
                return (
                    np.cross(-wB + g * Q, P)
                    - gamma * g * g * (P - Q)
                    - 0.5 * s * gamma * g * g * np.cross(Q, np.cross(Q, P))
                    - 0.5 * s * gamma * g * w[0] * np.cross(BxQ, P)
                ).ravel()
        elif request.options["isotropic"]:

            def rhs(y):
                P = y.reshape(n, 3)
                M = P.mean(0)[None, :]
                return (
                    np.cross(-wB + M, P) - gamma * (4.0 / 3.0) * (P - M) - 0.5 * s * gamma * np.cross(M, np.cross(M, P))
                ).ravel()
        else:
            from ._master_kernels import master_rhs

            V = np.ascontiguousarray(sc.velocity, dtype=float)
            inv = 1.0 / (n - 1)
            g2 = np.ascontiguousarray(Moments(V).g2_sum * inv)
            wB = np.ascontiguousarray(wB)
            out = np.empty((n, 3))

            def rhs(y):
                master_rhs(y.reshape(n, 3), V, wB, g2, inv, gamma, s, out)
                return out.ravel().copy()

        stats = {}
        out = solve(rhs, sc.P0.ravel().astype(float), request, stats)
        return Output(P=out.reshape(-1, n, 3), stats=stats)
