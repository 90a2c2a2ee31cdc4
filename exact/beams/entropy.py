"""Entanglement entropy of one beam with the rest, from the Schmidt matrix of the state.

The Schmidt matrix M[k_g, rest] of beam g holds the amplitudes of the kept states by the beam's
occupation k_g (N_g + 1 rows) and the configuration of the other beams (one column each, in
order of appearance). S = -sum lam log2 lam over the eigenvalues of the smaller of M M^+ and
M^+ M. It is computed only where affordable: the smaller side at most ``entropy_max_dim``
(default ``ENTROPY_MAX_DIM``) and at most ``ENTROPY_MAX_CELLS`` cells; for two beams only for
the first (a pure state of two parts: both have the same entropy).
"""

from __future__ import annotations

import math

import numpy as np

from .basis import Basis
from .structure import BeamStructure

__all__ = ["ENTROPY_MAX_DIM", "ENTROPY_MAX_CELLS", "schmidt_size", "entropy_beams", "Schmidt"]

ENTROPY_MAX_DIM = 1024
ENTROPY_MAX_CELLS = 1 << 24


def schmidt_size(sizes, g: int, dim: int) -> tuple[int, int]:
    """(smaller side, cells) of the Schmidt matrix of beam g over ``dim`` kept states, without
    building it (the rest configurations bounded by ``dim``)."""
    rest = min(dim, math.prod(int(x) + 1 for h, x in enumerate(sizes) if h != g))
    side = int(sizes[g]) + 1
    return min(side, rest), side * rest


def entropy_beams(struct: BeamStructure, dim: int, entropy_max_dim: int) -> list[int]:
    """The beams whose entropy with the rest is computed (see the module docstring)."""
    out = []
    if entropy_max_dim <= 0:
        return out
    for g in range(struct.n_beams):
        side, cells = schmidt_size(struct.sizes, g, dim)
        if side <= entropy_max_dim and cells <= ENTROPY_MAX_CELLS:
            out.append(g)
            if struct.n_beams == 2:
                break
    return out


class Schmidt:
    """The Schmidt matrix of beam g vs the other beams on a kept basis.

    Parameters
    ----------
    basis : Basis
        The kept basis.
    g : int
        The beam.
    """

    def __init__(self, basis: Basis, g: int):
        k = basis.k
        others = [h for h in range(basis.G) if h != g]
        rows = k[:, g].astype(np.int64)
        if others:
            key = np.zeros(basis.dim, dtype=np.int64)
            for h in others:
                key = key * (int(basis.sizes[h]) + 1) + k[:, h]
            _, cols = np.unique(key, return_inverse=True)
            ncols = int(cols.max()) + 1
        else:
            cols = np.zeros(basis.dim, dtype=np.int64)
            ncols = 1
        self.shape = (int(basis.sizes[g]) + 1, ncols)
        self.flat = rows * ncols + cols.ravel()

    def entropy(self, psi: np.ndarray) -> float:
        """Entanglement entropy (bits) of the beam with the rest in the state ``psi`` (D,).

        Returns
        -------
        float
        """
        M = np.zeros(self.shape[0] * self.shape[1], dtype=np.complex128)
        M[self.flat] = psi
        M = M.reshape(self.shape)
        R = M @ M.conj().T if self.shape[0] <= self.shape[1] else M.conj().T @ M
        lam = np.linalg.eigvalsh(R)
        lam = lam[lam > 1e-16]
        return float(-np.sum(lam * np.log2(lam)))
