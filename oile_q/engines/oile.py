"""The ``oile`` engine: the discrete OILE map (paper I; docs/conventions.md).

Each step, the particles paired by the schedule meet: the pair evolves exactly for one
encounter (closed form in the mass basis, ``oile_q._kernels``) and only the one-body states
are kept (the product-state ansatz); unpaired particles precess freely. A foreground
neutrino meets a fresh partner in state Q every step (or with probability p per step).
"""

from __future__ import annotations

import numpy as np

from ..conventions import PROPAGATORS, flavor_to_mass, mass_to_flavor
from ..engine import Cost, Engine, Option, Output

__all__ = ["OileEngine", "CHUNK_ENCOUNTERS", "PAIR_TABLE_MAX_N", "PROPAGATOR_OPTION"]

CHUNK_ENCOUNTERS = 2_000_000  # schedule chunk size, in encounters (bounded memory)
PAIR_TABLE_MAX_N = 1024  # (N, N, 7) doubles: 59 MB at N = 1024
ENCOUNTERS_PER_SECOND = 1.5e7  # rough throughput for ``estimate`` (benchmarks/bench_oile.py measures it)
PROPAGATOR_OPTION = Option(
    "propagator",
    "pair propagator: exact, split (SWAP power then vacuum) or symmetric (half vacuum, SWAP power, half vacuum)",
    default="exact",
    kind="choice",
    choices=PROPAGATORS,
)


class OileEngine(Engine):
    name = "oile"
    summary = "the discrete OILE map: exact two-body encounters, then the partial trace"
    grid = "steps"
    supports = frozenset({"ensemble", "foreground", "poisson", "replay"})
    options = (PROPAGATOR_OPTION,)

    def estimate(self, request):
        per_step = 1 if request.foreground else request.scenario.n // 2
        enc = float(request.steps) * per_step
        return Cost(
            seconds=enc / ENCOUNTERS_PER_SECOND,
            memory_bytes=24.0 * request.scenario.n * len(request.times),
            what=f"{enc:.3g} encounters",
            hint="fewer steps (larger gamma or a shorter t_max)",
        )

    def run(self, request):
        from .. import _kernels

        sc, sched = request.scenario, request.schedule
        mode = _kernels.MODES[request.options["propagator"]]
        record_steps = request.record_steps
        nsteps = int(record_steps[-1])
        wt = np.ascontiguousarray(sc.omega / sc.mu * request.dt, dtype=float)
        P = np.ascontiguousarray(flavor_to_mass(sc.P0, sc.theta))
        n = sc.n
        out = np.empty((len(record_steps), n, 3))
        pos = 0
        if record_steps[0] == 0:
            out[0] = P
            pos = 1
        bar = request.progress.start(nsteps)
        stats = {"steps": nsteps}
        if request.foreground:
            Q = flavor_to_mass(sc.background["Q"], sc.theta)
            phi = sc.gamma * (1.0 - sc.background["vdotu"])
            P1 = P[0].copy()
            p = 1.0 if sched.p is None else sched.p
            seed = 0 if sched.seed is None else sched.seed
            chunk = 1_000_000
            for start in range(0, nsteps, chunk):
                count = min(chunk, nsteps - start)
                pos = _kernels.foreground_steps(
                    P1, Q, phi, float(wt[0]), seed, start, count, p, mode, request.record_mask(start, count), out, pos
                )
                bar.update(start + count)
            if sched.p is None:
                stats["encounters"] = nsteps
        else:
            vel = np.ascontiguousarray(sc.velocity, dtype=float)
            paired = np.zeros(n, dtype=np.bool_)
            # Precomputed per-pair coefficients pay off when encounters outnumber pairs.
            if mode == _kernels.MODE_EXACT and n <= PAIR_TABLE_MAX_N and nsteps * (n // 2) > 4 * n * n:
                table = _kernels.pair_table(wt, vel, sc.gamma)
            else:
                table = np.empty((0, 0, 7))
            stats["pair_table"] = table.shape[0] > 0
            encounters = 0
            chunk = max(1, CHUNK_ENCOUNTERS // max(1, n // 2))
            for start in range(0, nsteps, chunk):
                count = min(chunk, nsteps - start)
                pairs = sched.chunk(start, count)
                encounters += int(np.count_nonzero(pairs[..., 0] >= 0))
                pos = _kernels.ensemble_steps(
                    P, wt, vel, pairs, sc.gamma, mode, request.record_mask(start, count), out, pos, paired, table
                )
                bar.update(start + count)
            stats["encounters"] = encounters
        assert pos == len(record_steps)
        return Output(P=mass_to_flavor(out, sc.theta), stats=stats)
