"""Compiled (numba) kernels on N-spin state vectors in the mass basis.

Layout (shared by every function here): a state vector of the full space has length 2^N
and is indexed by the basis-state integer s itself. Site a (particle a) is bit N-1-a of s
(site 0 is the most significant bit, as in QuSpin), and a set bit means spin up, i.e.
sigma_3 = +1 in the mass basis (nu_1). Functions take *bit positions* p = N-1-a; the Python
layer converts. (QuSpin's own full basis lists the same states in descending order, index
2^N-1-s; its fixed-magnetisation bases list them in ``basis.states``.)

Kernels that touch the whole vector run in parallel chunks (numba ``prange``); the number
of threads follows NUMBA_NUM_THREADS (default: all cores).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_CHUNK = 4096  # states per parallel chunk


@njit(cache=True)
def _nchunks(dim):
    return max(1, (dim + _CHUNK - 1) // _CHUNK)


# ---------------------------------------------------------------------- states


@njit(cache=True)
def product_state(up, down):
    """The product state (x)_a (up[a] |1> + down[a] |0>) as a 2^N vector (site 0 = MSB)."""
    n = up.shape[0]
    v = np.zeros(1 << n, dtype=np.complex128)
    v[0] = 1.0
    size = 1
    for a in range(n):
        for i in range(size - 1, -1, -1):
            x = v[i]
            v[2 * i + 1] = x * up[a]
            v[2 * i] = x * down[a]
        size *= 2
    return v


@njit(cache=True, inline="always")
def _zz_energy(state, n, hz, jz, z):
    """Diagonal element of H for a basis state: sum_p hz_p z_p + sum_{p<q} jz_pq z_p z_q,
    z_p = +-1 the bit p of ``state`` (``z`` is scratch of length n)."""
    for p in range(n):
        z[p] = 2.0 * ((state >> p) & 1) - 1.0
    acc = 0.0
    for p in range(n):
        t = hz[p]
        for q in range(p + 1, n):
            t += jz[p, q] * z[q]
        acc += t * z[p]
    return acc


# ---------------------------------------------------------------------- Hamiltonian


@njit(parallel=True, cache=True)
def diagonal(n, hz, jz):
    """Diagonal of H: sum_p hz[p] z_p + sum_{p<q} jz[p, q] z_p z_q (z = +-1, bit positions)."""
    dim = 1 << n
    out = np.empty(dim)
    nch = _nchunks(dim)
    for c in prange(nch):
        z = np.empty(n)
        for i in range(c * _CHUNK, min(dim, (c + 1) * _CHUNK)):
            out[i] = _zz_energy(i, n, hz, jz, z)
    return out


@njit(parallel=True, cache=True)
def gershgorin(n, diag, flip):
    """Rigorous spectral bounds (min_i d_i - r_i, max_i d_i + r_i), r_i the off-diagonal
    row sum of |H| (flip[p, q] >= 0 is the flip-flop element of bits p, q)."""
    dim = 1 << n
    nch = _nchunks(dim)
    lo = np.empty(nch)
    hi = np.empty(nch)
    for c in prange(nch):
        l, h = np.inf, -np.inf
        for i in range(c * _CHUNK, min(dim, (c + 1) * _CHUNK)):
            r = 0.0
            for p in range(n):
                if (i >> p) & 1:
                    for q in range(n):
                        if not (i >> q) & 1:
                            r += abs(flip[p, q])
            l = min(l, diag[i] - r)
            h = max(h, diag[i] + r)
        lo[c] = l
        hi[c] = h
    return lo.min(), hi.max()


@njit(cache=True)
def _bits(i, n, ups, downs):
    nu = 0
    nd = 0
    for p in range(n):
        if (i >> p) & 1:
            ups[nu] = p
            nu += 1
        else:
            downs[nd] = p
            nd += 1
    return nu, nd


_BLOCK_BITS = 11  # the matrix-free product works on blocks of 2^11 states (32 kB)


@njit(cache=True)
def _block_bits(n):
    return min(n, _BLOCK_BITS)


@njit(cache=True)
def _add_flips(v, acc, hb, lb, n, flip):
    """acc[l] += sum over antiparallel bit pairs (p, q) of flip[p, q] v[s ^ m_pq] for the
    states s = hb * 2^lb + l of one block. Pairs are looped outside the states, so the inner
    loops run over contiguous runs of the block (vectorisable): both bits above the block
    -> one partner block; one bit above -> runs of 2^p states; both inside -> in-block."""
    size = 1 << lb
    base = hb << lb
    for q in range(n):
        for p in range(q):
            f = flip[p, q]
            if f == 0.0:
                continue
            if p >= lb:
                if ((hb >> (p - lb)) ^ (hb >> (q - lb))) & 1:
                    src = base ^ (1 << p) ^ (1 << q)
                    for l in range(size):
                        acc[l] += f * v[src + l]
            elif q >= lb:
                qb = (hb >> (q - lb)) & 1
                src = base ^ (1 << q)
                run = 1 << p
                # bit p of l must differ from bit q (= qb): runs of length 2^p
                start = 0 if qb == 1 else run
                for l0 in range(start, size, 2 * run):
                    for l in range(l0, l0 + run):
                        acc[l] += f * v[src + (l ^ run)]
            else:
                m = (1 << p) | (1 << q)
                runp = 1 << p
                runq = 1 << q
                for l2 in range(0, size, 2 * runq):
                    # bit q = 0 half: bit p must be 1; bit q = 1 half: bit p must be 0
                    for l1 in range(l2 + runp, l2 + runq, 2 * runp):
                        for l in range(l1, l1 + runp):
                            acc[l] += f * v[base + (l ^ m)]
                    for l1 in range(l2 + runq, l2 + 2 * runq, 2 * runp):
                        for l in range(l1, l1 + runp):
                            acc[l] += f * v[base + (l ^ m)]


@njit(parallel=True, cache=True)
def hmatvec(v, out, diag, flip, n):
    """out = H v without storing H: diagonal plus a flip-flop element flip[p, q] (symmetric)
    between every state and the state with its antiparallel bits p, q exchanged."""
    lb = _block_bits(n)
    size = 1 << lb
    for hb in prange(1 << (n - lb)):
        base = hb << lb
        acc = np.empty(size, dtype=np.complex128)
        for l in range(size):
            acc[l] = diag[base + l] * v[base + l]
        _add_flips(v, acc, hb, lb, n, flip)
        for l in range(size):
            out[base + l] = acc[l]


@njit(parallel=True, cache=True)
def cheb_step(cur, prev, diag, flip, n, shift, scale, outs, coefs, first):
    """One Chebyshev step on the rescaled Hamiltonian Ht = (H - shift) / |scale|:
    prev <- 2 Ht cur - prev (the next term, in place), then outs[j] += coefs[j] * prev
    for j >= first. With scale < 0 this computes prev <- Ht cur (the first step) instead."""
    lb = _block_bits(n)
    size = 1 << lb
    nout = outs.shape[0]
    inv = 1.0 / abs(scale)
    for hb in prange(1 << (n - lb)):
        base = hb << lb
        acc = np.empty(size, dtype=np.complex128)
        for l in range(size):
            acc[l] = (diag[base + l] - shift) * cur[base + l]
        _add_flips(cur, acc, hb, lb, n, flip)
        for l in range(size):
            i = base + l
            if scale > 0:
                new = 2.0 * inv * acc[l] - prev[i]
            else:
                new = inv * acc[l]
            prev[i] = new
            for j in range(first, nout):
                outs[j, i] += coefs[j] * new


@njit(cache=True)
def sector_csr(states, lookup, hz, jz, flip, n):
    """CSR arrays (indptr, indices, data) of H restricted to the basis ``states``
    (QuSpin's order); ``lookup[s]`` is the row of state s. Same matrix elements as
    ``hmatvec``. Column order within a row: diagonal, then flips in (up bit, down bit) order."""
    m = states.shape[0]
    indptr = np.empty(m + 1, dtype=np.int64)
    indptr[0] = 0
    ups = np.empty(n, dtype=np.int64)
    downs = np.empty(n, dtype=np.int64)
    total = 0
    for r in range(m):
        s = np.int64(states[r])
        nu, nd = _bits(s, n, ups, downs)
        cnt = 1
        for x in range(nu):
            for y in range(nd):
                if flip[ups[x], downs[y]] != 0.0:
                    cnt += 1
        total += cnt
        indptr[r + 1] = total
    indices = np.empty(total, dtype=np.int32)
    data = np.empty(total)
    z = np.empty(n)
    for r in range(m):
        s = np.int64(states[r])
        nu, nd = _bits(s, n, ups, downs)
        k = indptr[r]
        d = _zz_energy(s, n, hz, jz, z)
        indices[k] = r
        data[k] = d
        k += 1
        for x in range(nu):
            p = ups[x]
            for y in range(nd):
                q = downs[y]
                f = flip[p, q]
                if f != 0.0:
                    indices[k] = lookup[s ^ (1 << p) ^ (1 << q)]
                    data[k] = f
                    k += 1
    return indptr, indices, data


@njit(cache=True)
def fill_lookup(lookup, states):
    for r in range(states.shape[0]):
        lookup[np.int64(states[r])] = r


# ---------------------------------------------------------------------- observables


@njit(parallel=True, cache=True)
def one_body(v, n):
    """Per bit position p: (<X>, <Y>, <Z>) in the mass basis, and the squared norm."""
    lb = _block_bits(n)
    size = 1 << lb
    nb = 1 << (n - lb)
    zacc = np.zeros((nb, n))
    racc = np.zeros((nb, n), dtype=np.complex128)
    nacc = np.zeros(nb)
    for hb in prange(nb):
        base = hb << lb
        z = np.zeros(n)
        r = np.zeros(n, dtype=np.complex128)
        tot = 0.0
        # bits inside the block
        for p in range(lb):
            run = 1 << p
            for l0 in range(0, size, 2 * run):
                for l in range(l0, l0 + run):
                    x0 = v[base + l]  # bit p down
                    x1 = v[base + l + run]  # bit p up
                    w0 = x0.real * x0.real + x0.imag * x0.imag
                    w1 = x1.real * x1.real + x1.imag * x1.imag
                    z[p] += w1 - w0
                    r[p] += x1 * np.conj(x0)
        for l in range(size):
            x = v[base + l]
            tot += x.real * x.real + x.imag * x.imag
        # bits above the block: whole-block overlaps with the partner block
        for p in range(lb, n):
            if (hb >> (p - lb)) & 1:
                src = base ^ (1 << p)
                s = 0.0j
                for l in range(size):
                    s += v[base + l] * np.conj(v[src + l])
                r[p] = s
                z[p] = tot
            else:
                z[p] = -tot
        for p in range(n):
            zacc[hb, p] = z[p]
            racc[hb, p] = r[p]
        nacc[hb] = tot
    out = np.empty((n, 3))
    for p in range(n):
        rr = racc[:, p].sum()  # <up|rho|down>
        out[p, 0] = 2.0 * rr.real
        out[p, 1] = -2.0 * rr.imag
        out[p, 2] = zacc[:, p].sum()
    return out, nacc.sum()


@njit(parallel=True, cache=True)
def two_body(v, n, p, q):
    """Reduced density matrix of bit positions p, q (4x4); local index 2 * (1 - bit_p) +
    (1 - bit_q), so index 0 is |up, up>."""
    dim = v.shape[0]
    lo = min(p, q)
    hi = max(p, q)
    count = dim >> 2
    nch = _nchunks(count)
    acc = np.zeros((nch, 4, 4), dtype=np.complex128)
    for c in prange(nch):
        amp = np.empty(4, dtype=np.complex128)
        for j in range(c * _CHUNK, min(count, (c + 1) * _CHUNK)):
            i = ((j >> lo) << (lo + 1)) | (j & ((1 << lo) - 1))
            i = ((i >> hi) << (hi + 1)) | (i & ((1 << hi) - 1))
            amp[0] = v[i | (1 << p) | (1 << q)]
            amp[1] = v[i | (1 << p)]
            amp[2] = v[i | (1 << q)]
            amp[3] = v[i]
            for r in range(4):
                for s in range(4):
                    acc[c, r, s] += amp[r] * np.conj(amp[s])
    out = np.zeros((4, 4), dtype=np.complex128)
    for c in range(nch):
        out += acc[c]
    return out


@njit(parallel=True, cache=True)
def vdot(a, b):
    """sum conj(a) * b."""
    dim = a.shape[0]
    nch = _nchunks(dim)
    acc = np.zeros(nch, dtype=np.complex128)
    for c in prange(nch):
        s = 0.0j
        for i in range(c * _CHUNK, min(dim, (c + 1) * _CHUNK)):
            s += np.conj(a[i]) * b[i]
        acc[c] = s
    return acc.sum()


# ---------------------------------------------------------------------- closed evolution


@njit(parallel=True, cache=True)
def apply_pair(v, p, q, e_uu, e_dd, b00, b01, b10, b11):
    """Apply a pair unitary that conserves S_3 on bit positions p (particle a) and q (b):
    phases e_uu, e_dd on |up up>, |down down> and the block [[b00, b01], [b10, b11]] on
    (|up down>, |down up>) (a's spin first)."""
    dim = v.shape[0]
    lo = min(p, q)
    hi = max(p, q)
    count = dim >> 2
    mp = 1 << p
    mq = 1 << q
    for j in prange(count):
        i = ((j >> lo) << (lo + 1)) | (j & ((1 << lo) - 1))
        i = ((i >> hi) << (hi + 1)) | (i & ((1 << hi) - 1))
        v[i | mp | mq] *= e_uu
        v[i] *= e_dd
        x = v[i | mp]
        y = v[i | mq]
        v[i | mp] = b00 * x + b01 * y
        v[i | mq] = b10 * x + b11 * y


@njit(parallel=True, cache=True)
def apply_phases(v, n, half_angle):
    """v[s] *= exp(i sum_p half_angle[p] z_p(s)): free precession exp(+i (w tau / 2) Z) of
    every bit p with a non-zero half angle."""
    dim = v.shape[0]
    nch = _nchunks(dim)
    for c in prange(nch):
        for i in range(c * _CHUNK, min(dim, (c + 1) * _CHUNK)):
            a = 0.0
            for p in range(n):
                if half_angle[p] != 0.0:
                    if (i >> p) & 1:
                        a += half_angle[p]
                    else:
                        a -= half_angle[p]
            v[i] *= complex(np.cos(a), np.sin(a))


@njit(cache=True)
def closed_steps(v, bits, blocks, pairs, free_half, record, out_pos):
    """Advance v through len(pairs) steps. pairs (steps, k, 2) particle indices with (-1, -1)
    padding; blocks[a, b] (N, N, 6) complex: e_uu, e_dd, b00, b01, b10, b11 of the pair
    unitary; free_half[a] = omega_a tau / 2 (precession of unpaired particles). Returns the
    list of steps (relative) after which the caller must record."""
    n = bits.shape[0]
    half = np.zeros(n)
    for s in range(pairs.shape[0]):
        for a in range(n):
            half[bits[a]] = free_half[a]
        for k in range(pairs.shape[1]):
            a = pairs[s, k, 0]
            b = pairs[s, k, 1]
            if a < 0:
                continue
            c = blocks[a, b]
            apply_pair(v, bits[a], bits[b], c[0], c[1], c[2], c[3], c[4], c[5])
            half[bits[a]] = 0.0
            half[bits[b]] = 0.0
        anyfree = False
        for p in range(n):
            if half[p] != 0.0:
                anyfree = True
        if anyfree:
            apply_phases(v, n, half)
        if record[s]:
            return s + 1
    return pairs.shape[0]


@njit(cache=True, inline="always")
def _popcount(x):
    """Number of up spins (set bits) of basis state x."""
    k = 0
    while x:
        x &= x - 1
        k += 1
    return k


@njit(parallel=True, cache=True)
def sector_weights(v, n):
    """sum of |v_s|^2 over the states s of each sector Nup = 0 .. N."""
    dim = v.shape[0]
    nch = _nchunks(dim)
    acc = np.zeros((nch, n + 1))
    for c in prange(nch):
        for i in range(c * _CHUNK, min(dim, (c + 1) * _CHUNK)):
            k = _popcount(i)
            w = v[i]
            acc[c, k] += w.real * w.real + w.imag * w.imag
    out = np.zeros(n + 1)
    for c in range(nch):
        out += acc[c]
    return out


@njit(parallel=True, cache=True)
def masked_random(n, allowed, seed):
    """A random vector supported on the sectors with allowed[Nup] true (Lanczos start)."""
    dim = 1 << n
    out = np.zeros(dim, dtype=np.complex128)
    nch = _nchunks(dim)
    for c in prange(nch):
        st = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(c + 1) * np.uint64(0xD1B54A32D192ED03)
        for i in range(c * _CHUNK, min(dim, (c + 1) * _CHUNK)):
            k = _popcount(i)
            st = st * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
            if allowed[k]:
                out[i] = ((st >> np.uint64(11)) * (1.0 / 9007199254740992.0)) - 0.5
    return out


# ---------------------------------------------------------------------- foreground (fresh partners)


@njit(cache=True)
def rho_bloch(rho):
    """Bloch vector of a 2x2 density matrix (index 0 = up)."""
    out = np.empty(3)
    out[0] = 2.0 * rho[0, 1].real
    out[1] = -2.0 * rho[0, 1].imag
    out[2] = (rho[0, 0] - rho[1, 1]).real
    return out


@njit(cache=True)
def foreground_steps(rho, rhoQ, U, free, meets, record, out, pos):
    """Tracked neutrino (2x2 rho, mass basis) meeting a fresh partner rhoQ in the steps where
    ``meets`` is true (the schedule's own draws, ``Schedule.meets``), with the 4x4 pair unitary
    U; the partner is traced out after its encounter. ``free`` holds the diagonal of the free
    one-step propagator. record[s]: store after step s."""
    Ud = U.conj().T
    for s in range(meets.shape[0]):
        if meets[s]:
            big = np.zeros((4, 4), dtype=np.complex128)
            for i in range(2):
                for j in range(2):
                    for k in range(2):
                        for l in range(2):
                            big[2 * i + k, 2 * j + l] = rho[i, j] * rhoQ[k, l]
            big = U @ big @ Ud
            for i in range(2):
                for j in range(2):
                    rho[i, j] = big[2 * i, 2 * j] + big[2 * i + 1, 2 * j + 1]
        else:
            rho[0, 1] *= free[0] * np.conj(free[1])
            rho[1, 0] *= free[1] * np.conj(free[0])
        if record[s]:
            out[pos, 0] = rho_bloch(rho)
            pos += 1
    return pos
