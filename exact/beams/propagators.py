"""Propagators of the collective-spin evolution, chunk by chunk of whole sectors.

The spectral norm of H grows like mu N: in a sector of two beams of N/2 the diagonal
(4 mu/(N-1)) m_e m_x and the hops (2 mu/(N-1)) j^2 span ~ mu N/2 (measured half-width
r = 100, 400 mu for N = 256, 1024; ~ mu N/2.6). Two ways to cope with it:

Chebyshev per chunk (``SectorChebyshev``, any number of beams)
    Each chunk (consecutive whole sectors, about ``chunk_states`` states) is expanded with the
    shared Chebyshev propagation of ``oile_q.exact.chebyshev`` on its own spectral interval, so
    small sectors at the edges of the kept range get a narrower one. The error does not grow
    with r: the coefficients J_k(r tau) are bounded by 1 and the recursion is stable on
    [-1, 1]; round-off accumulates like eps r t (the conservation checks of S3, energy and
    <J_g^2> stay at 1e-12 relative in the benchmark). Outputs share one recursion while it
    spans r tau <= ``WINDOW_X``. A window that loses norm conservation is redone on the
    Gershgorin interval (``stats["bounds_fallbacks"]``). The cost is ~ r t products of a
    sparse matrix with 1 + G(G-1) entries per row over the kept states: ~ mu N t D.

Sector eigenpairs in the state's energy window (``SpectralSector``, two beams)
    With two beams every sector is tridiagonal (dimension <= min(N_1, N_2) + 1), and the
    initial state's energy distribution in a sector is narrow (sigma_E ~ 3-7 mu at N = 4096)
    with exponential tails. LAPACK's MRRR (``eigh_tridiagonal(select="v")``) gives the
    eigenpairs in [E - W, E + W] in O(dim x pairs) (~200 pairs per sector at N = 4096). Then
    x(t) = U (c e^{-i lambda t}) at any t: no time stepping, so the norm ~ mu N never enters;
    the cost is independent of t and ~ N^2 x (kept sectors) overall. This is the default for
    two beams ("auto", ``resolve_propagator``); the two propagators agree to 1e-10 (tests).
    The eigenvectors are streamed: a chunk of sectors is diagonalised, its states at the
    pass's output times formed, and its observables accumulated once its neighbour chunk
    exists (``observe.Stream``: at most three chunks' states held), so memory stays ~1 GB at
    N = 16384 (holding every sector's eigenvectors had passed 17 GB).

Why not Krylov: a Lanczos approximation adapts to the spectral measure of the state, which for
these coherent states is narrow (sigma_E ~ 1-2 mu) with exponential tails, and on the exact
initial state 15-40 Lanczos vectors per step would do at any N. But after a few steps the
round-off noise of any propagator (norm ~1e-14, spread over the whole spectrum out to +-r)
times H^j outgrows the smooth Krylov residual from j ~ 8 on (N = 1024), Ritz values appear at
the noise energies and the Galerkin approximation loses accuracy -- measured: with a state
propagated to mu t = 1.6 (error 4e-14), 15 Lanczos vectors for tau = 0.1 gave an error of 7e-9
instead of 1e-13, full reorthogonalisation or not. A Lanczos propagator then needs ~ r tau
vectors anyway, and more at larger r; Chebyshev is robust to the noise by construction.

``ChunkPropagators`` builds the propagator of each chunk of a run on first use and keeps it
(Chebyshev always; spectral while the memory allows, for later passes over the sectors).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import eigh_tridiagonal

from oile_q.errors import InputError

from .._beams_kernels import cheb_step
from ..chebyshev import LANCZOS_ITERS, ChebyshevPropagator, lanczos_bounds
from .basis import Basis
from .hamiltonian import chunk_hamiltonian
from .structure import BeamStructure

__all__ = [
    "PROPAGATORS",
    "WINDOW_X",
    "resolve_propagator",
    "SectorOperator",
    "SectorChebyshev",
    "SpectralSector",
    "ChunkPropagators",
]

PROPAGATORS = ("auto", "chebyshev", "spectral")
# Outputs share one Chebyshev recursion while it spans r tau <= WINDOW_X: each step also adds
# the term to every open output (as costly as the sparse product of a tridiagonal sector), while
# a recursion's tail beyond r tau is only ~12 (r tau)^(1/3) + log(1/tol) terms.
WINDOW_X = 100.0


def resolve_propagator(struct: BeamStructure, propagator: str) -> str:
    """The propagator used for ``propagator`` = "auto": spectral for two beams, else Chebyshev."""
    if propagator == "auto":
        return "spectral" if struct.n_beams == 2 else "chebyshev"
    return propagator


class SectorOperator:
    """A real CSR chunk Hamiltonian as the ``chebyshev.Operator`` of the beams method: products
    by scipy (Lanczos, on real vectors), Chebyshev steps by the numba kernel of
    ``_beams_kernels`` (complex vectors, one pass, no temporaries).

    Parameters
    ----------
    H : scipy.sparse.csr_matrix
        The chunk Hamiltonian (``chunk_hamiltonian``).
    """

    def __init__(self, H):
        self.H = H
        self.csr = (
            np.ascontiguousarray(H.indptr, dtype=np.int64),
            np.ascontiguousarray(H.indices, dtype=np.int32),
            np.ascontiguousarray(H.data, dtype=np.float64),
        )

    def matvec(self, v: np.ndarray, out: np.ndarray) -> None:
        """out <- H v."""
        out[...] = self.H @ v

    def cheb_step(self, cur, prev, shift, scale, outs, coefs, first) -> None:
        """One step of the Chebyshev recursion (``_beams_kernels.cheb_step``)."""
        cheb_step(*self.csr, cur, prev, shift, scale, outs, coefs, first)

    def vdot(self, a: np.ndarray, b: np.ndarray) -> complex:
        """sum conj(a) * b.

        Returns
        -------
        complex
        """
        return np.vdot(a, b)


class SectorChebyshev(ChebyshevPropagator):
    """Chebyshev propagation of one chunk on its own spectral interval: ``lanczos_bounds`` from a
    random real start (``seed``), clipped to the Gershgorin interval of ``H``; outputs share a
    recursion up to r tau = ``WINDOW_X``.

    Parameters
    ----------
    H : scipy.sparse.csr_matrix
        The chunk Hamiltonian (kept as ``self.H``).
    tol : float
        Truncation of the series (``chebyshev.chebyshev_terms``).
    seed, iters : int
        Lanczos start and steps.
    """

    def __init__(self, H, tol: float, *, seed: int = 12345, iters: int = LANCZOS_ITERS):
        op = SectorOperator(H)
        d = H.diagonal()
        rad = np.asarray(np.abs(H).sum(axis=1)).ravel() - np.abs(d)
        rigorous = (float((d - rad).min()), float((d + rad).max()))  # Gershgorin
        start = np.random.default_rng(seed).normal(size=H.shape[0])
        super().__init__(op, lanczos_bounds(op, start, rigorous, iters=iters), rigorous, tol, window_x=WINDOW_X)
        self.H = H


def _rdot(R, z):
    """R @ z for a real matrix and a complex vector/matrix as two real BLAS products (numpy's
    mixed real-complex product does not use BLAS)."""
    return (R @ np.ascontiguousarray(z.real)) + 1j * (R @ np.ascontiguousarray(z.imag))


class SpectralSector:
    """Exact evolution of one tridiagonal (two-beam) sector from the eigenpairs in the energy
    window of its initial state: x(t) = U (c exp(-i lambda t)), c = U^T x(0).

    The window [E - W, E + W] (E the sector's mean energy, sigma_E its spread) starts at
    W = max(100, 30 sigma_E) and doubles until res(W) = |x - U_W U_W^T x| / |x| (U_W the MRRR
    eigenvectors of the window, LAPACK ``stemr``) is at most max(``target`` / |x|, FLOOR): the
    sector's share of the run's error, or the accuracy of the eigenvectors themselves. That
    floor is real: MRRR eigenvectors have residuals |H u - lambda u| ~ 1e-11 mu at sector
    dimension 8193 (N = 16384), so the span of a window's eigenvectors misses ~5e-12 of x
    however wide the window (measured: res = 6.3e-12, 4.8e-12, 9e-14 for W = 100, 200, 400 mu,
    the last only because the window then held 911 pairs; the state at mu t = 20 then differs
    from a Chebyshev series by 1.4e-12). Asking for 2e-13 cost 7274 of the 8193 eigenpairs of
    that sector; FLOOR = 1e-11 keeps 266. ``residual`` (relative) is the method's error besides
    the eigenvalue round-off (a phase error ~ eps ||H|| t).

    Parameters
    ----------
    H : scipy.sparse.csr_matrix
        The sector Hamiltonian, tridiagonal (kept as ``self.H``).
    x : complex ndarray
        The sector's part of the initial state.
    tol : float
        Accuracy of the state; the default ``target`` is max(tol/100, 2e-13).
    target : float, optional
        This sector's share of the state error.

    Raises
    ------
    ValueError
        ``H`` is not tridiagonal.
    """

    FLOOR = 1e-11

    def __init__(self, H, x, tol: float, *, target: float | None = None):
        d = H.diagonal().astype(float)
        e = H.diagonal(1).astype(float)
        if H.nnz > d.size + 2 * e.size:
            raise ValueError("spectral propagation needs a tridiagonal sector (two beams)")
        nx = float(np.linalg.norm(x))
        self.H = H
        self.solves = 0
        self.window = 0.0
        self.floor = False
        self.norm = nx
        target = max(tol / 100.0, 2e-13) if target is None else float(target)
        if d.size == 1 or nx == 0.0:
            self.lam, self.U = d.copy(), np.eye(d.size)
            self.c = _rdot(self.U.T, x)
            self.residual = 0.0
            return
        hx = H @ x
        E = float(np.vdot(x, hx).real) / nx**2
        sig = float(np.sqrt(max(float(np.vdot(hx, hx).real) / nx**2 - E * E, 0.0)))
        rad = np.abs(np.concatenate([[0.0], e])) + np.abs(np.concatenate([e, [0.0]]))
        glo, ghi = float((d - rad).min()), float((d + rad).max())
        W = max(100.0, 30.0 * sig)
        want = max(target / nx, self.FLOOR)
        while True:
            lo, hi = max(E - W, glo - 1.0), min(E + W, ghi + 1.0)
            lam, U = eigh_tridiagonal(d, e, select="v", select_range=(lo, hi), lapack_driver="stemr")
            self.solves += 1
            c = _rdot(U.T, x)
            res = float(np.linalg.norm(x - _rdot(U, c))) / nx
            if res <= want or (lo <= glo and hi >= ghi):
                break
            W *= 2.0
        self.window = W
        self.floor = res * nx > target
        self.lam, self.U, self.c, self.residual = lam, np.ascontiguousarray(U), c, res

    @property
    def bytes(self) -> int:
        """Memory held by the eigenvectors.

        Returns
        -------
        int
        """
        return self.U.nbytes

    def states(self, times, out: np.ndarray) -> None:
        """out[k] <- x(times[k]) (absolute times; ``out`` complex (T, dim))."""
        Z = self.c[:, None] * np.exp(-1j * np.asarray(times, float)[None, :] * self.lam[:, None])
        out[:] = _rdot(self.U, Z).T


class ChunkPropagators:
    """The propagators of a run's chunks, built on first use, and their figures.

    Chebyshev propagators are always kept (each holds its chunk's state, advanced pass by pass);
    spectral ones are kept for the next passes while they take at most half the spare memory,
    and rebuilt otherwise.

    Parameters
    ----------
    struct : BeamStructure
        The beams.
    basis : Basis
        The kept basis.
    chunks : list of (lo, hi)
        The chunks (one per sector for "spectral").
    psi0 : complex ndarray (D,)
        The initial state.
    tol : float
        Accuracy of the state.
    kind : {"chebyshev", "spectral"}
        The propagator.
    passes : int
        Passes over the sectors the run makes.
    spare : float
        Bytes of the memory limit not taken by the estimate.
    provision : float
        Bytes the estimate provides for one sector's eigenvectors.
    """

    def __init__(self, struct: BeamStructure, basis: Basis, chunks, psi0, tol, kind, *, passes, spare, provision):
        self.struct, self.basis, self.chunks, self.psi0 = struct, basis, chunks, psi0
        self.tol, self.kind = tol, kind
        self.passes, self.spare, self.provision = passes, spare, provision
        self.cache, self.cached = {}, 0.0
        self.rebuilds = 0
        self.eig = dict(pairs=0, solves=0, residual=0.0, error2=0.0, floor=0, bytes_max=0.0, window_max=0.0)
        # each sector's share of the state error max(tol/100, 2e-13) (added in quadrature)
        self.target = max(tol / 100.0, 2e-13) / math.sqrt(len(chunks))
        self.psi = psi0.copy() if kind == "chebyshev" else None
        self.t = 0.0  # the time of the Chebyshev states

    def states(self, c: int, times: np.ndarray, first_pass: bool):
        """(X, H): the states of chunk c at ``times`` (complex (T, rows)) and its Hamiltonian.

        Returns
        -------
        tuple
        """
        lo, hi = self.chunks[c]
        kp = self.cache.get(c)
        if kp is None:
            kp = self._build(c, first_pass)
        X = np.empty((times.size, hi - lo), dtype=np.complex128)
        if self.kind == "spectral":
            kp.states(times, X)
        else:
            kp.propagate(self.psi[lo:hi], times - self.t, X)  # leaves that view of psi at times[-1]
        return X, kp.H

    def end_pass(self, t: float) -> None:
        """Every chunk has been evolved to ``t``."""
        self.t = t

    def _build(self, c, first_pass):
        lo, hi = self.chunks[c]
        H = chunk_hamiltonian(self.struct, self.basis, lo, hi)
        if self.kind == "chebyshev":
            kp = self.cache[c] = SectorChebyshev(H, self.tol)
            return kp
        kp = SpectralSector(H, self.psi0[lo:hi], self.tol, target=self.target)
        if kp.bytes > self.provision + self.spare - self.cached:
            raise InputError(
                f"`N` = {self.struct.n}: the eigenvectors of one sector of propagator 'spectral' "
                f"need {kp.bytes / 1e9:.3g} GB beyond the memory limit; use propagator 'chebyshev'."
            )
        if first_pass:
            eig = self.eig
            eig["pairs"] += int(kp.lam.size)
            eig["solves"] += kp.solves
            eig["residual"] = max(eig["residual"], kp.residual)
            eig["error2"] += (kp.residual * kp.norm) ** 2
            eig["floor"] += int(kp.floor)
            eig["bytes_max"] = max(eig["bytes_max"], float(kp.bytes))
            eig["window_max"] = max(eig["window_max"], float(kp.window))
        else:
            self.rebuilds += 1
        if self.passes > 1 and self.cached + kp.bytes <= 0.5 * self.spare:
            self.cache[c], self.cached = kp, self.cached + kp.bytes
        return kp

    def stats(self) -> dict:
        """The run figures of the propagators (Chebyshev products or eigenpairs, error bounds).

        Returns
        -------
        dict
        """
        if self.kind == "chebyshev":
            props = [self.cache[c] for c in range(len(self.chunks))]
            full = sum(k.matvecs * (hi - lo) for k, (lo, hi) in zip(props, self.chunks)) / self.basis.dim
            return {
                "matvecs": int(sum(k.matvecs for k in props)),
                "matvecs_full": round(full, 1),
                "windows": int(sum(k.windows for k in props)),
                "bounds_fallbacks": int(sum(k.fallbacks for k in props)),
                "halfwidth_max": float(max(k.halfwidth for k in props)),
            }
        eig = self.eig
        return {
            "eigenpairs": eig["pairs"],
            "eigen_solves": eig["solves"],
            "spectral_residual": eig["residual"],
            "spectral_error_bound": math.sqrt(eig["error2"]),
            "spectral_floor_sectors": eig["floor"],
            "eigvec_bytes_max": eig["bytes_max"],
            "spectral_window_max": eig["window_max"],
            "spectral_rebuilds": self.rebuilds,
        }
