"""Numba kernel of the beams method (``oile_q.exact.beams``): the Chebyshev step on a real CSR
chunk Hamiltonian, one pass over the rows and no temporaries (``beams.propagators.SectorOperator``).

Serial on purpose: the chunk vectors are 1e4-1e6 long, and the machines this runs on share
two cores between sessions.
"""

from __future__ import annotations

import numba

__all__ = ["cheb_step"]


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
