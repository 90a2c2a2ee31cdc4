"""The ``exact`` engine: the closed all-to-all Hamiltonian of DESIGN.md section 2,

    H = sum_a -(omega_a/2) B.sigma_a + mu/(N-1) sum_{a<b} (g_ab/2) sigma_a.sigma_b,

evolved exactly from a product initial state (mixed one-body states by their exact branch
decomposition). Methods: "chebyshev" (matrix-free, the default) and "expm" (QuSpin sectors);
see ``oile_q.exact.evolve``. The schedule only sets the time grid (odd N is fine).
"""

from __future__ import annotations

import time as _time

import numpy as np

from oile_q.conventions import mass_to_flavor
from oile_q.engine import Cost, Engine, Option, Output
from oile_q.errors import InputError

from ._common import COMMON_OPTIONS, Observer, check_pairs, observables, product_branches

__all__ = ["ExactEngine"]


class ExactEngine(Engine):
    name = "exact"
    summary = "the closed all-to-all many-body Hamiltonian evolved exactly (Chebyshev, or QuSpin sectors)"
    grid = "continuous"
    supports = frozenset({"ensemble", "odd_n", "poisson"})
    options = (
        Option("method", "chebyshev (matrix-free, full vector) or expm (QuSpin sector matrices)",
               default="chebyshev", kind="choice", choices=("chebyshev", "expm")),
        Option("basis", "method expm: sectors (default) or one full-basis matrix", kind="choice",
               choices=("sectors", "full")),
        Option("builder", "method expm: fast (numba sector builder, default) or quspin (QuSpin's generic "
               "hamiltonian)", kind="choice", choices=("fast", "quspin")),
        Option("tol", "series truncation (chebyshev, default 1e-12) or QuSpin's Taylor tolerance (expm)",
               kind="float", positive=True),
        Option("energy", "record <H> (a conservation check)", default=True, kind="bool"),
    ) + COMMON_OPTIONS

    def check(self, request):
        opts = request.options
        if opts["method"] == "chebyshev" and (opts["basis"] is not None or opts["builder"] is not None):
            raise InputError("`basis` and `builder` apply to method 'expm' only.")
        check_pairs(opts["pairs"], request.scenario.n)
        if opts["method"] == "expm":
            from importlib.util import find_spec

            if find_spec("quspin") is None:
                raise InputError("`method` 'expm' needs QuSpin, which cannot be imported here (pip install "
                                 "'oile-q[exact]'); method 'chebyshev' needs nothing more.")
        self._memory(request)  # the memory guard, before any work

    def _memory(self, request):
        from .memory import check_memory

        o = request.options
        return check_memory(request.scenario.n, "exact", method=o["method"], basis=o["basis"] or "sectors",
                            builder=o["builder"] or "fast", limit=o["memory_limit"])

    def estimate(self, request):
        from .memory import estimate_bytes

        o = request.options
        n = request.scenario.n
        need = estimate_bytes(n, "exact", method=o["method"], basis=o["basis"] or "sectors",
                              builder=o["builder"] or "fast")
        # measured: ~90 s for N = 20 to mu t = 50 (Chebyshev); cost ~ 2^N N mu t
        seconds = 90.0 * 2.0 ** (n - 20) * (n / 20) * max(float(request.times[-1]), 0.1) / 50.0
        return Cost(seconds=seconds, memory_bytes=need, what=f"a 2^{n} state vector to mu t = {float(request.times[-1]):.3g}",
                    hint="fewer particles (N <= 20 runs in minutes)")

    def run(self, request):
        from . import _kernels
        from ._threads import limited_threads
        from .evolve import chebyshev_evolve, expm_evolve, spectral_bounds
        from .hamiltonian import Model

        sc, o = request.scenario, request.options
        n = sc.n
        times = request.times
        pairs = check_pairs(o["pairs"], n)
        max_out = self._memory(request)
        branches = product_branches(sc.P0_mass, mixed=o["mixed"], max_branches=o["max_branches"])
        stats = {"branches": len(branches)}
        with limited_threads(n):
            model = Model(sc)
            diag = model.diagonal()
            scratch = np.empty(1 << n, dtype=complex) if o["energy"] else None

            def energy_fn(v):
                _kernels.hmatvec(v, scratch, diag, model.flip_bits, n)
                return _kernels.vdot(v, scratch).real

            bar = request.progress.start(len(times) * len(branches), unit="output")
            obs = Observer(n, len(times), pairs, energy_fn if o["energy"] else None, progress=bar)
            psis = [(w, _kernels.product_state(up, down)) for w, up, down in branches]
            if o["method"] == "chebyshev":
                allowed = np.zeros(n + 1, dtype=bool)
                for _, v in psis:
                    allowed |= _kernels.sector_weights(v, n) > 0
                t0 = _time.perf_counter()
                bounds = spectral_bounds(model, diag, allowed)
                stats["bounds_s"] = round(_time.perf_counter() - t0, 3)
                stats["sectors"] = int(allowed.sum())
            for w, psi in psis:
                obs.weight = w
                if o["method"] == "chebyshev":
                    chebyshev_evolve(model, diag, psi, times, obs, tol=1e-12 if o["tol"] is None else o["tol"],
                                     bounds=bounds, max_outputs=max_out, stats=stats)
                else:
                    expm_evolve(model, psi, times, obs, basis=o["basis"] or "sectors",
                                builder=o["builder"] or "fast", tol=o["tol"], stats=stats)
        return Output(P=mass_to_flavor(obs.P, sc.theta), extras=observables(obs, pairs), stats=stats)
