"""Compiled O(N) partner sums of the ``misci`` engine (single-threaded, no BLAS): the flow's
right-hand side (``flow_kernel``) and the start's schedule spread (``spread_source``).

For per-particle fields F (N, K) and unit velocities V (N, 3), with g_ab = 1 - v_a.v_b,

    G1[a, k] = sum_b g_ab F[b, k],     G2[a, k] = sum_b g_ab^2 F[b, k],

from the moments S0 = sum_b F_b, S1 = sum_b v_b F_b, S2 = sum_b v_b v_b^T F_b:
G1 = S0 - v_a.S1 and G2 = S0 - 2 v_a.S1 + v_a^T S2 v_a (g_aa = 0 excludes b = a). Same sums as
``oile_q.moments.Moments``; compiled so that N = 10^4 costs ~N * 13 * K flops per call and no
multithreaded BLAS call on a tiny matrix (docs/theory.md, Numerical methods).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["g_sums", "flow_kernel", "spread_source"]


@njit(cache=True)
def g_sums(V, F):
    """(G1, G2): sums over b of g_ab F[b] and g_ab^2 F[b], each (N, K)."""
    N, K = F.shape
    S0, S1, S2 = _field_moments(V, F, np.ones(N))
    G1 = np.empty((N, K))
    G2 = np.empty((N, K))
    for a in range(N):
        _partner_sums(V[a, 0], V[a, 1], V[a, 2], S0, S1, S2, N, 1.0, False, G1[a], G2[a])
    return G1, G2


@njit(cache=True)
def _field_moments(V, F, w):
    """The moments S0 (k,), S1 (3, k) and S2 (6, k: xx, yy, zz, xy, xz, yz) of the fields F (N, k)
    of particles with velocities V, particle b standing for w_b particles."""
    N, K = F.shape
    S0 = np.zeros(K)
    S1 = np.zeros((3, K))
    S2 = np.zeros((6, K))
    for b in range(N):
        v0, v1, v2 = V[b, 0], V[b, 1], V[b, 2]
        for j in range(K):
            _add_moments(v0, v1, v2, w[b] * F[b, j], j, S0, S1, S2)
    return S0, S1, S2


@njit(cache=True, inline="always")
def _add_moments(v0, v1, v2, f, j, S0, S1, S2):
    """Add f (field j of a particle with velocity (v0, v1, v2)) to the moments S0, S1, S2."""
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


@njit(cache=True, inline="always")
def _partner_sums(v0, v1, v2, S0, S1, S2, N, inv, isotropic, G1, G2):
    """G1[j] = <g_ab F_b[j]>_b and G2[j] = <g_ab^2 F_b[j]>_b for the particle with velocity (v0, v1, v2)
    from the moments S0, S1 (3, F) and S2 (6, F: xx, yy, zz, xy, xz, yz); isotropic weights:
    <F>, (4/3)<F> over all N."""
    for j in range(S0.shape[0]):
        if isotropic:
            G1[j] = S0[j] / N
            G2[j] = (4.0 / 3.0) * S0[j] / N
        else:
            d1 = v0 * S1[0, j] + v1 * S1[1, j] + v2 * S1[2, j]
            d2 = (
                v0 * v0 * S2[0, j]
                + v1 * v1 * S2[1, j]
                + v2 * v2 * S2[2, j]
                + 2.0 * (v0 * v1 * S2[3, j] + v0 * v2 * S2[4, j] + v1 * v2 * S2[5, j])
            )
            G1[j] = (S0[j] - d1) * inv
            G2[j] = (S0[j] - 2.0 * d1 + d2) * inv


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
            _add_moments(v0, v1, v2, vals[t], cols[t], S0, S1, S2)
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
        _partner_sums(v0, v1, v2, S0, S1, S2, N, inv, isotropic, G1, G2)
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


@njit(cache=True)
def spread_source(P, X, V, w, g2, s, isotropic):
    """The purity source S_a and the decay rate r_a of the schedule spread X_a = E|delta P_a|^2 that
    the random choice of partners adds to a master-equation state P (N, 3), for the misci start:
    dX_a/d tau = r_a X_a + S_a, with (docs/theory.md, The start; the dephased parts with h_a -> P_a/|P_a|)

        S_a = <g_ab^2 (n_a n_b - tr Pi_a Pi_b)>_b - s M_a^T (n_a 1 - Pi_a) M_a,
        r_a = -2 <g_ab^2>_b + s (|M_a|^2 - |M_a x u_a|^2 / 2),

    n_b = |P_b|^2 + X_b, Pi_b = P_b P_b^T + (X_b / 2)(1 - u_b u_b^T), u_b = P_b / |P_b| (the spread
    taken perpendicular to P_b with a random phase), M_a = <g_ab P_b>_b. With X = 0 this is the
    flow's S_a for pure axes: <g_ab^2 |P_b x P_a|^2>_b - s |M_a x P_a|^2. Fields: P (3), n (1), Pi (6).
    Particle b stands for w_b particles (ones for a gas, the weights of a velocity quadrature)."""
    n = P.shape[0]
    N = 0.0
    for b in range(n):
        N += w[b]
    Fb = _spread_fields(P, X)
    F = Fb.shape[1]
    S0, S1, S2 = _field_moments(V, Fb, w)
    inv = 1.0 / (N - 1)
    S = np.empty(n)
    rate = np.empty(n)
    G1 = np.empty(F)
    G2 = np.empty(F)
    for a in range(n):
        _partner_sums(V[a, 0], V[a, 1], V[a, 2], S0, S1, S2, N, inv, isotropic, G1, G2)
        m0, m1, m2 = G1[0], G1[1], G1[2]
        M2 = m0 * m0 + m1 * m1 + m2 * m2
        na = Fb[a, 3]
        # tr(Pi_a B) with B = <g^2 Pi_b>_b
        tr = _pi_dot(Fb, a, G2[4], G2[5], G2[6], G2[7], G2[8], G2[9])
        MPiM = (
            Fb[a, 4] * m0 * m0
            + Fb[a, 5] * m1 * m1
            + Fb[a, 6] * m2 * m2
            + 2.0 * (Fb[a, 7] * m0 * m1 + Fb[a, 8] * m0 * m2 + Fb[a, 9] * m1 * m2)
        )
        S[a] = na * G2[3] - tr - s * (M2 * na - MPiM)
        if isotropic:  # partners are b != a: drop the self term (g_aa = 0 does it for the g weights)
            self_tr = _pi_dot(Fb, a, Fb[a, 4], Fb[a, 5], Fb[a, 6], Fb[a, 7], Fb[a, 8], Fb[a, 9])
            S[a] -= (4.0 / 3.0) * (na * na - self_tr) / N
        p0, p1, p2 = P[a, 0], P[a, 1], P[a, 2]
        pp = p0 * p0 + p1 * p1 + p2 * p2
        if pp > 1e-28:
            Mu = m0 * p0 + m1 * p1 + m2 * p2
            Mxu2 = M2 - Mu * Mu / pp
        else:
            Mxu2 = 2.0 * M2 / 3.0
        rate[a] = -2.0 * g2[a] + s * (M2 - 0.5 * Mxu2)
    return S, rate


@njit(cache=True)
def _spread_fields(P, X):
    """Per particle b the ten fields of ``spread_source``: P_b (3), n_b = |P_b|^2 + X_b, and Pi_b
    (xx, yy, zz, xy, xz, yz) = P_b P_b^T + (X_b / 2)(1 - u_b u_b^T) (isotropic X_b / 3 where P_b = 0)."""
    n = P.shape[0]
    Fb = np.empty((n, 10))
    for b in range(n):
        p0, p1, p2 = P[b, 0], P[b, 1], P[b, 2]
        pp = p0 * p0 + p1 * p1 + p2 * p2
        x = X[b]
        Fb[b, 0] = p0
        Fb[b, 1] = p1
        Fb[b, 2] = p2
        Fb[b, 3] = pp + x
        if pp > 1e-28:
            wt = 0.5 * x / pp
            iso = 0.5 * x
        else:
            wt = 0.0
            iso = x / 3.0
        Fb[b, 4] = p0 * p0 + iso - wt * p0 * p0
        Fb[b, 5] = p1 * p1 + iso - wt * p1 * p1
        Fb[b, 6] = p2 * p2 + iso - wt * p2 * p2
        Fb[b, 7] = (1.0 - wt) * p0 * p1
        Fb[b, 8] = (1.0 - wt) * p0 * p2
        Fb[b, 9] = (1.0 - wt) * p1 * p2
    return Fb


@njit(cache=True, inline="always")
def _pi_dot(Fb, a, bxx, byy, bzz, bxy, bxz, byz):
    """tr(Pi_a B) for the symmetric Pi_a in Fb[a, 4:10] and a symmetric B given the same way
    (xx, yy, zz, xy, xz, yz: off-diagonals twice)."""
    return Fb[a, 4] * bxx + Fb[a, 5] * byy + Fb[a, 6] * bzz + 2.0 * (Fb[a, 7] * bxy + Fb[a, 8] * bxz + Fb[a, 9] * byz)
