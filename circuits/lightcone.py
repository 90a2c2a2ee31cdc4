"""Light cones of a schedule (numpy only, no Qiskit): who meets whom at each step, and how many
encounters the light-cone tree of a particle holds, so that the circuit engine can size a run
before it builds a single gate."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["partner_table", "tree_costs", "tree_cost"]


def partner_table(pairs: ArrayLike, n: int) -> np.ndarray:
    """partner[s, i] = j if i meets j at step s + 1, else -1.

    Parameters
    ----------
    pairs : array_like, shape (steps, N // 2, 2)
        The schedule's pairs per step (-1 for no pair).
    n : int
        Number of particles.

    Returns
    -------
    ndarray of int64, shape (steps, n)

    Examples
    --------
    >>> partner_table([[[0, 1], [2, 3]], [[0, 2], [-1, -1]]], 4).tolist()
    [[1, 0, 3, 2], [2, -1, 0, -1]]
    """
    pairs = np.asarray(pairs)
    partner = -np.ones((pairs.shape[0], n), dtype=np.int64)
    if pairs.size:
        s = np.repeat(np.arange(pairs.shape[0]), pairs.shape[1])
        a, b = pairs[..., 0].ravel(), pairs[..., 1].ravel()
        keep = a >= 0
        partner[s[keep], a[keep]] = b[keep]
        partner[s[keep], b[keep]] = a[keep]
    return partner


def tree_costs(partner: np.ndarray, steps: int) -> np.ndarray:
    """Encounters in the light-cone tree of every particle after ``steps`` steps (exact Python
    integers): c(i, k) = c(i, k-1) + [i met j at step k] (1 + c(j, k-1)); 2^k - 1 when everyone
    meets someone every step.

    Parameters
    ----------
    partner : ndarray, shape (steps', n)
        ``partner_table`` of the schedule (steps' >= steps).
    steps : int
        Steps of the tree.

    Returns
    -------
    ndarray of object (Python int), shape (n,)

    Examples
    --------
    >>> tree_costs(partner_table([[[0, 1], [2, 3]], [[0, 2], [-1, -1]]], 4), 2).tolist()
    [3, 1, 3, 1]
    """
    n = partner.shape[1]
    c = np.zeros(n, dtype=object)  # Python ints: no overflow for deep requests
    for k in range(steps):
        j = partner[k]
        met = j >= 0
        new = c.copy()
        new[met] = c[met] + 1 + c[j[met]]
        c = new
    return c


def tree_cost(partner: np.ndarray, particle: int, steps: int) -> int:
    """Encounters in the light-cone tree of one particle (see ``tree_costs``).

    Parameters
    ----------
    partner : ndarray, shape (steps', n)
        ``partner_table`` of the schedule (steps' >= steps).
    particle : int
        The particle.
    steps : int
        Steps of the tree.

    Returns
    -------
    int
        The encounters of ``tree_circuit`` for that particle.

    Raises
    ------
    IndexError
        For a particle or step beyond the table.

    Examples
    --------
    >>> from oile_q.schedules import generate
    >>> tree_cost(partner_table(generate("matching", 8, 10, seed=1), 8), 0, 10)
    1023
    """
    return int(tree_costs(partner, steps)[particle])
