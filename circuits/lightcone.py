"""Light cones of a schedule (numpy only, no Qiskit): who meets whom at each step, and how many
encounters the light-cone tree of a particle holds, so that the circuit engine can size a run
before it builds a single gate."""

from __future__ import annotations

import numpy as np

__all__ = ["partner_table", "tree_costs", "tree_cost"]


def partner_table(pairs, n: int) -> np.ndarray:
    """partner[s, i] = j if i meets j at step s + 1, else -1."""
    pairs = np.asarray(pairs)
    partner = -np.ones((pairs.shape[0], n), dtype=np.int64)
    if pairs.size:
        s = np.repeat(np.arange(pairs.shape[0]), pairs.shape[1])
        a, b = pairs[..., 0].ravel(), pairs[..., 1].ravel()
        keep = a >= 0
        partner[s[keep], a[keep]] = b[keep]
        partner[s[keep], b[keep]] = a[keep]
    return partner


def tree_costs(partner, steps: int) -> np.ndarray:
    """Encounters in the light-cone tree of every particle after ``steps`` steps (exact Python
    integers): c(i, k) = c(i, k-1) + [i met j at step k] (1 + c(j, k-1)); 2^k - 1 when everyone
    meets someone every step."""
    n = partner.shape[1]
    c = np.zeros(n, dtype=object)  # Python ints: no overflow for deep requests
    for k in range(steps):
        j = partner[k]
        met = j >= 0
        new = c.copy()
        new[met] = c[met] + 1 + c[j[met]]
        c = new
    return c


def tree_cost(partner, particle: int, steps: int) -> int:
    """Encounters in the light-cone tree of one particle (see ``tree_costs``)."""
    return int(tree_costs(partner, steps)[particle])
