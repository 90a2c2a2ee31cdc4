"""What the ``exact`` and ``closed`` engines share: the initial state as product branches
(mixed one-body states by purification), the options about pairs, mixed states and memory,
and the accumulation of observables into the Dataset's extras.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from oile_q.engine import Option
from oile_q.errors import InputError, check_array, describe

__all__ = ["product_branches", "COMMON_OPTIONS", "check_pairs", "Observer", "observables"]

_PURE_TOL = 1e-12


def _amplitudes(unit):
    """(up, down) amplitudes of the pure one-body states with mass-basis unit Bloch vectors."""
    x, y, z = unit[:, 0], unit[:, 1], unit[:, 2]
    up = np.sqrt(np.clip((1.0 + z) / 2.0, 0.0, 1.0)).astype(complex)
    den = np.sqrt(np.clip(2.0 * (1.0 + z), 0.0, None))
    safe = den > 1e-150
    down = np.where(safe, (x + 1j * y) / np.where(safe, den, 1.0), 1.0 + 0j)
    return up, down


def product_branches(P_mass: npt.ArrayLike, *, mixed: str = "purify", max_branches: int = 64) -> list[tuple]:
    """The initial product state as a list of pure product-state branches.

    Pure one-body states (|P| = 1 within 1e-12) give one branch; every mixed one doubles the
    branches (its eigen-decomposition rho = sum (1 +- |P|)/2 |+-P><+-P|, equivalently an
    ancilla purification).

    Parameters
    ----------
    P_mass : array (N, 3)
        Initial one-body Bloch vectors, mass basis, |P| <= 1.
    mixed : {"purify", "refuse"}
        Decompose mixed states into branches, or refuse them.
    max_branches : int
        At most this many branches (2^m for m mixed particles).

    Returns
    -------
    list of (weight, up, down)
        The branch weight and the complex amplitudes (N,) of |up> (nu_1) and |down> of every
        particle; weights add up to 1 (branches of weight 0 are left out).

    Raises
    ------
    InputError
        Mixed states with ``mixed="refuse"``, or more than ``max_branches`` branches.

    Examples
    --------
    >>> branches = product_branches([[0, 0, 1.0], [0.5, 0, 0]])
    >>> [float(w) for w, up, down in branches]
    [0.75, 0.25]
    >>> abs(branches[0][1]).round(3).tolist()
    [1.0, 0.707]
    """
    P = np.asarray(P_mass, float)
    r = np.linalg.norm(P, axis=1)
    mixed_idx = np.flatnonzero(r < 1.0 - _PURE_TOL)
    unit = P / np.where(r > 0, r, 1.0)[:, None]
    unit[r == 0] = (0.0, 0.0, 1.0)
    if mixed_idx.size and mixed == "refuse":
        raise InputError(
            f"`P0` holds mixed one-body states (|P| < 1) for particles {mixed_idx[:8].tolist()}"
            f"{'...' if mixed_idx.size > 8 else ''}; with mixed='refuse' only pure product states "
            "are accepted (use mixed='purify' to evolve their exact branch decomposition)."
        )
    nb = 2**mixed_idx.size
    if nb > max_branches:
        raise InputError(
            f"`P0` has {mixed_idx.size} mixed one-body states, i.e. {nb} pure branches to evolve; "
            f"`max_branches` is {max_branches}. Raise `max_branches` (cost grows as 2^m) "
            "or start from pure states."
        )
    out = []
    for signs in itertools.product((1.0, -1.0), repeat=mixed_idx.size):
        u = unit.copy()
        w = 1.0
        for s, a in zip(signs, mixed_idx):
            u[a] = s * unit[a]
            w *= 0.5 * (1.0 + s * r[a])
        if w > 0.0:
            up, down = _amplitudes(u)
            out.append((w, up, down))
    return out


def _pairs_shape(pairs):
    """`pairs` as "all" or a list of [a, b] lists (any N; indices are checked per scenario)."""
    if isinstance(pairs, str):
        if pairs != "all":
            raise InputError(f"`pairs` must be 'all' or a list of (a, b) particle pairs; got {pairs!r}.")
        return pairs
    arr = check_array("pairs", pairs, (None, 2), dtype=float)
    if arr.size and (np.any(arr != np.round(arr)) or np.any(arr < 0)):
        raise InputError(f"`pairs` must hold particle indices; got {describe(pairs)}.")
    out = [[int(a), int(b)] for a, b in arr]
    for a, b in out:
        if a == b:
            raise InputError(f"`pairs` must pair two different particles; got ({a}, {b}).")
    return out


def check_pairs(pairs, n):
    """The pairs of a run as a list of (a, b) tuples, checked against N."""
    if pairs is None:
        return []
    if pairs == "all":
        return [(a, b) for a in range(n) for b in range(a + 1, n)]
    for a, b in pairs:
        if max(a, b) >= n:
            raise InputError(f"`pairs` must hold particle indices 0..{n - 1}; got ({a}, {b}).")
    return [(a, b) for a, b in pairs]


COMMON_OPTIONS = (
    Option(
        "pairs",
        "pairs (a, b) whose concurrence and mutual information (bits) are recorded, or 'all'",
        check=_pairs_shape,
    ),
    Option(
        "mixed",
        "mixed initial one-body states: exact branch decomposition (purify) or refuse",
        default="purify",
        kind="choice",
        choices=("purify", "refuse"),
    ),
    Option(
        "max_branches", "largest number of pure branches (2^m for m mixed particles)", default=64, kind="int", low=1
    ),
    Option(
        "memory_limit",
        "bytes the run may use (default 85% of the available memory)",
        kind="float",
        positive=True,
        record=False,
        affects_result=False,
    ),
)


class Observer:
    """Adds w * (one-body Bloch vectors, norm, energy, pair density matrices) per output, and
    reports progress (one unit per output and branch)."""

    def __init__(self, n, ntimes, pairs, energy_fn=None, progress=None):
        self.n = n
        self.pairs = pairs
        self.P = np.zeros((ntimes, n, 3))
        self.norm = np.zeros(ntimes)
        self.energy = np.zeros(ntimes) if energy_fn is not None else None
        self.energy_fn = energy_fn
        self.rho = np.zeros((ntimes, len(pairs), 4, 4), dtype=complex)
        self.weight = 1.0
        self.progress = progress
        self.done = 0

    def __call__(self, j, v):
        from .observables import one_body, two_body

        P, nrm = one_body(v, self.n)
        w = self.weight
        self.P[j] += w * P
        self.norm[j] += w * nrm
        if self.energy_fn is not None:
            self.energy[j] += w * self.energy_fn(v)
        for k, (a, b) in enumerate(self.pairs):
            self.rho[j, k] += w * two_body(v, self.n, a, b)
        self.done += 1
        if self.progress is not None:
            self.progress.update(self.done)


def observables(obs, pairs, *, s3=True):
    """The Dataset extras of an exact or closed run: entropy, purity, norm, S3_total,
    energy, and per pair concurrence and mutual information."""
    import xarray as xr

    from .observables import concurrence, entropy_bits, mutual_information, purity

    P = obs.P
    ex = {
        "entropy": xr.DataArray(
            entropy_bits(P),
            dims=("time", "particle"),
            attrs={"long_name": "one-body von Neumann entropy", "units": "bits"},
        ),
        "purity": xr.DataArray(purity(P), dims=("time", "particle"), attrs={"long_name": "one-body purity Tr rho^2"}),
        "norm": xr.DataArray(obs.norm, dims=("time",), attrs={"long_name": "|psi|^2 (check: 1)"}),
    }
    if s3:
        ex["S3_total"] = xr.DataArray(
            P[:, :, 2].sum(axis=1), dims=("time",), attrs={"long_name": "sum_a P_3 (mass basis), conserved"}
        )
    if obs.energy is not None:
        ex["energy"] = xr.DataArray(obs.energy, dims=("time",), attrs={"long_name": "<H> / mu, conserved"})
    if pairs:
        conc = np.array([[concurrence(r) for r in row] for row in obs.rho])
        mi = np.array([[mutual_information(r) for r in row] for row in obs.rho])
        coords = {"pair_a": ("pair", [a for a, _ in pairs]), "pair_b": ("pair", [b for _, b in pairs])}
        ex["concurrence"] = xr.DataArray(
            conc, dims=("time", "pair"), coords=coords, attrs={"long_name": "two-body concurrence"}
        )
        ex["mutual_information"] = xr.DataArray(
            mi,
            dims=("time", "pair"),
            coords=coords,
            attrs={"long_name": "two-body mutual information", "units": "bits"},
        )
    return ex
