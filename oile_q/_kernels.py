"""Compiled (numba) kernels: counter-based random numbers, schedule generation and the
OILE encounter map on Bloch vectors.

Everything here works in the *mass* basis, where B = (0, 0, 1): the vacuum term is a
rotation about z and the pair Hamiltonian conserves total S_3 (docs/conventions.md, The encounter).

The exact pair propagator over one step. With S = omega_a + omega_b, D = omega_a - omega_b
and step duration tau,

    U = R_z(both, -S tau / 2) * U',   U' = exp(-i [phi SWAP - (D tau / 4)(Z_a - Z_b)])

up to a global phase, with phi = gamma * g_ab. U' multiplies |uu> and |dd> by e^{-i phi}
and acts on the {|ud>, |du>} block as exp(-i (phi X - delta Z)), delta = D tau / 2:

    [[alpha, beta], [beta, alpha']],  alpha = cos W + i delta sin W / W,
    alpha' = conj(alpha),  beta = -i phi sin W / W,  W = sqrt(phi^2 + delta^2).

The reduced one-body density matrices of U' (rho_a x rho_b) U'^dagger are written out
element by element below (about 40 complex multiplications, no LAPACK, no 4x4 matrices).
``oile_q.encounter`` checks this against scipy.linalg.expm of the 4x4 Hamiltonian.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .conventions import PROPAGATORS

MODES = {name: i for i, name in enumerate(PROPAGATORS)}  # propagator name -> kernel mode
MODE_EXACT = MODES["exact"]
MODE_SPLIT = MODES["split"]
MODE_SYMMETRIC = MODES["symmetric"]

_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_STEP = np.uint64(0xD1B54A32D192ED03)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0


@njit(cache=True)
def _mix(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def _stream_start(seed, step):
    """Initial splitmix64 state for one step: a counter-based stream, so any step can be
    regenerated on its own and chunking never changes the schedule."""
    return _mix(np.uint64(seed) * _GOLD + np.uint64(step) * _STEP)


@njit(cache=True)
def _uniform(state):
    state = state + _GOLD
    return state, (_mix(state) >> _S11) * _INV53


@njit(cache=True)
def _shuffle(arr, m, state):
    """Fisher-Yates shuffle of arr[:m] in place with the counter-based stream; returns the state."""
    for i in range(m - 1, 0, -1):
        state, u = _uniform(state)
        j = int(u * (i + 1))
        if j > i:
            j = i
        t = arr[i]
        arr[i] = arr[j]
        arr[j] = t
    return state


@njit(cache=True)
def _pair_up(slots, order, m):
    """Pair the first m entries of ``order`` in turn: slots[k] = (order[2k], order[2k + 1])."""
    for k in range(m // 2):
        slots[k, 0] = order[2 * k]
        slots[k, 1] = order[2 * k + 1]


@njit(cache=True)
def matching_chunk(seed, start, count, n):
    """Uniformly random perfect matchings (Fisher-Yates) for steps start .. start+count-1."""
    out = np.empty((count, n // 2, 2), dtype=np.int32)
    perm = np.empty(n, dtype=np.int32)
    for s in range(count):
        state = _stream_start(seed, start + s)
        for i in range(n):
            perm[i] = i
        state = _shuffle(perm, n, state)
        _pair_up(out[s], perm, n)
    return out


@njit(cache=True)
def poisson_chunk(seed, start, count, n, p):
    """Each particle takes part with probability p; the chosen ones are paired at random.

    If an odd number m is chosen, one more particle joins or one drops out with equal
    odds, so that E[2 floor] = E[m] = N p and every particle meets a partner with
    probability exactly p per step (as the Poisson master equation assumes).
    Unused pair slots hold (-1, -1).
    """
    out = np.full((count, n // 2, 2), -1, dtype=np.int32)
    chosen = np.empty(n, dtype=np.int32)
    others = np.empty(n, dtype=np.int32)
    for s in range(count):
        state = _stream_start(seed, start + s)
        m = 0
        r = 0
        for i in range(n):
            state, u = _uniform(state)
            if u < p:
                chosen[m] = i
                m += 1
            else:
                others[r] = i
                r += 1
        if m % 2 == 1:
            state, u = _uniform(state)
            if u < 0.5 and r > 0:
                state, u = _uniform(state)
                j = int(u * r)
                if j >= r:
                    j = r - 1
                chosen[m] = others[j]
                m += 1
        state = _shuffle(chosen, m, state)
        _pair_up(out[s], chosen, m)
    return out


@njit(cache=True)
def foreground_meets_chunk(seed, start, count, p):
    """Whether the foreground neutrino meets a partner in steps start .. start+count-1
    under Poisson timing: the same draw as ``foreground_steps`` makes."""
    out = np.empty(count, dtype=np.bool_)
    for s in range(count):
        state = _stream_start(seed, start + s)
        state, u = _uniform(state)
        out[s] = u < p
    return out


@njit(cache=True)
def round_robin_chunk(start, count, n):
    """Circle-method 1-factorization of K_n (n even): round r pairs (r, n-1) and
    ((r+i) mod (n-1), (r-i) mod (n-1)) for i = 1 .. n/2 - 1."""
    out = np.empty((count, n // 2, 2), dtype=np.int32)
    m = n - 1
    for s in range(count):
        r = (start + s) % m
        out[s, 0, 0] = r
        out[s, 0, 1] = m
        for i in range(1, n // 2):
            out[s, i, 0] = (r + i) % m
            out[s, i, 1] = (r - i + m) % m
    return out


# ---------------------------------------------------------------------- encounter


@njit(cache=True)
def pair_coeffs(phi, delta):
    """Coefficients of U' (module docstring): cos W, delta sin W / W, phi sin W / W,
    cos phi, sin phi."""
    w = np.sqrt(phi * phi + delta * delta)
    sw = np.sin(w) / w if w > 1e-300 else 1.0
    return np.cos(w), delta * sw, phi * sw, np.cos(phi), np.sin(phi)


@njit(cache=True)
def pair_blocks_flat(wa, wb, phi, mode, out):
    """The pair unitary in the mass basis for 1-D arrays of vacuum angles wa = omega_a tau,
    wb = omega_b tau and kicks phi: out[i] = (e_uu, e_dd, b00, b01, b10, b11), the phases of
    |uu> and |dd> and the {|ud>, |du>} block, global phase included (module docstring):
    "exact" exp(-i [tau H_vac + phi SWAP]); "split" the vacuum rotations after the SWAP power;
    "symmetric" half vacuum, SWAP power, half vacuum. The one closed form of every engine's
    encounter (oile on Bloch vectors, closed on state vectors, circuit gate matrices)."""
    for i in range(wa.shape[0]):
        delta = 0.5 * (wa[i] - wb[i])
        sigma = 0.5 * (wa[i] + wb[i])
        if mode == MODE_EXACT:
            cw, dsw, psw, cph, sph = pair_coeffs(phi[i], delta)
            out[i, 2] = complex(cw, dsw)
            out[i, 5] = complex(cw, -dsw)
            out[i, 3] = complex(0.0, -psw)
            out[i, 4] = complex(0.0, -psw)
        else:
            c = np.cos(phi[i])
            s = np.sin(phi[i])
            ed = complex(np.cos(delta), np.sin(delta))
            out[i, 2] = ed * c
            out[i, 5] = np.conj(ed) * c
            if mode == MODE_SPLIT:
                out[i, 3] = complex(0.0, -s) * ed
                out[i, 4] = complex(0.0, -s) * np.conj(ed)
            else:
                out[i, 3] = complex(0.0, -s)
                out[i, 4] = complex(0.0, -s)
        out[i, 0] = complex(np.cos(sigma - phi[i]), np.sin(sigma - phi[i]))
        out[i, 1] = complex(np.cos(sigma + phi[i]), -np.sin(sigma + phi[i]))


@njit(cache=True)
def apply_pair(xa, ya, za, xb, yb, zb, cw, dsw, psw, cph, sph):
    """One-body Bloch vectors after U' (coefficients from ``pair_coeffs``) on a product state."""
    alpha = complex(cw, dsw)
    alphap = complex(cw, -dsw)
    beta = complex(0.0, -psw)
    cb = complex(0.0, psw)
    eph = complex(cph, -sph)
    ceph = complex(cph, sph)
    a00 = 0.5 * (1.0 + za)
    a11 = 0.5 * (1.0 - za)
    a01 = complex(0.5 * xa, -0.5 * ya)
    a10 = complex(0.5 * xa, 0.5 * ya)
    b00 = 0.5 * (1.0 + zb)
    b11 = 0.5 * (1.0 - zb)
    b01 = complex(0.5 * xb, -0.5 * yb)
    b10 = complex(0.5 * xb, 0.5 * yb)
    abs_a2 = cw * cw + dsw * dsw
    abs_b2 = psw * psw
    ra00 = a00 * b00 + abs_a2 * a00 * b11 + abs_b2 * a11 * b00 + 2.0 * (alpha * cb * a01 * b10).real
    ra01 = eph * (a00 * b01 * cb + a01 * b00 * alpha) + ceph * (alpha * a01 * b11 + beta * a11 * b01)
    rb00 = b00 * a00 + abs_a2 * b00 * a11 + abs_b2 * b11 * a00 + 2.0 * (alphap * cb * b01 * a10).real
    rb01 = eph * (b00 * a01 * cb + b01 * a00 * alphap) + ceph * (alphap * b01 * a11 + beta * b11 * a01)
    return (2.0 * ra01.real, -2.0 * ra01.imag, 2.0 * ra00 - 1.0, 2.0 * rb01.real, -2.0 * rb01.imag, 2.0 * rb00 - 1.0)


@njit(cache=True)
def _rot(x, y, c, s):
    return c * x - s * y, s * x + c * y


@njit(cache=True)
def encounter_cs(xa, ya, za, xb, yb, zb, phi, wta, wtb, ca, sa, cb, sb, mode):
    """``encounter`` with the per-particle half-angle cosines and sines precomputed:
    ca = cos(wta/2), sa = sin(wta/2) (and b); rotations are by -wt or -wt/2."""
    if mode == MODE_EXACT:
        cw, dsw, psw, cph, sph = pair_coeffs(phi, 0.5 * (wta - wtb))
        xa, ya, za, xb, yb, zb = apply_pair(xa, ya, za, xb, yb, zb, cw, dsw, psw, cph, sph)
        # common rotation by chi = -(wta + wtb)/2
        c = ca * cb - sa * sb
        s = -(sa * cb + ca * sb)
        xa, ya = _rot(xa, ya, c, s)
        xb, yb = _rot(xb, yb, c, s)
    elif mode == MODE_SPLIT:
        xa, ya, za, xb, yb, zb = apply_pair(
            xa, ya, za, xb, yb, zb, np.cos(phi), 0.0, np.sin(phi), np.cos(phi), np.sin(phi)
        )
        xa, ya = _rot(xa, ya, ca * ca - sa * sa, -2.0 * sa * ca)
        xb, yb = _rot(xb, yb, cb * cb - sb * sb, -2.0 * sb * cb)
    else:
        xa, ya = _rot(xa, ya, ca, -sa)
        xb, yb = _rot(xb, yb, cb, -sb)
        xa, ya, za, xb, yb, zb = apply_pair(
            xa, ya, za, xb, yb, zb, np.cos(phi), 0.0, np.sin(phi), np.cos(phi), np.sin(phi)
        )
        xa, ya = _rot(xa, ya, ca, -sa)
        xb, yb = _rot(xb, yb, cb, -sb)
    return xa, ya, za, xb, yb, zb


@njit(cache=True)
def encounter(xa, ya, za, xb, yb, zb, phi, wta, wtb, mode):
    """Full encounter in the mass basis: kick phi = gamma g_ab and vacuum angles
    wta = omega_a tau, wtb = omega_b tau, with the chosen propagator."""
    return encounter_cs(
        xa,
        ya,
        za,
        xb,
        yb,
        zb,
        phi,
        wta,
        wtb,
        np.cos(0.5 * wta),
        np.sin(0.5 * wta),
        np.cos(0.5 * wtb),
        np.sin(0.5 * wtb),
        mode,
    )


@njit(cache=True)
def encounter_batch(Pa, Pb, phi, wta, wtb, mode):
    """Vectorised ``encounter`` over arrays of pairs; returns new (Pa, Pb)."""
    n = Pa.shape[0]
    outa = np.empty_like(Pa)
    outb = np.empty_like(Pb)
    for i in range(n):
        r = encounter(Pa[i, 0], Pa[i, 1], Pa[i, 2], Pb[i, 0], Pb[i, 1], Pb[i, 2], phi[i], wta[i], wtb[i], mode)
        outa[i, 0], outa[i, 1], outa[i, 2], outb[i, 0], outb[i, 1], outb[i, 2] = r
    return outa, outb


@njit(cache=True)
def pair_table(wt, vel, gamma):
    """Exact-propagator coefficients for every ordered pair (a, b): (N, N, 7) with
    cos W, delta sin W / W, phi sin W / W, cos phi, sin phi, cos chi, sin chi. Worth it
    when a run has many more encounters than N^2 (the trigonometry is then paid once)."""
    n = wt.shape[0]
    tab = np.empty((n, n, 7))
    for a in range(n):
        for b in range(n):
            g = 1.0 - (vel[a, 0] * vel[b, 0] + vel[a, 1] * vel[b, 1] + vel[a, 2] * vel[b, 2])
            cw, dsw, psw, cph, sph = pair_coeffs(gamma * g, 0.5 * (wt[a] - wt[b]))
            chi = -0.5 * (wt[a] + wt[b])
            tab[a, b, 0] = cw
            tab[a, b, 1] = dsw
            tab[a, b, 2] = psw
            tab[a, b, 3] = cph
            tab[a, b, 4] = sph
            tab[a, b, 5] = np.cos(chi)
            tab[a, b, 6] = np.sin(chi)
    return tab


@njit(cache=True)
def ensemble_steps(P, wt, vel, pairs, gamma, mode, record, out, out_pos, paired, table):
    """Advance the ensemble P (N, 3, mass basis, in place) through len(pairs) steps.

    wt: omega_a * tau per particle; pairs: (steps, k, 2) int32 with (-1, -1) padding;
    record[s] true -> copy P into out[out_pos] after step s. Unpaired particles precess
    freely for the step. ``table``: ``pair_table`` output (exact mode) or an empty
    (0, 0, 7) array to compute coefficients per encounter. Returns the next out position.
    """
    n = P.shape[0]
    ch = np.cos(0.5 * wt)
    sh = np.sin(0.5 * wt)
    cf = np.cos(wt)
    sf = np.sin(wt)
    use_table = table.shape[0] == n and mode == MODE_EXACT
    for s in range(pairs.shape[0]):
        for i in range(n):
            paired[i] = False
        for k in range(pairs.shape[1]):
            a = pairs[s, k, 0]
            b = pairs[s, k, 1]
            if a < 0:
                continue
            xa, ya, za, xb, yb, zb = P[a, 0], P[a, 1], P[a, 2], P[b, 0], P[b, 1], P[b, 2]
            if use_table:
                t = table[a, b]
                r = apply_pair(xa, ya, za, xb, yb, zb, t[0], t[1], t[2], t[3], t[4])
                c = t[5]
                sn = t[6]
                P[a, 0] = c * r[0] - sn * r[1]
                P[a, 1] = sn * r[0] + c * r[1]
                P[a, 2] = r[2]
                P[b, 0] = c * r[3] - sn * r[4]
                P[b, 1] = sn * r[3] + c * r[4]
                P[b, 2] = r[5]
            else:
                g = 1.0 - (vel[a, 0] * vel[b, 0] + vel[a, 1] * vel[b, 1] + vel[a, 2] * vel[b, 2])
                phi = gamma * g
                r = encounter_cs(xa, ya, za, xb, yb, zb, phi, wt[a], wt[b], ch[a], sh[a], ch[b], sh[b], mode)
                P[a, 0], P[a, 1], P[a, 2], P[b, 0], P[b, 1], P[b, 2] = r
            paired[a] = True
            paired[b] = True
        for i in range(n):
            if not paired[i]:
                x, y = _rot(P[i, 0], P[i, 1], cf[i], -sf[i])
                P[i, 0] = x
                P[i, 1] = y
        if record[s]:
            out[out_pos] = P
            out_pos += 1
    return out_pos


@njit(cache=True)
def foreground_steps(P, Q, phi, wt, seed, start, nsteps, p, mode, record, out, out_pos):
    """Foreground neutrino P (3,, mass basis, in place) meeting a fresh partner in state Q
    (mass basis): every step if p >= 1, else with probability p per step (drawn from the
    counter-based stream keyed by (seed, step)), free precession otherwise."""
    cf = np.cos(wt)
    sf = np.sin(wt)
    for s in range(nsteps):
        meet = True
        if p < 1.0:
            state = _stream_start(seed, start + s)
            state, u = _uniform(state)
            meet = u < p
        if meet:
            r = encounter(P[0], P[1], P[2], Q[0], Q[1], Q[2], phi, wt, wt, mode)
            P[0] = r[0]
            P[1] = r[1]
            P[2] = r[2]
        else:
            x, y = _rot(P[0], P[1], cf, -sf)
            P[0] = x
            P[1] = y
        if record[s]:
            out[out_pos, 0] = P
            out_pos += 1
    return out_pos
