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


def nnz_full(n: int) -> int:
    """Upper bound of the stored non-zeros of H over all sectors: 2^N (1 + N(N-1)/4)."""
    return (1 << n) * (1 + n * (n - 1) // 4) + (1 << n)


def memory_limit(limit: float | None = None) -> float:
    """The byte budget: ``limit`` if given, else 85% of the available memory."""
    return memory_budget(limit)


def estimate_bytes(
    n: int,
    engine: str,
    *,
    method: str = "chebyshev",
    basis: str = "sectors",
    builder: str = "fast",
    outputs: int = 1,
) -> float:
    """Estimated peak bytes of one run of the ``exact`` or ``closed`` engine with N particles.

    Parameters
    ----------
    n : int
        N.
    engine : {"exact", "closed"}
        The engine.
    method : {"chebyshev", "expm"}
        Method of ``exact``: "chebyshev" holds the diagonal, the state, two recursion vectors,
        scratch and ``outputs`` output vectors; "expm" the stored sector matrices (about 12 bytes
        per non-zero, 2^N (1 + N(N-1)/4) of them) and QuSpin's work arrays.
    basis, builder : str
        Options of method "expm" (QuSpin's generic builder needs about three times the memory).
    outputs : int
        Output vectors of a Chebyshev window.

    Returns
    -------
    float
        Bytes, including a fixed ``BASE`` for the interpreter and libraries; inf for N >= 1000.

    Examples
    --------
    >>> estimate_bytes(20, "closed") / 1e9
    0.433554432
    >>> estimate_bytes(20, "exact") < estimate_bytes(20, "exact", method="expm")
    True
    """
    if n >= 1000:
        return math.inf
    dim = float(2**n)
    vec = 16.0 * dim
    if engine == "closed":
        return BASE + 2 * vec
    if method == "chebyshev":
        # diagonal, psi, two recursion vectors, energy scratch, Lanczos (3, reused), outputs
        return BASE + 8 * dim + vec * (4 + max(1, outputs))
    nnz = float(nnz_full(n))
    idx = 4 if nnz < 2**31 else 8
    matrix = nnz * (8 + idx) + 8 * dim
    if builder == "quspin":
        matrix *= 3  # the generic builder's temporaries (measured 2.5x for N = 20)
    else:
        matrix += 4 * dim  # lookup table
    # sector vectors + QuSpin work arrays (3 per state), full vector, scratch, diagonal
    return BASE + matrix + vec * 5 + 8 * dim


def largest_n(engine: str, limit: float, **kw: str | int) -> int:
    """The largest N (2 ... 64) whose run fits in ``limit`` bytes.

    Parameters
    ----------
    engine : {"exact", "closed"}
        The engine.
    limit : float
        Bytes.
    **kw
        ``method``, ``basis``, ``builder``, ``outputs`` as for ``estimate_bytes``.

    Returns
    -------
    int

    Examples
    --------
    >>> largest_n("closed", 20e9)
    29
    """
    n = 2
    while n < 64 and estimate_bytes(n + 1, engine, **kw) <= limit:
        n += 1
    return n


def _gb(x):
    return f"{x / 1e9:.3g} GB" if math.isfinite(x) else "beyond any machine's"


def check_memory(
    n: int,
    engine: str,
    *,
    limit: float | None = None,
    method: str = "chebyshev",
    basis: str = "sectors",
    builder: str = "fast",
) -> int:
    """The memory guard of the ``exact`` (generic methods) and ``closed`` engines.

    Parameters
    ----------
    n : int
        N.
    engine : {"exact", "closed"}
        The engine.
    method, basis, builder : str
        As for ``estimate_bytes``.
    limit : float, optional
        Bytes the run may use (default 85% of the available memory).

    Returns
    -------
    int
        The number of output vectors a Chebyshev window may hold (1 for the other methods).

    Raises
    ------
    InputError
        The run does not fit: one line with the estimate and the largest N that fits.

    Examples
    --------
    >>> check_memory(12, "exact", limit=8e9)
    16
    >>> check_memory(30, "closed", limit=8e9)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    oile_q.errors.InputError: `N` = 30 needs an estimated 34.8 GB for engine closed, ... the largest N that fits is 27.
    """
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
