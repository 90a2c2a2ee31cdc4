"""Memory of the collective-spin evolution: the estimate before anything is allocated, and how
many output times a pass over the sectors may hold.

A run holds, besides a fixed part, the states of three consecutive chunks at every output time
of the pass (the observables of a chunk need its neighbours' sectors K +- 1). It makes as few
passes as the memory limit allows, each holding as many output times as fit
(``plan_passes``); ``estimate_beams_bytes`` is the peak of one pass of ``outputs`` times.
"""

from __future__ import annotations

import math

from oile_q.errors import InputError

from ..memory import BASE, memory_limit
from .basis import CHUNK_STATES, chunk_sizes, sector_plan
from .entropy import ENTROPY_MAX_DIM, entropy_beams, schmidt_size
from .observe import OBS_BLOCK
from .propagators import resolve_propagator
from .structure import BeamStructure

__all__ = ["memory_parts", "estimate_beams_bytes", "plan_passes"]


def memory_parts(
    struct: BeamStructure,
    *,
    tol: float,
    drop: float | None,
    chunk_states: int,
    entropy_max_dim: int,
    propagator: str,
    pairs: bool = True,
) -> tuple[float, float, float, dict]:
    """(fixed bytes, bytes per output time held in a pass, entropy store per output, plan): the
    parts of ``estimate_beams_bytes`` (``pairs`` changes nothing: the two-body blocks are always
    provided for). ``plan`` holds the kept ``dimension``, the ``largest_chunk``, the
    ``entropy_beams`` and the ``eig_provision`` (bytes for one sector's eigenvectors)."""
    propagator = resolve_propagator(struct, propagator)
    _, dims, _ = sector_plan(struct, tol=tol, drop=drop)
    D = float(dims.sum())
    G = struct.n_beams
    sizes = chunk_sizes(dims, 1 if propagator == "spectral" else chunk_states)  # spectral: one sector a chunk
    dmax = float(max(sizes))
    win = float(max(sum(sizes[i : i + 3]) for i in range(len(sizes))))  # three consecutive chunks
    nnz_row = 1 + G * (G - 1)
    grid = float(math.prod(int(n) + 1 for n in struct.sizes[:-1]))
    fixed = BASE + D * (16.0 * 2 + 4.0 * G) + grid * (8.0 * G + 16.0)
    build = dmax * (16.0 * 3 + 8.0 * 4 + 40.0 * G * nnz_row + 36.0 * nnz_row)
    if propagator == "chebyshev":
        fixed += D * (12.0 * nnz_row + 8.0)  # every chunk's Hamiltonian is kept
        work = dmax * 16.0 * 4
    else:
        work = 8.0 * dmax * min(dmax, 2048.0) + 8.0 * 20 * dmax  # eigenvectors (provision), stemr workspace
    obs_block = OBS_BLOCK * (16.0 * win + 16.0 * 3 * G * dmax + 16.0 * dmax)
    maps = 3 * G * (dmax * 24.0)
    ent = 0.0
    eg = entropy_beams(struct, int(D), entropy_max_dim)
    for g in eg:
        fixed += 8.0 * D
        side, cells = schmidt_size(struct.sizes, g, int(D))
        ent = max(ent, 16.0 * cells + 16.0 * side * side * 2)
    fixed += max(build, work) + obs_block + maps + ent
    per_output = 16.0 * win + (32.0 * dmax if propagator == "spectral" else 0.0)
    store = 16.0 * D if eg else 0.0
    provision = work if propagator == "spectral" else 0.0
    plan = dict(dimension=int(D), largest_chunk=int(dmax), entropy_beams=eg, eig_provision=provision)
    return fixed, per_output, store, plan


def estimate_beams_bytes(
    struct: BeamStructure,
    *,
    tol: float = 1e-12,
    drop: float | None = None,
    chunk_states: int = CHUNK_STATES,
    outputs: int = 1,
    entropy_max_dim: int = ENTROPY_MAX_DIM,
    pairs: bool = True,
    propagator: str = "auto",
) -> float:
    """Estimated peak bytes of ``evolve_beams(struct, ...)`` when a pass holds ``outputs`` times.

    A run makes as few passes as the memory limit allows, each holding as many outputs as fit:
    ``outputs = 1`` is the least it needs. Fixed: the kept state at t = 0 and now (16 B each per
    kept state), the occupations (4 G B), the product grid of the first G - 1 beams, the kept
    chunk Hamiltonians (Chebyshev: 12 B per non-zero, 1 + G(G-1) per row), one chunk's build
    temporaries or one sector's eigenvectors (spectral: provision of 8 B x dim x min(dim, 2048);
    the actual size is checked as each is computed), the observation blocks, the Schmidt
    positions and matrix of the beams whose entropy is computed and the interpreter and
    libraries (``oile_q.exact.memory.BASE``). Per output held: the states of three consecutive
    chunks (16 B per state), the spectral reconstruction temporaries, and with entropy the whole
    state (16 B per kept state).

    Parameters
    ----------
    struct : BeamStructure
        The beams.
    tol, drop, chunk_states, entropy_max_dim, propagator
        As for ``evolve_beams``.
    outputs : int
        Output times held in a pass (at least 1).
    pairs : bool
        Accepted for symmetry with ``evolve_beams``' observables; the two-body blocks are always
        counted.

    Returns
    -------
    float
        Bytes.

    Examples
    --------
    >>> import numpy as np
    >>> s = BeamStructure(labels=("e", "x"), sizes=np.array([300, 300]), omega=np.array([0.5, -0.5]),
    ...                   P0_mass=np.array([[0, 0, 1.0], [0, 0, -1.0]]), coupling=np.array([[0, 2.0], [2.0, 0]]))
    >>> bool(4e8 < estimate_beams_bytes(s) < estimate_beams_bytes(s, outputs=100) < 1e9)
    True
    """
    kw = dict(tol=tol, drop=drop, chunk_states=chunk_states, entropy_max_dim=entropy_max_dim, pairs=pairs)
    fixed, per_output, store, _ = memory_parts(struct, propagator=propagator, **kw)
    return fixed + max(1, int(outputs)) * (per_output + store)


def plan_passes(struct: BeamStructure, times: int, window: int | None, limit: float | None, **kw) -> tuple:
    """(outputs per pass, spare bytes, plan of ``memory_parts``) of a run of ``times`` output
    times within the memory ``limit`` (default 85% of the available memory), at most ``window``
    outputs a pass; ``kw`` as for ``memory_parts``. Raises InputError if one output does not fit."""
    budget = memory_limit(limit)
    fixed, per_output, store, plan = memory_parts(struct, **kw)
    need = fixed + per_output + store
    if need > budget:
        raise InputError(
            f"`N` = {struct.n} in {struct.n_beams} beams needs an estimated {need / 1e9:.3g} GB "
            f"for method 'beams', more than the {budget / 1e9:.3g} GB memory limit; use fewer "
            "particles or a larger `tol`."
        )
    fit = int((budget - fixed) // (per_output + store))
    w = max(1, min(times, fit, window if window is not None else times))
    plan["estimate"] = float(fixed + w * (per_output + store))
    return w, budget - fixed - w * (per_output + store), plan
