"""Thread control during a run: one BLAS thread while the numba kernels run.

Measured here: with numpy's and scipy's OpenBLAS at their default of one thread per core,
their idle worker threads spin after any small BLAS/LAPACK call (e.g. V @ V.T or the
Lanczos tridiagonal eigensolver) and starve numba's OpenMP threads, so that a reduction
over a 2^16 vector took 280 ms instead of 0.9 ms. The engines need no multithreaded BLAS
(all heavy work is in numba and QuSpin's OpenMP), so a run pins OpenBLAS to one thread
and restores the previous setting afterwards. This is what ``threadpoolctl`` does; it is
not a dependency here, so the few lines are repeated (ctypes on the loaded libraries).
Small systems (2^N < 16k) also run the numba kernels on one thread: a parallel region's
start-up costs more than the work.
"""

from __future__ import annotations

import ctypes

SERIAL_BELOW = 14


def _openblas_libs():
    libs = []
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "/" in line
                     and "openblas" in line.split()[-1].rsplit("/", 1)[-1].lower()}
    except OSError:  # pragma: no cover - not Linux
        return libs
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:  # pragma: no cover
            continue
        for base in ("openblas", "scipy_openblas"):
            for suffix in ("", "64_"):
                get = getattr(lib, f"{base}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{base}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    libs.append((get, put))
    return libs


class limited_threads:
    """Context manager: OpenBLAS on one thread; numba on one thread if N < SERIAL_BELOW."""

    def __init__(self, n):
        self.n = n
        self.saved_blas = []
        self.saved_numba = None

    def __enter__(self):
        import numpy  # noqa: F401  (load numpy's OpenBLAS before looking for it)
        import scipy.linalg  # noqa: F401

        for get, put in _openblas_libs():
            try:
                self.saved_blas.append((put, int(get())))
                put(1)
            except Exception:  # pragma: no cover - a library without the symbol semantics
                pass
        if self.n < SERIAL_BELOW:
            import numba

            self.saved_numba = numba.get_num_threads()
            numba.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        for put, k in self.saved_blas:
            put(k)
        if self.saved_numba is not None:
            import numba

            numba.set_num_threads(self.saved_numba)
