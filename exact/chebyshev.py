"""Lanczos spectral bounds and Chebyshev propagation, shared by the two Chebyshev methods of ``exact``.

The generic method evolves 2^N state vectors (``evolve.py``, numba kernels in ``_kernels.py``),
the beams method the kept collective states chunk by chunk (``beams/propagators.py``, sector CSR
matrices and ``_beams_kernels.py``). Both expand

    exp(-i H tau) = exp(-i c tau) sum_k (2 - delta_k0) (-i)^k J_k(r tau) T_k((H - c)/r),

with [c - r, c + r] enclosing the spectrum of H on the space the state occupies:

* the interval comes from ``lanczos_bounds``: the extremal Ritz values of ``LANCZOS_ITERS``
  Lanczos steps from a random start, widened by ``MARGIN`` of the width and clipped to a rigorous
  (Gershgorin) interval. The centre c costs nothing (a phase); only the half-width r matters;
* the vectors T_k(...) psi do not depend on tau, so one recursion serves every output time of a
  window at once (``chebyshev_window``); the series of each output is cut where
  2 |J_k(r tau)| < tol/100 (``chebyshev_terms``): r tau + O((r tau)^(1/3)) + O(log 1/tol) terms;
* a window spans r tau <= ``MAX_X`` (the recursion's round-off growth); a farther output is
  reached by steps of r tau = ``MAX_X`` first;
* every output is checked for norm conservation, and a window is redone on the rigorous interval
  should the Lanczos one ever be too tight (``ChebyshevPropagator``).

The two methods differ only in how H is applied to a vector. That is the ``Operator`` protocol:
``matvec`` (Lanczos), ``cheb_step`` (one step of the recursion, which also adds the new term to
the open outputs) and ``vdot``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import scipy.special
from scipy.linalg import eigh_tridiagonal

__all__ = [
    "LANCZOS_ITERS",
    "MARGIN",
    "MAX_X",
    "Operator",
    "lanczos_bounds",
    "chebyshev_terms",
    "chebyshev_window",
    "ChebyshevPropagator",
]

LANCZOS_ITERS = 60
MARGIN = 0.02  # relative widening of the Lanczos spectral interval
MAX_X = 250.0  # largest r * tau of one Chebyshev window (limits round-off growth)


class Operator(Protocol):
    """How a Hamiltonian is applied to vectors: all the Chebyshev propagation needs of it."""

    def matvec(self, v: np.ndarray, out: np.ndarray) -> None:
        """out <- H v."""

    def cheb_step(
        self,
        cur: np.ndarray,
        prev: np.ndarray,
        shift: float,
        scale: float,
        outs: np.ndarray,
        coefs: np.ndarray,
        first: int,
    ) -> None:
        """prev <- 2 Ht cur - prev with Ht = (H - shift) / |scale| (prev <- Ht cur if scale < 0),
        then outs[j] += coefs[j] * prev for j >= first."""

    def vdot(self, a: np.ndarray, b: np.ndarray) -> complex:
        """sum conj(a) * b."""


def lanczos_bounds(
    op: Operator, start: np.ndarray, rigorous: tuple[float, float], *, iters: int = LANCZOS_ITERS
) -> tuple[float, float]:
    """An interval holding the spectrum of H on the span of ``start``'s Krylov space.

    Parameters
    ----------
    op : Operator
        The Hamiltonian (only ``matvec`` and ``vdot`` are used).
    start : ndarray
        Random start vector, supported where the state lives (e.g. its sectors); normalised in
        place.
    rigorous : (float, float)
        A rigorous interval (Gershgorin) the result is clipped to; returned as is when ``start``
        is zero.
    iters : int
        Lanczos steps (fewer if the Krylov space closes).

    Returns
    -------
    (float, float)
        The extremal Ritz values widened by ``MARGIN`` of their distance (+ 1e-3), clipped to
        ``rigorous``.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from oile_q.exact.beams.propagators import SectorOperator
    >>> op = SectorOperator(sp.diags(np.linspace(-2.0, 3.0, 50)).tocsr())
    >>> lo, hi = lanczos_bounds(op, np.ones(50), (-2.5, 3.5))
    >>> bool(-2.5 <= lo < -2.0 and 3.0 < hi <= 3.5)
    True
    """
    q = start
    nrm = np.sqrt(op.vdot(q, q).real)
    if nrm == 0:
        return rigorous
    q /= nrm
    q_prev = np.zeros_like(q)
    w = np.empty_like(q)
    alpha, beta = [], []
    b = 0.0
    for _ in range(min(iters, q.size)):
        op.matvec(q, w)
        w -= b * q_prev
        a = op.vdot(q, w).real
        w -= a * q
        alpha.append(a)
        b = np.sqrt(op.vdot(w, w).real)
        if b < 1e-10:
            break
        beta.append(b)
        q_prev, q = q, q_prev
        np.divide(w, b, out=q)
    ev = eigh_tridiagonal(np.array(alpha), np.array(beta[: len(alpha) - 1]), eigvals_only=True)
    lo, hi = float(ev[0]), float(ev[-1])
    pad = MARGIN * (hi - lo) + 1e-3
    return max(lo - pad, rigorous[0]), min(hi + pad, rigorous[1])


def chebyshev_terms(x: float, tol: float) -> int:
    """Index of the last Chebyshev term kept for r tau = x.

    Parameters
    ----------
    x : float
        r tau > 0 (half-width of the interval times the time step).
    tol : float
        Accuracy: the series is cut at the first k > x with 2 |J_k(x)| < tol / 100.

    Returns
    -------
    int
        That k.

    Examples
    --------
    >>> chebyshev_terms(100.0, 1e-12)
    147
    """
    k = np.arange(int(x) + 1, int(x + 12 * max(x, 1.0) ** (1 / 3) + 80))
    small = np.flatnonzero(2 * np.abs(scipy.special.jv(k, x)) < tol / 100)
    return int(k[small[0]]) if small.size else int(k[-1])


def chebyshev_window(
    op: Operator, psi: np.ndarray, taus: np.ndarray, shift: float, scale: float, tol: float, outs: np.ndarray
) -> int:
    """outs[i] <- exp(-i H taus[i]) psi for increasing taus >= 0 from one Chebyshev recursion.

    Parameters
    ----------
    op : Operator
        The Hamiltonian.
    psi : ndarray (D,)
        The state at tau = 0 (not changed).
    taus : ndarray (T,)
        Increasing times >= 0, scale * taus[-1] at most about ``MAX_X``.
    shift, scale : float
        Centre c and half-width r > 0 of an interval holding the spectrum.
    tol : float
        Truncation of each output's series (``chebyshev_terms``).
    outs : complex ndarray (T, D)
        Overwritten with the states.

    Returns
    -------
    int
        Recursion steps taken (Hamiltonian products).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from oile_q.exact.beams.propagators import SectorOperator
    >>> d = np.array([-1.0, 0.5, 2.0])
    >>> outs = np.empty((2, 3), dtype=complex)
    >>> psi = np.ones(3, dtype=complex)
    >>> steps = chebyshev_window(SectorOperator(sp.diags(d).tocsr()), psi, np.array([0.5, 2.0]), 0.5, 1.6, 1e-12, outs)
    >>> bool(np.allclose(outs[1], np.exp(-2j * d), atol=1e-13))
    True
    """
    x = scale * taus
    cuts = np.array([chebyshev_terms(xi, tol) if xi > 0 else 0 for xi in x])
    kmax = int(cuts.max())
    k = np.arange(kmax + 1)
    coef = scipy.special.jv(k[:, None], x[None, :]).astype(complex)
    coef *= np.where(k == 0, 1.0, 2.0)[:, None] * ((-1j) ** (k % 4))[:, None]
    coef *= np.exp(-1j * shift * taus)[None, :]
    coef[k[:, None] > cuts[None, :]] = 0.0
    np.multiply(coef[0][:, None], psi[None, :], out=outs)
    if kmax == 0:
        return 0
    cur = psi.copy()
    nxt = np.empty_like(psi)
    op.cheb_step(cur, nxt, shift, -scale, outs, coef[1], int(np.sum(cuts < 1)))
    for kk in range(2, kmax + 1):
        op.cheb_step(nxt, cur, shift, scale, outs, coef[kk], int(np.sum(cuts < kk)))
        cur, nxt = nxt, cur
    return kmax


class ChebyshevPropagator:
    """Chebyshev propagation of states under one Hamiltonian, window by window.

    Parameters
    ----------
    op : Operator
        The Hamiltonian.
    bounds : (float, float)
        Spectral interval to expand on (``lanczos_bounds``).
    rigorous : (float, float)
        Rigorous interval, used instead of ``bounds`` from the first window that loses norm
        conservation on.
    tol : float
        Truncation of each output's series (``chebyshev_terms``); norm drift beyond
        max(1e3 tol, 1e-9) relative counts as lost conservation.
    window_x : float
        Outputs share one recursion while it spans r tau <= window_x (at most ``MAX_X``).
    max_outputs : int, optional
        At most this many outputs per window (bounds the memory of the window's outputs).

    Attributes
    ----------
    matvecs, windows, fallbacks : int
        Recursion steps, output windows (tried) and switches to the rigorous interval so far.
    """

    def __init__(
        self,
        op: Operator,
        bounds: tuple[float, float],
        rigorous: tuple[float, float],
        tol: float,
        *,
        window_x: float = MAX_X,
        max_outputs: int | None = None,
    ):
        self.op = op
        self.bounds = bounds
        self.rigorous = rigorous
        self.tol = float(tol)
        self.window_x = float(window_x)
        self.max_outputs = max_outputs
        self.matvecs = 0
        self.windows = 0
        self.fallbacks = 0

    @property
    def halfwidth(self) -> float:
        """Half-width r of the current spectral interval.

        Returns
        -------
        float
        """
        return 0.5 * (self.bounds[1] - self.bounds[0])

    def propagate(
        self,
        psi: np.ndarray,
        taus,
        out: np.ndarray | None = None,
        observe: Callable[[int, np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """Evolve ``psi`` through the increasing times ``taus`` (>= 0, relative to now).

        The state at taus[i] is written to out[i] if ``out`` (complex (T, D)) is given, else to a
        buffer of the window, and handed to observe(i, state) if given; ``psi`` is left at
        taus[-1] (in place).

        Returns
        -------
        ndarray
            ``psi``.

        Raises
        ------
        RuntimeError
            A window lost norm conservation on the rigorous interval too (a bug).
        """
        taus = np.asarray(taus, float)
        norm0 = float(self.op.vdot(psi, psi).real)
        t0 = 0.0
        j = 0
        while j < taus.size:
            lo, hi = self.bounds
            shift, scale = 0.5 * (hi + lo), max(0.5 * (hi - lo), 1e-300)
            if scale * (taus[j] - t0) > MAX_X:  # the next output is far: a step of r tau = MAX_X first
                mid = np.array([t0 + MAX_X / scale])
                step = np.empty((1, psi.size), dtype=np.complex128)
                if self._checked_window(psi, mid - t0, shift, scale, step, norm0):
                    psi[:] = step[0]
                    t0 = float(mid[0])
                continue
            j2 = j + 1
            while j2 < taus.size and scale * (taus[j2] - t0) <= self.window_x:
                if self.max_outputs is not None and j2 - j >= self.max_outputs:
                    break
                j2 += 1
            outs = out[j:j2] if out is not None else np.empty((j2 - j, psi.size), dtype=np.complex128)
            self.windows += 1
            if not self._checked_window(psi, taus[j:j2] - t0, shift, scale, outs, norm0):
                continue
            if observe is not None:
                for i in range(j2 - j):
                    observe(j + i, outs[i])
            psi[:] = outs[-1]
            t0 = float(taus[j2 - 1])
            j = j2
        return psi

    def _checked_window(self, psi, taus, shift, scale, outs, norm0) -> bool:
        """One window; False if it lost norm conservation and is to be redone on the rigorous
        interval (RuntimeError if it already was)."""
        self.matvecs += chebyshev_window(self.op, psi, taus, shift, scale, self.tol, outs)
        drift = max(abs(float(self.op.vdot(o, o).real) - norm0) for o in outs)
        if drift <= max(1e3 * self.tol, 1e-9) * max(norm0, 1e-300):
            return True
        if self.bounds != self.rigorous:  # the Lanczos interval missed part of the spectrum
            self.bounds = self.rigorous
            self.fallbacks += 1
            return False
        raise RuntimeError(
            f"Chebyshev evolution lost norm conservation ({drift:.2e}); the spectral bounds are wrong. "
            "Please report this."
        )
