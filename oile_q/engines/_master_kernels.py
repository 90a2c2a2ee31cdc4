"""Compiled right-hand side of the velocity-resolved master equation (``master.py``, and the
``misci`` start on a velocity quadrature).

The same O(N) algebra as the numpy form with ``oile_q.moments.Moments``: with g_ab = 1 - v_a.v_b,
every partner sum reduces to the moments S0 = sum_b w_b X_b, S1 = sum_b w_b v_b X_b^T and
S2 = sum_b w_b (v_b v_b^T) X_b^T, here accumulated in one pass per moment instead of a dozen numpy
temporaries (np.cross on (N, 3) arrays dominated the numpy form at N = 10^4). A particle of weight
w_b stands for w_b particles at its velocity (all ones for a gas; the weights of a velocity
quadrature for the ``misci`` start): one kernel serves both.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["master_rhs", "weighted_master_rhs"]


@njit(cache=True)
def _moments(X, V, w, with_second):
    n = X.shape[0]
    s0 = np.zeros(3)
    s1 = np.zeros((3, 3))  # s1[i, j] = sum_b w_b v_b[i] X_b[j]
    s2 = np.zeros((3, 3, 3))  # s2[i, k, j] = sum_b w_b v_b[i] v_b[k] X_b[j]
    for b in range(n):
        for j in range(3):
            x = w[b] * X[b, j]
            s0[j] += x
            for i in range(3):
                vx = V[b, i] * x
                s1[i, j] += vx
                if with_second:
                    for k in range(3):
                        s2[i, k, j] += V[b, k] * vx
    return s0, s1, s2


@njit(cache=True)
def master_rhs(P, V, wB, g2, inv, gamma, s, out):
    """out = dP/d(mu t) of the g-weighted master equation (docs/theory.md):

        (-w_a B + M_a) x P_a - gamma (g2_a P_a - <g^2 P_b>_a)
            - s (gamma / 2) [M_a x (M_a x P_a) + <g (M_b x P_b)>_a x P_a]

    with M_a = <g_ab P_b>_b; P, V (N, 3); wB (N, 3) = (omega_a/mu) B; g2 (N,) = <g_ab^2>_b;
    inv = 1/(N-1). ``weighted_master_rhs`` with every weight 1."""
    weighted_master_rhs(P, V, np.ones(P.shape[0]), wB, g2, inv, gamma, s, out)


@njit(cache=True)
def weighted_master_rhs(P, V, w, wB, g2, inv, gamma, s, out):
    """``master_rhs`` for particles that stand for w_b particles each (a velocity quadrature of a
    large gas): every partner sum is sum_b w_b (...); g_aa = 0 still excludes a particle's own
    velocity. ``g2`` = <g_ab^2>_b with the same weights; inv = 1/(N-1) of the gas the particles
    stand for."""
    n = P.shape[0]
    s0, s1, s2 = _moments(P, V, w, True)
    M = np.empty((n, 3))
    W = np.empty((n, 3))
    for a in range(n):
        for j in range(3):
            M[a, j] = (s0[j] - (V[a, 0] * s1[0, j] + V[a, 1] * s1[1, j] + V[a, 2] * s1[2, j])) * inv
        m0, m1, m2 = M[a, 0], M[a, 1], M[a, 2]
        p0, p1, p2 = P[a, 0], P[a, 1], P[a, 2]
        W[a, 0] = m1 * p2 - m2 * p1
        W[a, 1] = m2 * p0 - m0 * p2
        W[a, 2] = m0 * p1 - m1 * p0
    t0, t1, _ = _moments(W, V, w, False)
    half = 0.5 * s * gamma
    for a in range(n):
        va0, va1, va2 = V[a, 0], V[a, 1], V[a, 2]
        p0, p1, p2 = P[a, 0], P[a, 1], P[a, 2]
        m0, m1, m2 = M[a, 0], M[a, 1], M[a, 2]
        w0, w1, w2 = W[a, 0], W[a, 1], W[a, 2]
        # <g (M_b x P_b)>_a and <g^2 P_b>_a, component by component
        gw0 = (t0[0] - (va0 * t1[0, 0] + va1 * t1[1, 0] + va2 * t1[2, 0])) * inv
        gw1 = (t0[1] - (va0 * t1[0, 1] + va1 * t1[1, 1] + va2 * t1[2, 1])) * inv
        gw2 = (t0[2] - (va0 * t1[0, 2] + va1 * t1[1, 2] + va2 * t1[2, 2])) * inv
        q0 = _g2_sum(s0, s1, s2, va0, va1, va2, 0) * inv
        q1 = _g2_sum(s0, s1, s2, va0, va1, va2, 1) * inv
        q2 = _g2_sum(s0, s1, s2, va0, va1, va2, 2) * inv
        h0, h1, h2 = m0 - wB[a, 0], m1 - wB[a, 1], m2 - wB[a, 2]
        g2a = g2[a]
        out[a, 0] = (h1 * p2 - h2 * p1) - gamma * (g2a * p0 - q0) - half * ((m1 * w2 - m2 * w1) + (gw1 * p2 - gw2 * p1))
        out[a, 1] = (h2 * p0 - h0 * p2) - gamma * (g2a * p1 - q1) - half * ((m2 * w0 - m0 * w2) + (gw2 * p0 - gw0 * p2))
        out[a, 2] = (h0 * p1 - h1 * p0) - gamma * (g2a * p2 - q2) - half * ((m0 * w1 - m1 * w0) + (gw0 * p1 - gw1 * p0))


@njit(cache=True, inline="always")
def _g2_sum(s0, s1, s2, v0, v1, v2, j):
    """sum_b g_ab^2 X_b[j] = S0 - 2 v_a.S1 + v_a v_a : S2 (component j)."""
    lin = v0 * s1[0, j] + v1 * s1[1, j] + v2 * s1[2, j]
    quad = (
        v0 * (v0 * s2[0, 0, j] + v1 * s2[0, 1, j] + v2 * s2[0, 2, j])
        + v1 * (v0 * s2[1, 0, j] + v1 * s2[1, 1, j] + v2 * s2[1, 2, j])
        + v2 * (v0 * s2[2, 0, j] + v1 * s2[2, 1, j] + v2 * s2[2, 2, j])
    )
    return s0[j] - 2.0 * lin + quad
