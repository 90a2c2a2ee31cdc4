"""Exact closed many-body evolution (``oile_q.exact``): QuSpin bases and evolution tools,
numba kernels on 2^N state vectors, reduced density matrices, the memory guard.

Engines (through ``oile_q.run``):

* ``"exact"``: the all-to-all Hamiltonian of DESIGN.md section 2, evolved exactly;
* ``"closed"``: the ``oile`` encounter schedule applied to the whole N-spin state (no tracing).

May import numpy, scipy, numba, QuSpin and the core ``oile_q``; never imported by the core
except through ``oile_q.run``. Threads: numba follows NUMBA_NUM_THREADS, QuSpin's OpenMP
parts OMP_NUM_THREADS (both default to all cores). The one environment default this package
sets is OMP_WAIT_POLICY=PASSIVE (see below).
See README.md in this folder for options, limits and measured figures.
"""

import os as _os

# Idle OpenMP threads must sleep, not spin: numba's OpenMP threads, QuSpin's (its own
# libgomp) and OpenBLAS's share two cores here, and spinning workers of one runtime
# starved the other (a 2^16-vector reduction took 280 ms instead of 1-2 ms). Only a
# default: an explicit OMP_WAIT_POLICY is kept; it has to be set before the first parallel
# region of the process, hence at import.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .engine import pair_blocks, product_branches, run_engine
from .hamiltonian import Model, quspin_hamiltonian, sector_matrix, spin_basis
from .memory import check_memory, estimate_bytes, largest_n

__all__ = ["run_engine", "Model", "quspin_hamiltonian", "sector_matrix", "spin_basis",
           "pair_blocks", "product_branches", "estimate_bytes", "largest_n", "check_memory"]
