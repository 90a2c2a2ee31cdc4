"""O(N) velocity moments for sums over partners (docs/theory.md, Cost).

With g_ab = 1 - v_a.v_b, the sums over b of g_ab X_b and g_ab^2 X_b expand into sums of X_b,
v_b X_b and v_b v_b X_b, so no engine needs an N x N loop; g_aa = 0 makes the exclusion
b != a automatic.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Moments"]


class Moments:
    """O(N) velocity moments for sums over partners b of g_ab X_b and g_ab^2 X_b.

    Parameters
    ----------
    velocity : array (N, 3)
        Unit velocities.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([[0, 0, 1.0], [1.0, 0, 0], [0, 1.0, 0]])
    >>> m = Moments(v)
    >>> m.g_sum(np.ones((3, 1))).ravel().tolist()      # sum_b g_ab = 2 for each a here
    [2.0, 2.0, 2.0]
    """

    def __init__(self, velocity):
        V = np.asarray(velocity, dtype=float)
        self.V = V
        self.n = V.shape[0]
        self.VV = np.einsum("ni,nj->nij", V, V).reshape(-1, 9)
        # sum_b g_ab^2 (the b = a term is zero)
        sv = V.sum(0)
        svv = self.VV.sum(0)
        self.g2_sum = self.n - 2 * V @ sv + self.VV @ svv

    def g_sum(self, X):
        """sum_b g_ab X_b for X (N, k)."""
        return X.sum(0) - self.V @ (self.V.T @ X)

    def g2_sum_of(self, X):
        """sum_b g_ab^2 X_b for X (N, k)."""
        return X.sum(0) - 2 * self.V @ (self.V.T @ X) + self.VV @ (self.VV.T @ X)
