"""Time evolution psi(t) = exp(-i H t) psi(0) of the all-to-all Hamiltonian (mu t units).

Two methods, checked against each other, against QuSpin's full-basis evolution and against
dense ``scipy.linalg.expm`` in the tests:

``"chebyshev"`` (default)
    Matrix-free Chebyshev expansion on the full 2^N vector:
    exp(-i H tau) = exp(-i c tau) sum_k (2 - delta_k0) (-i)^k J_k(r tau) T_k((H - c)/r),
    with [c - r, c + r] enclosing the spectrum of the sectors the state occupies. The
    vectors T_k(...) psi do not depend on tau, so one recursion serves every output time of
    a window at once (cost ~ r * t_max matrix-vector products in total, instead of
    ~ 30 per output time for a Taylor/Krylov step). The series is cut where
    2 |J_k(r tau)| < tol / 100; the window's outputs are checked for norm conservation.
    H is never stored (``_kernels.hmatvec``): no build time, memory ~ (5 + outputs per
    window) * 16 * 2^N bytes. Because H conserves S_3, the full-vector evolution is the
    sector-by-sector evolution done in one pass (sectors never mix; the spectral bounds
    come from the occupied sectors only).

``"expm"``
    Sector by sector: for every magnetisation sector Nup = k the state occupies, QuSpin's
    ``spin_basis_1d(N, Nup=k)``, the sector matrix (fast numba builder, or QuSpin's generic
    ``hamiltonian`` with ``builder="quspin"``), and QuSpin's ``expm_multiply_parallel``
    (Al-Mohy-Higham Taylor method, OpenMP) from one output time to the next. With
    ``basis="full"`` one matrix over QuSpin's full basis instead (the check that sector by
    sector equals full basis). Stores H: ~12 bytes per non-zero, 2^N (1 + N(N-1)/4)
    non-zeros over all sectors.
"""

from __future__ import annotations

import numpy as np
import scipy.special

from . import _kernels
from .hamiltonian import basis_states, quspin_hamiltonian, sector_matrix, spin_basis

__all__ = ["spectral_bounds", "chebyshev_evolve", "expm_evolve"]

LANCZOS_ITERS = 60
MARGIN = 0.02  # relative widening of the Lanczos spectral interval
MAX_X = 250.0  # largest r * tau of one Chebyshev window (limits round-off growth)


def spectral_bounds(model, diag, allowed_sectors, *, seed=12345, iters=LANCZOS_ITERS):
    """(lo, hi, rigorous): an interval holding the spectrum of H on the allowed sectors.

    Lanczos extremal Ritz values from a random start in those sectors, widened by 2% of the
    width, and clipped to the rigorous Gershgorin interval (also returned)."""
    n = model.n
    glo, ghi = _kernels.gershgorin(n, diag, model.flip_bits)
    q = _kernels.masked_random(n, np.asarray(allowed_sectors, dtype=np.bool_), seed)
    nrm = np.sqrt(_kernels.vdot(q, q).real)
    if nrm == 0:
        return glo, ghi, (glo, ghi)
    q /= nrm
    q_prev = np.zeros_like(q)
    w = np.empty_like(q)
    alpha, beta = [], []
    b = 0.0
    for _ in range(min(iters, 1 << n)):
        _kernels.hmatvec(q, w, diag, model.flip_bits, n)
        a = _kernels.vdot(q, w).real
        alpha.append(a)
        w -= a * q
        w -= b * q_prev
        b = np.sqrt(_kernels.vdot(w, w).real)
        if b < 1e-10:
            break
        beta.append(b)
        q_prev, q = q, q_prev
        np.divide(w, b, out=q)
    from scipy.linalg import eigh_tridiagonal

    ev = eigh_tridiagonal(np.array(alpha), np.array(beta[: len(alpha) - 1]), eigvals_only=True)
    lo, hi = float(ev[0]), float(ev[-1])
    pad = MARGIN * (hi - lo) + 1e-3
    return max(lo - pad, glo), min(hi + pad, ghi), (glo, ghi)


def _cut(x, tol):
    """Number of Chebyshev terms for r tau = x: first k > x with 2 |J_k(x)| < tol / 100."""
    k = np.arange(int(x) + 1, int(x + 12 * max(x, 1.0) ** (1 / 3) + 80))
    small = np.flatnonzero(2 * np.abs(scipy.special.jv(k, x)) < tol / 100)
    return int(k[small[0]]) if small.size else int(k[-1])


def _window(model, diag, psi, taus, shift, scale, tol):
    n = model.n
    x = scale * taus
    cuts = np.array([_cut(xi, tol) for xi in x])
    kmax = int(cuts.max())
    k = np.arange(kmax + 1)
    coef = scipy.special.jv(k[:, None], x[None, :]).astype(complex)
    coef *= np.where(k == 0, 1.0, 2.0)[:, None] * ((-1j) ** (k % 4))[:, None]
    coef *= np.exp(-1j * shift * taus)[None, :]
    coef[k[:, None] > cuts[None, :]] = 0.0
    outs = coef[0][:, None] * psi[None, :]
    cur = psi.copy()
    nxt = np.empty_like(psi)
    first = int(np.sum(cuts < 1))
    _kernels.cheb_step(cur, nxt, diag, model.flip_bits, n, shift, -scale, outs, coef[1], first)
    for kk in range(2, kmax + 1):
        first = int(np.sum(cuts < kk))
        _kernels.cheb_step(nxt, cur, diag, model.flip_bits, n, shift, scale, outs, coef[kk], first)
        cur, nxt = nxt, cur
    return outs, kmax


def chebyshev_evolve(model, diag, psi0, times, observe, *, tol=1e-12, bounds, max_outputs=16, stats=None):
    """Evolve psi0 (2^N, normalised) and call observe(j, psi) at every times[j] (sorted,
    >= 0) in order. ``bounds`` = (lo, hi, rigorous) from ``spectral_bounds``."""
    lo, hi, rigorous = bounds
    times = np.asarray(times, float)
    m = times.size
    psi = psi0
    t0 = 0.0
    j = 0
    matvecs = 0
    while j < m and times[j] <= 0.0:
        observe(j, psi)
        j += 1
    norm0 = _kernels.vdot(psi0, psi0).real
    while j < m:
        shift, scale = 0.5 * (hi + lo), 0.5 * (hi - lo)
        if scale * (times[j] - t0) > MAX_X:
            # the next output is far: advance by windows of r tau = MAX_X first (same number of
            # matrix-vector products, bounded memory and round-off)
            tau = MAX_X / scale
            outs, kmax = _window(model, diag, psi, np.array([tau]), shift, scale, tol)
            matvecs += kmax
            drift = abs(_kernels.vdot(outs[0], outs[0]).real - norm0)
            if drift > max(1e3 * tol, 1e-9):
                if (lo, hi) != rigorous:
                    lo, hi = rigorous
                    continue
                raise RuntimeError(
                    f"Chebyshev evolution lost norm conservation ({drift:.2e}); "
                    "the spectral bounds are wrong. Please report this."
                )
            psi = outs[0].copy()
            t0 += tau
            continue
        j2 = j + 1
        while j2 < m and j2 - j < max_outputs and scale * (times[j2] - t0) <= MAX_X:
            j2 += 1
        taus = times[j:j2] - t0
        outs, kmax = _window(model, diag, psi, taus, shift, scale, tol)
        matvecs += kmax
        drift = max(abs(_kernels.vdot(o, o).real - norm0) for o in outs)
        if drift > max(1e3 * tol, 1e-9):
            if (lo, hi) != rigorous:  # the Lanczos interval missed part of the spectrum
                lo, hi = rigorous
                continue
            raise RuntimeError(
                f"Chebyshev evolution lost norm conservation ({drift:.2e}); "
                "the spectral bounds are wrong. Please report this."
            )
        for i in range(j2 - j):
            observe(j + i, outs[i])
        psi = outs[-1].copy()
        del outs
        t0 = float(times[j2 - 1])
        j = j2
    if stats is not None:
        stats["matvecs"] = stats.get("matvecs", 0) + matvecs
        stats["bounds"] = [float(lo), float(hi)]
    return psi


def expm_evolve(model, psi0, times, observe, *, basis="sectors", builder="fast", tol=None, stats=None):
    """Evolve psi0 (2^N) sector by sector (or in QuSpin's full basis) with QuSpin's
    ``expm_multiply_parallel`` and call observe(j, psi_full) at every times[j]."""
    from quspin.tools.evolution import expm_multiply_parallel

    n = model.n
    times = np.asarray(times, float)
    weights = _kernels.sector_weights(psi0, n)
    if basis == "full":
        bases = [spin_basis(n)]
    else:
        bases = [spin_basis(n, k) for k in range(n + 1) if weights[k] > 0]
    blocks = []
    lookup = np.full(1 << n, -1, dtype=np.int32) if builder == "fast" else None
    for b in bases:
        states = basis_states(b)
        if builder == "fast":
            H = sector_matrix(model, states, lookup)
        else:
            H = quspin_hamiltonian(model, b).tocsr()
        v = np.ascontiguousarray(psi0[states])
        blocks.append([states, H, v, None, np.zeros(2 * v.size, dtype=complex)])
    if stats is not None:
        stats["sectors"] = len(blocks)
        stats["dimension"] = int(sum(b[0].size for b in blocks))
        stats["nnz"] = int(sum(b[1].nnz for b in blocks))
    full = np.zeros(1 << n, dtype=complex)
    t_prev = 0.0
    dt_prev = None
    for j, t in enumerate(times):
        dt = float(t - t_prev)
        for blk in blocks:
            states, H, v, U, work = blk
            if dt > 0:
                if U is None:
                    U = blk[3] = expm_multiply_parallel(H, a=-1j * dt, dtype=np.complex128)
                elif dt != dt_prev:
                    U.set_a(-1j * dt)
                U.dot(v, work_array=work, overwrite_v=True, tol=tol)
            full[states] = v
        if dt > 0:
            dt_prev = dt
        observe(j, full)
        t_prev = float(t)
    return full
