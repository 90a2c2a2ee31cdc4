"""The all-to-all Hamiltonian in the mass basis, three ways that must agree.

In units of mu (time is mu t), with B = z in the mass basis (DESIGN.md section 2):

    H / mu = sum_a hz_a Z_a + sum_{a<b} J_ab (X_a X_b + Y_a Y_b + Z_a Z_b),
    hz_a = -omega_a / (2 mu),   J_ab = g_ab / (2 (N - 1)),   g_ab = 1 - v_a . v_b.

H conserves the total S_3 (number of up spins), so it is block-diagonal in the sectors
``Nup = k``. Its matrix elements in the product basis: the diagonal
sum_a hz_a z_a + sum_{a<b} J_ab z_a z_b, and 2 J_ab between two states that differ by
exchanging an antiparallel pair (a, b) (XX + YY = 2 (s+ s- + s- s+)).

* ``quspin_hamiltonian``: QuSpin's generic ``hamiltonian`` builder (the reference; slow: it
  sums O(N^2) sparse operator strings);
* ``sector_matrix``: the same CSR matrix built by a numba loop over QuSpin's basis states
  (``basis.states``) with the matrix elements above -- equal to QuSpin's element by element
  (tests check this), and much faster to build, because it writes each row once instead of
  summing N^2 sparse operator strings;
* ``oile_q.exact._kernels.hmatvec``: H applied to a full 2^N vector without storing it
  (the default ``chebyshev`` method; memory 2^N instead of 2^N N^2 / 4 numbers).
"""

from __future__ import annotations

import numpy as np

from . import _kernels

__all__ = ["Model", "quspin_hamiltonian", "sector_matrix", "spin_basis", "NOCHECKS"]

NOCHECKS = dict(check_herm=False, check_symm=False, check_pcon=False)


class Model:
    """Couplings of the all-to-all Hamiltonian of an ensemble scenario, in units of mu.

    ``hz`` (N,), ``J`` (N, N) per particle; ``*_bits`` the same indexed by bit position
    p = N - 1 - a of the state integer (site 0 is the most significant bit).
    """

    def __init__(self, scenario):
        n = scenario.n
        self.n = n
        self.hz = -0.5 * np.asarray(scenario.omega, dtype=float) / scenario.mu
        V = np.asarray(scenario.velocity, dtype=float)
        g = 1.0 - V @ V.T
        g[np.abs(g) < 1e-14] = 0.0  # equal velocities: exactly no coupling
        np.fill_diagonal(g, 0.0)
        self.g = g
        self.J = g / (2.0 * (n - 1))
        rev = slice(None, None, -1)
        self.hz_bits = np.ascontiguousarray(self.hz[rev])
        self.J_bits = np.ascontiguousarray(self.J[rev, rev])
        self.flip_bits = np.ascontiguousarray(2.0 * self.J_bits)

    def diagonal(self) -> np.ndarray:
        """Diagonal of H/mu over the full 2^N basis (indexed by the state integer)."""
        return _kernels.diagonal(self.n, self.hz_bits, self.J_bits)


def spin_basis(n, nup=None):
    """QuSpin's spin-1/2 basis (Pauli matrices, '1' = up = mass state nu_1), full or one sector."""
    from quspin.basis import spin_basis_1d

    if nup is None:
        return spin_basis_1d(n, pauli=1)
    return spin_basis_1d(n, Nup=int(nup), pauli=1)


def quspin_hamiltonian(model: Model, basis):
    """H/mu with QuSpin's generic builder (reference). With ``pauli=1``, sigma^+- has matrix
    element 2, so J (XX + YY) = (J/2) (s+ s- + s- s+) in QuSpin's operator strings."""
    from quspin.operators import hamiltonian

    n = model.n
    pm = [[0.5 * model.J[a, b], a, b] for a in range(n) for b in range(a + 1, n) if model.J[a, b] != 0]
    zz = [[model.J[a, b], a, b] for a in range(n) for b in range(a + 1, n) if model.J[a, b] != 0]
    static = [["+-", pm], ["-+", pm], ["zz", zz], ["z", [[model.hz[a], a] for a in range(n)]]]
    return hamiltonian(static, [], basis=basis, dtype=np.float64, **NOCHECKS)


def basis_states(basis) -> np.ndarray:
    """The basis-state integers of a QuSpin basis as int64 (QuSpin stores them unsigned)."""
    return np.asarray(basis.states).astype(np.int64)


def sector_matrix(model: Model, states: np.ndarray, lookup: np.ndarray | None = None):
    """H/mu restricted to the basis ``states`` (int64, QuSpin's order) as a scipy CSR matrix.

    ``lookup`` (int32, length 2^N) maps a state integer to its row; it is filled for
    ``states`` here (pass a shared array to reuse the allocation across sectors).
    """
    import scipy.sparse as sp

    n = model.n
    if lookup is None:
        lookup = np.full(1 << n, -1, dtype=np.int32)
    _kernels.fill_lookup(lookup, states)
    indptr, indices, data = _kernels.sector_csr(states, lookup, model.hz_bits, model.J_bits, model.flip_bits, n)
    m = states.shape[0]
    if indptr[-1] < 2**31 - 1:
        indptr = indptr.astype(np.int32)
    else:
        indices = indices.astype(np.int64)
    return sp.csr_matrix((data, indices, indptr), shape=(m, m))


def nnz_full(n: int) -> int:
    """Upper bound of the stored non-zeros of H over all sectors: 2^N (1 + N(N-1)/4)."""
    return (1 << n) * (1 + n * (n - 1) // 4) + (1 << n)
