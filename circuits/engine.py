"""The ``circuit`` engine: each encounter as a Qiskit circuit (SWAP-power gate + vacuum
rotations, partner reset mid-circuit) on exact Aer, Aer with shots, fake IBM devices or IBM
hardware.

Request -> plan (``planning``: backend, circuit specs from ``builders``, shots) -> run
(``execution``: exact Aer or the shot pipeline) -> ``Output``. The options are declared in
``options``. This module imports Qiskit only inside the engine's methods, so declaring the
engine (for ``oile-q engines`` and the command line) stays light.
"""

from __future__ import annotations

import weakref

import numpy as np

from oile_q.engine import Cost, Engine, Output, Request
from oile_q.schedules import fresh_seed

from .modes import COMPILE_MODES
from .options import OPTIONS, mitigation_of, recorded_options
from .planning import Plan, build_specs, circuit_kind, plan, size_check

__all__ = ["CircuitEngine", "build_specs", "plan", "COMPILE_MODES"]

# The cost model of ``CircuitEngine.estimate``, fitted to benchmarks/bench_circuits.py (exact Aer)
# and to comparisons/hardware_noise (mitigated copies on a device noise model): a fixed cost per
# encounter, a density-matrix update that grows as 4^qubits, and the transpiling (and scheduling)
# of every mitigated copy on a device.
SECONDS_PER_ENCOUNTER = 3e-5
SECONDS_PER_DENSITY_ENTRY = 1.7e-8  # per encounter and entry of a 4^qubits density matrix
SECONDS_PER_COPY = 0.02
SECONDS_PER_SCHEDULED_COPY = 0.14


class CircuitEngine(Engine):
    """The ``circuit`` engine: OILE encounters as Qiskit circuits (``oile_q.run(sc, "circuit")``).

    A foreground scenario runs as a collision model (one partner qubit reset and re-prepared
    before each encounter, or fresh qubits); an ensemble as one light-cone tree per particle
    (exactly the OILE map) or as the closed N-qubit circuit. The backend is exact Aer
    (default), Aer with shots or a device noise model, a fake IBM device or IBM hardware; shot
    backends take error mitigation. The constructor takes no parameters; the options are
    listed by ``oile-q engines`` and declared in ``oile_q.circuits.options``.

    Examples
    --------
    >>> import oile_q
    >>> sc = oile_q.Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.2)
    >>> circ = oile_q.run(sc, "circuit", steps=4)
    >>> ref = oile_q.run(sc, "oile", steps=4)
    >>> bool(abs(circ.P.values - ref.P.values).max() < 1e-10), circ.attrs["aer_method"]
    (True, 'density_matrix')
    """

    name = "circuit"
    summary = (
        "each encounter as a Qiskit SWAP-power gate + vacuum rotations with partner reset, on Aer, "
        "fake IBM devices or IBM hardware"
    )
    grid = "steps"
    supports = frozenset({"ensemble", "foreground", "poisson", "replay"})
    requires = ("qiskit", "qiskit_aer")
    extra = "circuits"
    options = OPTIONS

    def __init__(self) -> None:
        self._plans = weakref.WeakKeyDictionary()

    def plan_of(self, request: Request) -> Plan:
        """The plan of a validated request (``planning.plan``), made once and kept until the run.

        Returns
        -------
        Plan
            (backend choice, circuit specs, circuit kind, shots).
        """
        if request not in self._plans:
            self._plans[request] = plan(request)
        return self._plans[request]

    def check(self, request: Request) -> None:
        """Refuse what the backend cannot take (``planning.plan``), before any run."""
        self.plan_of(request)

    def estimate(self, request: Request) -> Cost:
        """Encounters and qubits from the schedule alone (no circuit is built).

        Returns
        -------
        Cost
            Estimated seconds and memory, and what the run holds.
        """
        sc, o = request.scenario, request.options
        kind = circuit_kind(sc, o["circuit"], o["reset"], o["particles"])
        encounters = size_check(sc, request.schedule, request.steps, kind, o["particles"], o["max_encounters"])
        nsteps = request.steps
        nq = {"foreground": 2 if o["reset"] else nsteps + 1, "closed": sc.n, "tree": nsteps + 1}[kind]
        exact = o["backend"] == "aer"
        per = SECONDS_PER_ENCOUNTER + SECONDS_PER_DENSITY_ENTRY * 4.0 ** min(nq, 40)
        reps = 1 if exact else 3 * len(request.times)
        seconds = sum(encounters) * per * reps
        what = f"{sum(encounters)} encounters in {len(encounters)} circuit(s) of ~{nq} qubits"
        mit = mitigation_of(o)
        if mit.methods and not exact:
            # every measured circuit runs once per noise scale (folded: mean scale x the encounters) and
            # twirled copy; on a device each copy is transpiled and, with idle noise or DD, scheduled
            copies = mit.copies(service_twirls=str(o["backend"]).startswith("ibm:"))
            seconds *= copies * float(np.mean(mit.zne_scales))
            if o["backend"] not in ("aer-shots",):
                scheduled = mit.idle_noise or mit.dd
                seconds += reps * copies * (SECONDS_PER_SCHEDULED_COPY if scheduled else SECONDS_PER_COPY)
            what += f", each measured circuit in {copies} mitigated copies"
        return Cost(
            seconds=seconds,
            memory_bytes=16.0 * 4.0 ** min(nq, 40) if nq <= 13 else 0.0,
            what=what,
            hint="fewer steps, particles=[...], or the oile engine (the same physics, no circuits)",
        )

    def run(self, request: Request) -> Output:
        """Run the planned circuits and return the Bloch vectors with the circuit's extras.

        Returns
        -------
        Output
            P (time, particle, 3); extras ``particle_computed`` and, on shot backends,
            ``P_stderr``, ``P_ideal`` and the mitigation's variables; attrs describing the
            circuits, backend and mitigation; the options as they were used.
        """
        from .execution import exact_bloch, particles_computed, shot_run  # heavy: Qiskit and xarray

        choice, specs, kind, shots = self.plan_of(request)
        self._plans.pop(request, None)
        o = request.options
        attrs = {
            "backend": choice.name,
            "circuit": kind,
            "encounters": int(sum(s.encounters for s in specs)),
            "qubits": int(max(s.num_qubits for s in specs)),
            "resets": int(sum(s.resets for s in specs)),
            "isometry_encounters": int(sum(s.isometries for s in specs)),
        }
        stats = {"encounters": attrs["encounters"], "circuits": len(specs)}
        seed_sim = o["seed_simulator"]
        if seed_sim is None and not choice.exact and choice.kind != "ibm":
            seed_sim = fresh_seed()  # drawn and recorded, so that a re-run is bit-identical
        bar = request.progress.start(len(specs) if choice.exact else 1, unit="circuit" if choice.exact else "job")
        if choice.exact:
            P, attrs["aer_method"] = exact_bloch(specs, len(request.times), request.scenario.n, bar)
            extras = {}
        else:
            P, extras, shot_attrs, stats["circuits"] = shot_run(request, choice, specs, shots, seed_sim)
            attrs.update(shot_attrs)
            bar.update(1)
        extras["particle_computed"] = particles_computed(specs, request.scenario.n)
        options = recorded_options(
            o, backend=choice.name, circuit=kind, needs_isa=choice.needs_isa, shots=shots, seed_simulator=seed_sim
        )
        return Output(P=P, extras=extras, stats=stats, attrs=attrs, options=options)
