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


def groups_toml(*groups, **top):
    """A scenario file's text: top-level keys (``gamma`` = 0.1 and ``seed`` = 1 unless given),
    then one ``[[group]]`` table per (name, count, state, omega), the state a flavor letter or a
    Bloch vector."""
    top = {"gamma": 0.1, "seed": 1, **top}
    lines = [f"{k} = {v}" for k, v in top.items()]
    for name, count, state, omega in groups:
        lines += ["[[group]]", f'name = "{name}"', f"count = {count}"]
        lines.append(f'flavor = "{state}"' if isinstance(state, str) else f"P = {list(state)}")
        lines.append(f"omega = {omega}")
    return "\n".join(lines) + "\n"
