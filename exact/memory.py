"""Memory guard: estimate the bytes a run needs before allocating anything.

The estimates count the large arrays (state vectors of 2^N complex numbers, the diagonal,
stored sparse matrices) plus a fixed allowance for the interpreter and libraries. A run
whose estimate exceeds the limit (default 85% of MemAvailable) raises one InputError
that gives the estimate and the largest N that fits; the CLI prints it as one line and
exits with status 2.
"""

from __future__ import annotations

import math

from oile_q.errors import InputError, memory_budget

__all__ = ["estimate_bytes", "memory_limit", "largest_n", "check_memory"]

BASE = 400e6  # Python, numpy, scipy, numba, QuSpin, xarray
MAX_WINDOW = 16  # output vectors per Chebyshev window


def memory_limit(limit=None) -> float:
    """The byte budget: ``limit`` if given, else 85% of the available memory."""
    return memory_budget(limit)


def estimate_bytes(n: int, engine: str, *, method="chebyshev", basis="sectors", builder="fast", outputs=1) -> float:
    """Estimated peak bytes of one run with N particles (inf beyond the range of a float)."""
    if n >= 1000:
        return math.inf
    dim = float(2**n)
    vec = 16.0 * dim
    if engine == "closed":
        return BASE + 2 * vec
    if method == "chebyshev":
        # diagonal, psi, two recursion vectors, energy scratch, Lanczos (3, reused), outputs
        return BASE + 8 * dim + vec * (4 + max(1, outputs))
    from .hamiltonian import nnz_full

    nnz = float(nnz_full(n))
    idx = 4 if nnz < 2**31 else 8
    matrix = nnz * (8 + idx) + 8 * dim
    if builder == "quspin":
        matrix *= 3  # the generic builder's temporaries (measured 2.5x for N = 20)
    else:
        matrix += 4 * dim  # lookup table
    # sector vectors + QuSpin work arrays (3 per state), full vector, scratch, diagonal
    return BASE + matrix + vec * 5 + 8 * dim


def largest_n(engine, limit, **kw) -> int:
    n = 2
    while n < 64 and estimate_bytes(n + 1, engine, **kw) <= limit:
        n += 1
    return n


def _gb(x):
    return f"{x / 1e9:.3g} GB" if math.isfinite(x) else "beyond any machine's"


def check_memory(n, engine, *, method="chebyshev", basis="sectors", builder="fast", limit=None) -> int:
    """Raise ValueError if a run will not fit; return the number of output vectors a
    Chebyshev window may hold."""
    budget = memory_limit(limit)
    kw = dict(method=method, basis=basis, builder=builder)
    need = estimate_bytes(n, engine, **kw)
    if need > budget:
        what = engine if engine == "closed" else f"{engine} (method {method!r})"
        raise InputError(
            f"`N` = {n} needs {'memory' if not math.isfinite(need) else 'an estimated'} {_gb(need)} for "
            f"engine {what}, more than the "
            f"{_gb(budget)} memory limit; the largest N that fits is {largest_n(engine, budget, **kw)}."
        )
    if engine == "exact" and method == "chebyshev":
        spare = budget - need
        return int(max(1, min(MAX_WINDOW, 1 + spare // (16.0 * 2**n))))
    return 1
