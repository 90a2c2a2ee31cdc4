"""The all-to-all Hamiltonian in the mass basis, three ways that must agree.

In units of mu (time is mu t), with B = z in the mass basis (docs/conventions.md):

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

from typing import Any

import numpy as np
import scipy.sparse as sp

from oile_q.scenario import Scenario

from . import _kernels

__all__ = ["Model", "quspin_hamiltonian", "sector_matrix", "spin_basis", "NOCHECKS"]

NOCHECKS = dict(check_herm=False, check_symm=False, check_pcon=False)


class Model:
    """Couplings of the all-to-all Hamiltonian of an ensemble scenario, in units of mu.

    Parameters
    ----------
    scenario : Scenario
        An ensemble scenario (``omega``, ``velocity``, ``mu``).

    Attributes
    ----------
    n : int
        N.
    hz : ndarray (N,)
        -omega_a / (2 mu), the coefficient of Z_a.
    g, J : ndarray (N, N)
        g_ab = 1 - v_a.v_b (exactly 0 for equal velocities, 0 on the diagonal) and
        J_ab = g_ab / (2 (N - 1)).
    hz_bits, J_bits, flip_bits : ndarray
        ``hz``, ``J`` and the flip-flop elements 2 J indexed by bit position p = N - 1 - a of the
        state integer (site 0 is the most significant bit).

    Examples
    --------
    >>> from oile_q import Scenario
    >>> sc = Scenario.from_groups([dict(name="e", count=2, flavor="e", omega=0.5, velocity=[0, 0, 1]),
    ...                            dict(name="x", count=2, flavor="x", omega=-0.5, velocity=[0, 0, -1])], gamma=0.1)
    >>> m = Model(sc)
    >>> m.hz.tolist(), float(m.J[0, 2]), float(m.J[0, 1])
    ([-0.25, -0.25, 0.25, 0.25], 0.3333333333333333, 0.0)
    """

    def __init__(self, scenario: Scenario):
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
        """Diagonal of H/mu over the full 2^N basis.

        Returns
        -------
        ndarray (2^N,)
            Indexed by the basis-state integer.
        """
        return _kernels.diagonal(self.n, self.hz_bits, self.J_bits)


def spin_basis(n: int, nup: int | None = None) -> Any:
    """QuSpin's spin-1/2 basis (Pauli matrices, '1' = up = mass state nu_1), full or one sector.

    Parameters
    ----------
    n : int
        N.
    nup : int, optional
        Number of up spins (the sector); None: the full basis.

    Returns
    -------
    quspin.basis.spin_basis_1d

    Examples
    --------
    >>> spin_basis(4, 2).Ns, spin_basis(4).Ns
    (6, 16)
    """
    from quspin.basis import spin_basis_1d

    if nup is None:
        return spin_basis_1d(n, pauli=1)
    return spin_basis_1d(n, Nup=int(nup), pauli=1)


def quspin_hamiltonian(model: Model, basis: Any) -> Any:
    """H/mu with QuSpin's generic builder (the reference).

    With ``pauli=1``, sigma^+- has matrix element 2, so J (XX + YY) = (J/2) (s+ s- + s- s+) in
    QuSpin's operator strings.

    Parameters
    ----------
    model : Model
        The couplings.
    basis : QuSpin basis
        From ``spin_basis``.

    Returns
    -------
    quspin.operators.hamiltonian
        Real, static.

    Examples
    --------
    >>> import numpy as np
    >>> from oile_q import Scenario
    >>> m = Model(Scenario.from_groups([dict(name="e", count=2, flavor="e", omega=0.5),
    ...                                 dict(name="x", count=2, flavor="x", omega=-0.5)], gamma=0.1, seed=1))
    >>> b = spin_basis(4, 2)
    >>> H = quspin_hamiltonian(m, b).tocsr()
    >>> bool(abs(H - sector_matrix(m, basis_states(b))).max() < 1e-14)
    True
    """
    from quspin.operators import hamiltonian

    n = model.n
    pm = [[0.5 * model.J[a, b], a, b] for a in range(n) for b in range(a + 1, n) if model.J[a, b] != 0]
    zz = [[model.J[a, b], a, b] for a in range(n) for b in range(a + 1, n) if model.J[a, b] != 0]
    static = [["+-", pm], ["-+", pm], ["zz", zz], ["z", [[model.hz[a], a] for a in range(n)]]]
    return hamiltonian(static, [], basis=basis, dtype=np.float64, **NOCHECKS)


def basis_states(basis: Any) -> np.ndarray:
    """The basis-state integers of a QuSpin basis as int64 (QuSpin stores them unsigned)."""
    return np.asarray(basis.states).astype(np.int64)


def sector_matrix(model: Model, states: np.ndarray, lookup: np.ndarray | None = None) -> sp.csr_matrix:
    """H/mu restricted to the basis ``states`` as a scipy CSR matrix (the fast builder).

    Parameters
    ----------
    model : Model
        The couplings.
    states : int64 ndarray
        Basis-state integers in QuSpin's order (``basis_states(spin_basis(n, k))``).
    lookup : int32 ndarray (2^N,), optional
        Maps a state integer to its row; filled for ``states`` here (pass a shared array to
        reuse the allocation across sectors).

    Returns
    -------
    scipy.sparse.csr_matrix
        Equal to ``quspin_hamiltonian(model, basis).tocsr()`` element by element.

    Examples
    --------
    >>> import numpy as np
    >>> from oile_q import Scenario
    >>> m = Model(Scenario.beams([3, 3], flavor="ex", omega=[0.5, -0.5], directions="ring", gamma=0.1))
    >>> states = np.array([s for s in range(63, -1, -1) if bin(s).count("1") == 3])  # QuSpin's order
    >>> H = sector_matrix(m, states)
    >>> H.shape, bool(abs(H - H.T).max() == 0)
    ((20, 20), True)
    """
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
