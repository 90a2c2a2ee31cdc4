"""Numba kernels of the multi-beam solver (``oile_q.exact.beams``): the Chebyshev step on a
real CSR sector Hamiltonian (one pass, no temporaries), H psi, and the J_g^i psi vectors.

Serial on purpose: the chunk vectors are 1e4-1e6 long, and the machines this runs on share
two cores between sessions.
"""

from __future__ import annotations

import numba

__all__ = ["cheb_step", "csr_matvec", "spin_vectors"]


@numba.njit(cache=True, nogil=True)
def csr_matvec(indptr, indices, data, v, out):
    """out <- H v for a real CSR matrix H and complex v."""
    n = v.shape[0]
    for r in range(n):
        acc_re = 0.0
        acc_im = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            x = v[indices[p]]
            d = data[p]
            acc_re += d * x.real
            acc_im += d * x.imag
        out[r] = complex(acc_re, acc_im)


@numba.njit(cache=True, nogil=True)
def spin_vectors(psi, src, dst, coef, m, out):
    """out[0..2] <- (J_x, J_y, J_z) psi for one beam, from its raising map
    J^+ |src> = coef |dst> (out is complex (3, D), overwritten) and its m values."""
    n = psi.shape[0]
    for r in range(n):
        out[0, r] = 0.0
        out[1, r] = 0.0
        out[2, r] = m[r] * psi[r]
    for p in range(src.shape[0]):
        s = src[p]
        d = dst[p]
        up = 0.5 * coef[p] * psi[s]  # (1/2) J^+ psi, at d
        dn = 0.5 * coef[p] * psi[d]  # (1/2) J^- psi, at s
        out[0, d] += up
        out[1, d] += -1j * up
        out[0, s] += dn
        out[1, s] += 1j * dn


@numba.njit(cache=True, nogil=True)
def cheb_step(indptr, indices, data, cur, prev, shift, scale, outs, coefs, first):
    """One Chebyshev step with Ht = (H - shift) / |scale| (H real CSR, vectors complex):
    prev <- 2 Ht cur - prev (the next term, in place), then outs[j] += coefs[j] * prev for
    j >= first. With scale < 0: prev <- Ht cur (the first step)."""
    n = cur.shape[0]
    first_step = scale < 0.0
    inv = 1.0 / abs(scale)
    nout = outs.shape[0]
    for r in range(n):
        acc_re = 0.0
        acc_im = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            x = cur[indices[p]]
            d = data[p]
            acc_re += d * x.real
            acc_im += d * x.imag
        h = (complex(acc_re, acc_im) - shift * cur[r]) * inv
        if first_step:
            t = h
        else:
            t = 2.0 * h - prev[r]
        prev[r] = t
        for j in range(first, nout):
            outs[j, r] += coefs[j] * t
