"""Thread control during an exact or closed run: numba on one thread for small systems.

The pipeline (``oile_q.runner.execute``) already runs every engine with OpenBLAS on one thread
(``threadpoolctl``): idle BLAS workers spinning after a small call (V @ V.T, the Lanczos
tridiagonal eigensolver) starve numba's OpenMP threads of shared cores, so that even a
reduction over a 2^16 vector waits for them. Small systems (2^N < 16k) also run the numba
kernels on one thread: a parallel region's start-up costs more than the work.
"""

from __future__ import annotations

SERIAL_BELOW = 14


class limited_threads:
    """Context manager: numba on one thread if N < SERIAL_BELOW (restored afterwards)."""

    def __init__(self, n):
        self.n = n
        self.saved_numba = None

    def __enter__(self):
        if self.n < SERIAL_BELOW:
            import numba

            self.saved_numba = numba.get_num_threads()
            numba.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.saved_numba is not None:
            import numba

            numba.set_num_threads(self.saved_numba)
