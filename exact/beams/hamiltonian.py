"""The collective-spin Hamiltonian H/mu on the kept basis, chunk by chunk, as real CSR matrices.

In a sector the matrix elements are

    diagonal   sum_g -(omega_g/mu) m_g + (2/(N-1)) sum_{g<h} g_gh m_g m_h + constant,
    hop        <..k_g+1..k_h-1..| H/mu |..k_g..k_h..> = (g_gh/(N-1)) sqrt((N_g-k_g)(k_g+1))
                                                          sqrt(k_h (N_h-k_h+1)),

with m_g = k_g - N_g/2 and the constant sum_g g_gg N_g (N_g - 1)/(4 (N-1)) of the within-beam
term: at most G(G-1) hops per row (tridiagonal for two beams). Chunks are whole sectors, so a
chunk's matrix is block diagonal and never couples to another chunk.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from .basis import Basis
from .structure import BeamStructure

__all__ = ["chunk_hamiltonian", "beam_hamiltonian"]


def _diagonal(struct: BeamStructure, k: np.ndarray) -> np.ndarray:
    """Diagonal of H/mu on states with occupations k (M, G), including the constant."""
    sizes = struct.sizes
    n = struct.n
    m = k.astype(float) - 0.5 * sizes[None, :]
    w = struct.omega / struct.mu
    g = struct.coupling
    d = -(m @ w)
    G = sizes.size
    for a in range(G):
        for b in range(a + 1, G):
            if g[a, b] != 0.0:
                d += (2.0 * g[a, b] / (n - 1)) * m[:, a] * m[:, b]
    const = sum(g[a, a] * sizes[a] * (sizes[a] - 1) / 4.0 for a in range(G)) / (n - 1)
    return d + const


def chunk_hamiltonian(struct: BeamStructure, basis: Basis, lo: int, hi: int) -> sp.csr_matrix:
    """H/mu on the kept states lo..hi-1 (whole sectors) as a real CSR matrix."""
    k = basis.k[lo:hi].astype(np.int64)
    K = k.sum(axis=1)
    n = struct.n
    G = basis.G
    rows = [np.arange(hi - lo)]
    cols = [np.arange(hi - lo)]
    data = [_diagonal(struct, k)]
    for a in range(G):
        for b in range(G):
            c = struct.coupling[a, b]
            if a == b or c == 0.0:
                continue
            kk = k.copy()
            kk[:, a] += 1
            kk[:, b] -= 1
            dst = basis.positions(kk, K)
            src = np.flatnonzero(dst >= 0)
            ka = k[src, a].astype(float)
            kb = k[src, b].astype(float)
            amp = (c / (n - 1)) * np.sqrt((struct.sizes[a] - ka) * (ka + 1.0) * kb * (struct.sizes[b] - kb + 1.0))
            rows.append(dst[src] - lo)
            cols.append(src)
            data.append(amp)
    H = sp.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(hi - lo, hi - lo))
    H.sum_duplicates()
    return H


def beam_hamiltonian(
    struct: BeamStructure, *, sectors: npt.ArrayLike | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """H/mu over the kept basis as one CSR matrix, for checks.

    Parameters
    ----------
    struct : BeamStructure
        The beams.
    sectors : array of int, optional
        The sectors K (number of spins up) to include, increasing (default: every sector, the
        whole product of the symmetric subspaces, dimension prod_g (N_g + 1)).

    Returns
    -------
    H : scipy.sparse.csr_matrix (D, D)
        Real symmetric, block diagonal in the sectors (mass basis, units of mu).
    k : int32 ndarray (D, G)
        The occupations (number of spins up of each beam) of the basis states.

    Examples
    --------
    >>> import numpy as np
    >>> s = BeamStructure(labels=("a", "b"), sizes=np.array([2, 3]), omega=np.array([0.6, -1.4]),
    ...                   P0_mass=np.array([[0, 0, 1.0], [1.0, 0, 0]]), coupling=np.array([[0, 1.2], [1.2, 0]]))
    >>> H, k = beam_hamiltonian(s)
    >>> H.shape, k.shape, bool(abs(H - H.T).max() == 0)
    ((12, 12), (12, 2), True)
    """
    if sectors is None:
        sectors = np.arange(struct.n + 1)
    basis = Basis(struct.sizes, np.asarray(sectors))
    blocks = [
        chunk_hamiltonian(struct, basis, int(basis.offsets[i]), int(basis.offsets[i + 1]))
        for i in range(basis.sectors.size)
    ]
    return sp.block_diag(blocks, format="csr"), basis.k.copy()
