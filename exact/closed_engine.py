"""The ``closed`` engine: the ``oile`` encounter schedule applied to the whole N-spin state
vector, without tracing (docs/theory.md).

Each step applies, to every pair (a, b) of the step, the pair propagator ("exact", "split" or
"symmetric", the closed form ``oile_q.encounter.pair_blocks``: phases on |up up>,
|down down> and a 2x2 block on |up down>, |down up> in the mass basis), and free precession
to the unpaired particles. Why a statevector update and not QuSpin: a step is a product of
disjoint two-spin unitaries with a closed form, so one in-place pass over the 2^N vector per
pair (``_kernels.apply_pair``, 4 amplitudes at a time, parallel) is exact and costs O(2^N)
with no build at all, while QuSpin would need a new sparse Hamiltonian and an expm_multiply
for every step.

Foreground scenarios: every step meets a *fresh* partner in state Q that never meets the
tracked neutrino again, so the engine keeps the tracked neutrino's 2x2 density matrix and
traces each partner out right after its encounter; nothing is lost (the partner is never used
again), and the result equals the ``oile`` engine's to round-off.

Mixed initial states (|P| < 1): each one-body state is purified with an ancilla spin that
never interacts; the engine evolves the exact branch decomposition (``max_branches`` limits
2^m) and adds the one- and two-body density matrices with their weights. Nothing is ever
normalised.
"""

from __future__ import annotations

import numpy as np

from oile_q.conventions import PROPAGATORS, bloch_to_rho, flavor_to_mass, mass_to_flavor
from oile_q.engine import Cost, Engine, Option, Output, Request
from oile_q.errors import InputError

from ._common import COMMON_OPTIONS, Observer, check_pairs, observables, product_branches
from ._threads import limited_threads
from .memory import check_memory, estimate_bytes

__all__ = ["ClosedEngine"]

FOREGROUND_CHUNK = 1_000_000


class ClosedEngine(Engine):
    """The ``closed`` engine: the ``oile`` schedule applied to the whole N-spin state (module docstring).

    Engines take no constructor parameters: ``oile_q.run(scenario, "closed", **options)`` creates
    one through the registry and passes the validated ``options`` (``propagator`` and the shared
    ``pairs``, ``mixed``, ``max_branches``, ``memory_limit``) in the request.

    Examples
    --------
    >>> from oile_q import Scenario, run
    >>> sc = Scenario.from_groups([dict(name="e", count=2, flavor="e", omega=0.5),
    ...                            dict(name="x", count=2, flavor="x", omega=-0.5)], gamma=0.1, theta=0.1, seed=1)
    >>> ds = run(sc, "closed", steps=10, schedule="round-robin")
    >>> ds.sizes["time"], bool(abs(ds.S3_total.values - ds.S3_total.values[0]).max() < 1e-12)
    (11, True)
    """

    name = "closed"
    summary = "the oile encounter schedule on the whole N-spin state vector, no tracing"
    grid = "steps"
    supports = frozenset({"ensemble", "foreground", "poisson", "replay"})
    options = (
        Option("propagator", "pair propagator, as for oile", default="exact", kind="choice", choices=PROPAGATORS),
    ) + COMMON_OPTIONS

    def check(self, request: Request) -> None:
        """The pairs and the memory guard, before any work.

            The request may run.

        Raises
        ------
        InputError
            ``pairs`` with a foreground scenario or out of range, or a run that does not fit.
        """
        if request.foreground and request.options["pairs"]:
            raise InputError("`pairs` needs an ensemble; a foreground result has one particle.")
        check_pairs(request.options["pairs"], request.scenario.n)
        if not request.foreground:
            check_memory(request.scenario.n, "closed", limit=request.options["memory_limit"])

    def estimate(self, request: Request) -> Cost:
        """Seconds and bytes of the run (a cost model calibrated with the benchmarks).

        Returns
        -------
        Cost
        """
        n = request.scenario.n
        if request.foreground:
            return Cost(seconds=request.steps * 2e-6, what=f"{request.steps} encounters on a 2x2 density matrix")
        # cost ~ 2^N N steps, calibrated with benchmarks/bench_exact.py --closed 20 (N = 20, 1,000 steps)
        seconds = 14.0 * 2.0 ** (n - 20) * (n / 20) * request.steps / 1000
        return Cost(
            seconds=seconds,
            memory_bytes=estimate_bytes(n, "closed"),
            what=f"{request.steps:.4g} steps of {n // 2} pair updates on a 2^{n} state vector",
            hint="fewer particles or steps",
        )

    def run(self, request: Request) -> Output:
        """Apply the schedule to the state vector (ensembles) or to the tracked neutrino's
        density matrix with fresh partners (foreground).

        Returns
        -------
        Output
            P (flavor basis), the extras of the README and the number of encounters.
        """
        if request.foreground:
            return self._foreground(request)
        from oile_q.encounter import pair_blocks

        from . import _kernels

        sc, o, sched = request.scenario, request.options, request.schedule
        n = sc.n
        pairs = check_pairs(o["pairs"], n)
        check_memory(n, "closed", limit=o["memory_limit"])
        branches = product_branches(sc.P0_mass, mixed=o["mixed"], max_branches=o["max_branches"])
        wt = np.asarray(sc.omega, float) / sc.mu * request.dt
        V = np.asarray(sc.velocity, float)
        g = 1.0 - V @ V.T
        blocks = np.ascontiguousarray(pair_blocks(wt[:, None], wt[None, :], sc.gamma * g, o["propagator"]))
        free_half = np.ascontiguousarray(0.5 * wt)
        bits = np.ascontiguousarray(n - 1 - np.arange(n), dtype=np.int64)
        record_steps = request.record_steps
        nsteps = int(record_steps[-1])
        obs = Observer(n, len(record_steps), pairs)
        bar = request.progress.start(nsteps * len(branches))
        chunk = max(1, 200_000 // max(1, n // 2))
        encounters = 0
        with limited_threads(n):
            for b, (w, up, down) in enumerate(branches):
                obs.weight = w
                v = _kernels.product_state(up, down)
                j = 0
                if record_steps[0] == 0:
                    obs(0, v)
                    j = 1
                s = 0
                while s < nsteps:
                    count = min(chunk, nsteps - s)
                    pr = np.ascontiguousarray(sched.chunk(s, count), dtype=np.int64)
                    mask = request.record_mask(s, count)
                    if b == 0:
                        encounters += int(np.count_nonzero(pr[..., 0] >= 0))
                    i = 0
                    while i < count:
                        i += _kernels.closed_steps(v, bits, blocks, pr[i:], free_half, mask[i:], 0)
                        if mask[i - 1]:
                            obs(j, v)
                            j += 1
                    s += count
                    bar.update(b * nsteps + s)
        stats = {"branches": len(branches), "encounters": encounters}
        return Output(P=mass_to_flavor(obs.P, sc.theta), extras=observables(obs, pairs), stats=stats)

    def _foreground(self, request):
        from oile_q.encounter import pair_unitary

        from . import _kernels

        sc, sched = request.scenario, request.schedule
        theta = sc.theta
        wt = float(sc.omega[0] / sc.mu * request.dt)
        phi = sc.gamma * (1.0 - sc.background["vdotu"])
        # the mass-basis unitary: pair_unitary at theta = 0 is the block matrix itself
        U = np.ascontiguousarray(pair_unitary(wt, wt, phi, theta=0.0, propagator=request.options["propagator"]))
        rho = bloch_to_rho(flavor_to_mass(sc.P0[0], theta)).astype(complex)
        rhoQ = bloch_to_rho(flavor_to_mass(sc.background["Q"], theta)).astype(complex)
        free = np.array([np.exp(0.5j * wt), np.exp(-0.5j * wt)])
        record_steps = request.record_steps
        nsteps = int(record_steps[-1])
        out = np.empty((len(record_steps), 1, 3))
        pos = 0
        if record_steps[0] == 0:
            out[0, 0] = _kernels.rho_bloch(rho)
            pos = 1
        bar = request.progress.start(nsteps)
        encounters = 0
        for start in range(0, nsteps, FOREGROUND_CHUNK):
            count = min(FOREGROUND_CHUNK, nsteps - start)
            meets = np.ascontiguousarray(sched.meets(start, count))
            encounters += int(meets.sum())
            pos = _kernels.foreground_steps(rho, rhoQ, U, free, meets, request.record_mask(start, count), out, pos)
            bar.update(start + count)
        assert pos == len(record_steps)
        obs = Observer(1, len(record_steps), [])
        obs.P = out
        obs.norm[:] = 1.0
        return Output(
            P=mass_to_flavor(out, theta), extras=observables(obs, [], s3=False), stats={"encounters": encounters}
        )
