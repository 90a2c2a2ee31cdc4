import numpy as np
import pytest


def random_bloch(rng, n, *, pure=False):
    """n random Bloch vectors inside (or on, if pure) the unit ball."""
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    r = 1.0 if pure else rng.uniform(0, 1, size=(n, 1)) ** (1 / 3)
    return v * r


@pytest.fixture
def rng():
    return np.random.default_rng(20240205)
