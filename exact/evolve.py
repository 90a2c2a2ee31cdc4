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
    The bounds and the propagation are ``oile_q.exact.chebyshev`` (shared with method
    "beams"); here H is applied to 2^N vectors without being stored (``StateOperator``, the
    kernels ``_kernels.hmatvec`` and ``_kernels.cheb_step``): no build time, memory ~ (5 +
    outputs per window) * 16 * 2^N bytes. Because H conserves S_3, the full-vector evolution
    is the sector-by-sector evolution done in one pass (sectors never mix; the spectral
    bounds come from the occupied sectors only).

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

from collections.abc import Callable

import numpy as np

from . import _kernels
from .chebyshev import LANCZOS_ITERS, ChebyshevPropagator, lanczos_bounds
from .hamiltonian import Model, basis_states, quspin_hamiltonian, sector_matrix, spin_basis

__all__ = ["StateOperator", "spectral_bounds", "chebyshev_evolve", "expm_evolve"]


class StateOperator:
    """H/mu of ``model`` applied to full 2^N state vectors without storing it (``_kernels``):
    the ``chebyshev.Operator`` of the generic method.

    Parameters
    ----------
    model : Model
        The couplings.
    diag : ndarray (2^N,)
        ``model.diagonal()``.
    """

    def __init__(self, model: Model, diag: np.ndarray):
        self.n = model.n
        self.diag = diag
        self.flip = model.flip_bits

    def matvec(self, v: np.ndarray, out: np.ndarray) -> None:
        """out <- H v."""
        _kernels.hmatvec(v, out, self.diag, self.flip, self.n)

    def cheb_step(self, cur, prev, shift, scale, outs, coefs, first) -> None:
        """One step of the Chebyshev recursion (``_kernels.cheb_step``)."""
        _kernels.cheb_step(cur, prev, self.diag, self.flip, self.n, shift, scale, outs, coefs, first)

    def vdot(self, a: np.ndarray, b: np.ndarray) -> complex:
        """sum conj(a) * b (parallel).

        Returns
        -------
        complex
        """
        return _kernels.vdot(a, b)


def spectral_bounds(
    model: Model, diag: np.ndarray, allowed_sectors, *, seed: int = 12345, iters: int = LANCZOS_ITERS
) -> tuple[float, float, tuple[float, float]]:
    """An interval holding the spectrum of H on the allowed sectors.

    Parameters
    ----------
    model, diag : Model, ndarray (2^N,)
        The couplings of H and its diagonal (``model.diagonal()``).
    allowed_sectors : bool array (N + 1,)
        The sectors Nup the state occupies.
    seed, iters : int
        Lanczos start (a random vector on those sectors) and steps.

    Returns
    -------
    (lo, hi, rigorous)
        ``chebyshev.lanczos_bounds`` on those sectors, and the Gershgorin interval it is
        clipped to.
    """
    rigorous = _kernels.gershgorin(model.n, diag, model.flip_bits)
    q = _kernels.masked_random(model.n, np.asarray(allowed_sectors, dtype=np.bool_), seed)
    lo, hi = lanczos_bounds(StateOperator(model, diag), q, rigorous, iters=iters)
    return lo, hi, rigorous


def chebyshev_evolve(
    model: Model,
    diag: np.ndarray,
    psi0: np.ndarray,
    times,
    observe: Callable[[int, np.ndarray], None],
    *,
    tol: float = 1e-12,
    bounds: tuple,
    max_outputs: int = 16,
    stats: dict | None = None,
) -> np.ndarray:
    """Evolve psi0 (2^N, normalised) with the Chebyshev propagation and call observe(j, psi) at
    every times[j] (sorted, >= 0) in order.

    ``bounds`` = (lo, hi, rigorous) from ``spectral_bounds``; a window holds at most
    ``max_outputs`` output vectors; ``stats`` gets the products (``matvecs``) and the final
    ``bounds``.

    Returns
    -------
    ndarray
        The state at times[-1] (psi0 itself is not changed).
    """
    lo, hi, rigorous = bounds
    times = np.asarray(times, float)
    j = 0
    while j < times.size and times[j] <= 0.0:
        observe(j, psi0)
        j += 1
    prop = ChebyshevPropagator(StateOperator(model, diag), (lo, hi), rigorous, tol, max_outputs=max_outputs)
    first = j
    psi = prop.propagate(psi0.copy(), times[j:], observe=lambda i, v: observe(first + i, v))
    if stats is not None:
        stats["matvecs"] = stats.get("matvecs", 0) + prop.matvecs
        stats["bounds"] = [float(x) for x in prop.bounds]
    return psi


def expm_evolve(
    model: Model,
    psi0: np.ndarray,
    times,
    observe: Callable[[int, np.ndarray], None],
    *,
    basis: str = "sectors",
    builder: str = "fast",
    tol: float | None = None,
    stats: dict | None = None,
) -> np.ndarray:
    """Evolve psi0 (2^N) sector by sector (or in QuSpin's full basis, ``basis="full"``) with
    QuSpin's ``expm_multiply_parallel`` and call observe(j, psi_full) at every times[j].

    ``builder``: the fast sector builder or QuSpin's generic one ("quspin"); ``tol``: QuSpin's
    Taylor tolerance; ``stats`` gets the sectors, the dimension and the stored non-zeros.

    Returns
    -------
    ndarray
        The full state at times[-1].
    """
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
