"""Compiled O(N) partner sums for the ``misci`` flow (single-threaded, no BLAS).

For per-particle fields F (N, K) and unit velocities V (N, 3), with g_ab = 1 - v_a.v_b,

    G1[a, k] = sum_b g_ab F[b, k],     G2[a, k] = sum_b g_ab^2 F[b, k],

from the moments S0 = sum_b F_b, S1 = sum_b v_b F_b, S2 = sum_b v_b v_b^T F_b:
G1 = S0 - v_a.S1 and G2 = S0 - 2 v_a.S1 + v_a^T S2 v_a (g_aa = 0 excludes b = a). Same sums as
``oile_q.moments.Moments``; compiled so that N = 10^4 costs ~N * 13 * K flops per call and no
multithreaded BLAS call on a tiny matrix (DESIGN.md section 6).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["g_sums", "flow_kernel"]


@njit(cache=True)
def g_sums(V, F):
    """(G1, G2): sums over b of g_ab F[b] and g_ab^2 F[b], each (N, K)."""
    N, K = F.shape
    S0 = np.zeros(K)
    S1 = np.zeros((3, K))
    S2 = np.zeros((3, 3, K))
    for b in range(N):
        v0, v1, v2 = V[b, 0], V[b, 1], V[b, 2]
        for k in range(K):
            f = F[b, k]
            S0[k] += f
            S1[0, k] += v0 * f
            S1[1, k] += v1 * f
            S1[2, k] += v2 * f
            S2[0, 0, k] += v0 * v0 * f
            S2[0, 1, k] += v0 * v1 * f
            S2[0, 2, k] += v0 * v2 * f
            S2[1, 1, k] += v1 * v1 * f
            S2[1, 2, k] += v1 * v2 * f
            S2[2, 2, k] += v2 * v2 * f
    G1 = np.empty((N, K))
    G2 = np.empty((N, K))
    for a in range(N):
        v0, v1, v2 = V[a, 0], V[a, 1], V[a, 2]
        for k in range(K):
            d1 = v0 * S1[0, k] + v1 * S1[1, k] + v2 * S1[2, k]
            d2 = (v0 * v0 * S2[0, 0, k] + v1 * v1 * S2[1, 1, k] + v2 * v2 * S2[2, 2, k]
                  + 2.0 * (v0 * v1 * S2[0, 1, k] + v0 * v2 * S2[0, 2, k] + v1 * v2 * S2[1, 2, k]))
            G1[a, k] = S0[k] - d1
            G2[a, k] = S0[k] - 2.0 * d1 + d2
    return G1, G2


@njit(cache=True)
def flow_kernel(V, idx, c, q2, H, g2, s, source, isotropic):
    """The misci flow's right-hand side in one pass (``oile_q.engines.misci.flow_terms`` is the
    numpy reference it is tested against): returns (dc, dq2, S, M).

    Fields per particle b: c_b [b in k] (k < K), (c_b^2 - q_b^2/2) [b in k], c_b^2 + q_b^2,
    q_b^2 / 2; their g- and g^2-weighted partner averages come from the moments S0, S1, S2."""
    N = c.shape[0]
    K = H.shape[0]
    F = 2 * K + 2
    S0 = np.zeros(F)
    S1 = np.zeros((3, F))
    S2 = np.zeros((6, F))
    cols = np.empty(4, dtype=np.int64)
    vals = np.empty(4)
    nf = 4 if source else 1
    for b in range(N):
        k = idx[b]
        cols[0] = k
        vals[0] = c[b]
        cols[1] = K + k
        vals[1] = c[b] * c[b] - 0.5 * q2[b]
        cols[2] = 2 * K
        vals[2] = c[b] * c[b] + q2[b]
        cols[3] = 2 * K + 1
        vals[3] = 0.5 * q2[b]
        v0, v1, v2 = V[b, 0], V[b, 1], V[b, 2]
        for t in range(nf):
            j = cols[t]
            f = vals[t]
            S0[j] += f
            S1[0, j] += v0 * f
            S1[1, j] += v1 * f
            S1[2, j] += v2 * f
            S2[0, j] += v0 * v0 * f
            S2[1, j] += v1 * v1 * f
            S2[2, j] += v2 * v2 * f
            S2[3, j] += v0 * v1 * f
            S2[4, j] += v0 * v2 * f
            S2[5, j] += v1 * v2 * f
    T = np.zeros((K, K))
    for i in range(K):
        for j in range(K):
            T[i, j] = H[i, 0] * H[j, 0] + H[i, 1] * H[j, 1] + H[i, 2] * H[j, 2]
    inv = 1.0 / (N - 1)
    dc = np.empty(N)
    dq2 = np.empty(N)
    S = np.zeros(N)
    M = np.zeros((N, 3))
    G1 = np.empty(F)
    G2 = np.empty(F)
    for a in range(N):
        v0, v1, v2 = V[a, 0], V[a, 1], V[a, 2]
        for j in range(F):
            if isotropic:
                G1[j] = S0[j] / N
                G2[j] = (4.0 / 3.0) * S0[j] / N
            else:
                d1 = v0 * S1[0, j] + v1 * S1[1, j] + v2 * S1[2, j]
                d2 = (v0 * v0 * S2[0, j] + v1 * v1 * S2[1, j] + v2 * v2 * S2[2, j]
                      + 2.0 * (v0 * v1 * S2[3, j] + v0 * v2 * S2[4, j] + v1 * v2 * S2[5, j]))
                G1[j] = (S0[j] - d1) * inv
                G2[j] = (S0[j] - 2.0 * d1 + d2) * inv
        ka = idx[a]
        m0 = 0.0
        m1 = 0.0
        m2 = 0.0
        hA = 0.0
        for k in range(K):
            m0 += G1[k] * H[k, 0]
            m1 += G1[k] * H[k, 1]
            m2 += G1[k] * H[k, 2]
            hA += T[ka, k] * G2[k]
        M[a, 0] = m0
        M[a, 1] = m1
        M[a, 2] = m2
        M2 = m0 * m0 + m1 * m1 + m2 * m2
        Mh = m0 * H[ka, 0] + m1 * H[ka, 1] + m2 * H[ka, 2]
        Mxh2 = M2 - Mh * Mh
        ca = c[a]
        qa = q2[a]
        dc[a] = -(g2[a] * ca - hA) + 0.5 * s * ca * Mxh2
        dq2[a] = (-2.0 * g2[a] + s * (M2 - 0.5 * Mxh2)) * qa
        if source:
            a2 = ca * ca - 0.5 * qa
            n2 = ca * ca + qa
            pair = n2 * G2[2 * K] - G2[2 * K + 1] * n2
            for k in range(K):
                pair -= G2[K + k] * (a2 * T[ka, k] * T[ka, k] + 0.5 * qa)
            MPiM = a2 * Mh * Mh + 0.5 * qa * M2
            S[a] = pair - s * (M2 * n2 - MPiM)
            dq2[a] += S[a]
    return dc, dq2, S, M
