"""Exact closed many-body evolution (``oile_q.exact``): QuSpin bases and evolution tools,
numba kernels on 2^N state vectors, reduced density matrices, the memory guard.

Engines (through ``oile_q.run``), one file each:

* ``exact_engine``: ``"exact"``, the all-to-all Hamiltonian of docs/conventions.md, evolved exactly;
* ``closed_engine``: ``"closed"``, the ``oile`` encounter schedule applied to the whole N-spin
  state (no tracing).

The sub-package ``beams`` holds the collective-spin evolution of beams (method "beams" of
``exact``); ``chebyshev`` the Lanczos bounds and Chebyshev propagation that method and the
generic one share; ``evolve`` the generic methods on 2^N amplitudes.

May import numpy, scipy, numba, QuSpin and the core ``oile_q``; never imported by the core
except through the engine registry. The names below load on first use, so importing the engine
modules (as ``oile-q engines`` does) costs nothing heavy. Threads: numba follows
NUMBA_NUM_THREADS, QuSpin's OpenMP parts OMP_NUM_THREADS (both default to all cores). The one
environment default this package sets is OMP_WAIT_POLICY=PASSIVE (see below).
See README.md in this folder for options, limits and measured figures.
"""

import os as _os

from oile_q.lazy import lazy_getattr

# Idle OpenMP threads must sleep, not spin: numba's OpenMP threads, QuSpin's (its own
# libgomp) and OpenBLAS's share the cores, and spinning workers of one runtime starve
# the other's (even a reduction over 2^16 amplitudes waits for them). Only a default:
# an explicit OMP_WAIT_POLICY is kept; it has to be set before the first parallel
# region of the process, hence at import.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_NAMES = {
    "Model": "hamiltonian",
    "quspin_hamiltonian": "hamiltonian",
    "sector_matrix": "hamiltonian",
    "spin_basis": "hamiltonian",
    "product_branches": "_common",
    "check_memory": "memory",
    "estimate_bytes": "memory",
    "largest_n": "memory",
    "ExactEngine": "exact_engine",
    "ClosedEngine": "closed_engine",
    "BeamStructure": "beams",
    "beam_structure": "beams",
    "evolve_beams": "beams",
    "estimate_beams_bytes": "beams",
    "sector_plan": "beams",
    "beam_hamiltonian": "beams",
}
__all__ = sorted(_NAMES)

__getattr__ = lazy_getattr(__name__, _NAMES)
