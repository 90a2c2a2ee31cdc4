"""The ``circuit`` engine: each encounter as a Qiskit circuit (SWAP-power gate + vacuum
rotations, partner reset mid-circuit) on exact Aer, Aer with shots, fake IBM devices or IBM
hardware.

Request -> circuit specs (``builders``) -> backend (``backends``) -> Bloch vectors -> ``Output``.
This module imports Qiskit only inside the engine's methods, so declaring the engine (for
``oile-q engines`` and the command line) stays light.
"""

from __future__ import annotations

import numbers
import weakref

import numpy as np

from oile_q.conventions import PROPAGATORS
from oile_q.engine import Cost, Engine, Option, Output
from oile_q.errors import InputError, InputTypeError, check_int, describe

__all__ = ["CircuitEngine", "build_specs", "plan", "COMPILE_MODES"]

DEFAULT_SHOTS = 4000
DEFAULT_MAX_ENCOUNTERS = 1023  # a light-cone tree of 10 steps (~1 min of exact Aer here)
MAX_SHOT_ENCOUNTERS = 2_000_000  # encounters summed over all measured circuits
COMPILE_MODES = PROPAGATORS + ("isometry",)  # isometry: two CNOTs for a fresh pure partner


def _shots(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise InputError(f"`shots` must be a positive integer; got {describe(value)}.")
    return int(value)


def _particles(value):
    if isinstance(value, (numbers.Integral, str)) or not hasattr(value, "__iter__"):
        raise InputTypeError(f"`particles` must be a list of particle indices; got {describe(value)}.")
    out = [check_int("particles[]", i, low=0) for i in value]
    if not out:
        raise InputError("`particles` must name at least one particle; got an empty list.")
    return out


def _level(value):
    if value > 3:
        raise InputError(f"`optimization_level` must be 0, 1, 2 or 3; got {value}.")
    return value


def _job_ids(value):
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (bytes, numbers.Number)) or not hasattr(value, "__iter__"):
        raise InputTypeError(f"`job_ids` must be a list of job id strings; got {describe(value)}.")
    value = [str(j) for j in value]
    if not value or any(not j for j in value):
        raise InputError("`job_ids` must be a non-empty list of job id strings.")
    return value


def _callable(value):
    if not callable(value):
        raise InputTypeError(f"`on_submit` must be callable; got {describe(value)}.")
    return value


def build_specs(scenario, sched, nsteps, record_steps, *, compile="exact", circuit=None, reset=True,
                particles=None, max_encounters=DEFAULT_MAX_ENCOUNTERS):
    """The circuit specs of a run (one for the foreground model or the closed circuit, one
    per particle for the light-cone tree), and the circuit kind."""
    from .builders import closed_circuit, foreground_circuit, partner_table, tree_circuit, tree_cost

    frac = sched.step_fraction
    if scenario.kind == "foreground":
        if circuit not in (None, "foreground"):
            raise InputError(f"`circuit` must be 'foreground' (or omitted) for a foreground scenario; got {circuit!r}.")
        if particles is not None and list(particles) != [0]:
            raise InputError(f"`particles` must be [0] (the foreground neutrino) for a foreground scenario; got {particles!r}.")
        meets = sched.meets(0, nsteps)
        return [foreground_circuit(scenario, nsteps, record_steps=record_steps, compile=compile, reset=reset,
                                   step_fraction=frac, meets=meets)], "foreground"
    circuit = "tree" if circuit is None else circuit
    if circuit not in ("tree", "closed"):
        raise InputError(f"`circuit` must be 'tree' or 'closed' for an ensemble; got {circuit!r}.")
    if not reset:
        raise InputError("`reset` must be True for an ensemble: the light-cone tree reuses qubits by reset, "
                         "and the closed circuit has no resets to drop.")
    pairs = sched.chunk(0, nsteps)
    if circuit == "closed":
        if particles is not None:
            raise InputError("`particles` applies to the 'tree' circuit; the closed circuit holds every particle.")
        return [closed_circuit(scenario, pairs, record_steps=record_steps, compile=compile,
                               step_fraction=frac)], "closed"
    if particles is None:
        particles = list(range(scenario.n))
    elif max(particles) >= scenario.n or len(set(particles)) != len(particles):
        raise InputError(f"`particles` must be distinct indices in 0..{scenario.n - 1}; got {particles}.")
    partner = partner_table(pairs, scenario.n)
    for i in particles:
        cost = tree_cost(partner, i, nsteps)
        if cost > max_encounters:
            raise InputError(
                f"the light-cone tree of particle {i} after {nsteps} steps needs {cost} encounters "
                f"(2^n - 1 with a partner every step), more than `max_encounters` = {max_encounters}; "
                "ask for fewer steps (or raise `max_encounters`).")
    return [tree_circuit(scenario, pairs, i, record_steps=record_steps, compile=compile, step_fraction=frac)
            for i in particles], "tree"


def plan(request):
    """(backend choice, circuit specs, circuit kind, shots) of a validated request: everything
    but the run. Raises InputError for requests the backend cannot take."""
    from .backends import resolve_backend

    o = request.options
    choice = resolve_backend(o["backend"])
    shots = o["shots"]
    if choice.exact and shots is not None:
        raise InputError("`shots` does not apply to backend 'aer' (exact density matrices); use 'aer-shots'.")
    if o["job_ids"] is not None and choice.kind != "ibm":
        raise InputError("`job_ids` applies to IBM hardware backends ('ibm:<name>') only.")
    if not choice.exact and shots is None:
        shots = DEFAULT_SHOTS
    specs, kind = build_specs(request.scenario, request.schedule, request.steps, request.record_steps,
                              compile=o["compile"], circuit=o["circuit"], reset=o["reset"],
                              particles=o["particles"], max_encounters=o["max_encounters"])
    nq = max(s.num_qubits for s in specs)
    if choice.num_qubits is not None and nq > choice.num_qubits:
        what = "light-cone tree" if kind == "tree" else f"{kind} circuit"
        raise InputError(f"the {what} needs {nq} qubits; backend {choice.name!r} has {choice.num_qubits}.")
    if any(s.resets > 0 for s in specs) and not choice.reset_supported:
        hint = " (use reset=False / --no-reset for fresh partner qubits)" if kind == "foreground" else ""
        raise InputError(f"backend {choice.name!r} does not support reset, which the {kind} circuit needs{hint}.")
    if choice.exact:
        _exact_method(specs)
    else:
        total = sum(3 * sum(s.encounter_positions) for s in specs)
        if total > MAX_SHOT_ENCOUNTERS:
            raise InputError(
                f"measuring every recorded time needs {total} encounters in {3 * sum(len(s.records) for s in specs)} "
                f"circuits (limit {MAX_SHOT_ENCOUNTERS}); record fewer `times`.")
    return choice, specs, kind, shots


def _exact_method(specs):
    from .backends import AER_DM_MAX_QUBITS, AER_SV_MAX_QUBITS

    nq = max(s.num_qubits for s in specs)
    if any(s.resets > 0 for s in specs):
        if nq > AER_DM_MAX_QUBITS:
            raise InputError(
                f"the circuit needs {nq} qubits with mid-circuit reset; Aer's exact density-matrix method "
                f"is limited here to {AER_DM_MAX_QUBITS} qubits (16 * 4^n bytes); ask for fewer steps.")
        return "density_matrix"
    if nq > AER_SV_MAX_QUBITS:
        raise InputError(f"the circuit needs {nq} qubits; the exact statevector simulation is limited here to "
                         f"{AER_SV_MAX_QUBITS}.")
    return "statevector"


def _exact_bloch(specs, nrec, n):
    """Exact Bloch vectors (nrec, n, 3) from saved density matrices on Aer."""
    from oile_q.conventions import rho_to_bloch

    from .backends import run_exact
    from .builders import save_label, with_saves
    from .transpile import to_aer

    method = _exact_method(specs)
    data = run_exact([to_aer(with_saves(s)) for s in specs], method=method)
    P = np.full((nrec, n, 3), np.nan)
    for spec, d in zip(specs, data):
        for k, _, qubits in spec.records:
            for j, _q in enumerate(qubits):
                rho = np.asarray(d[save_label(k, j)])
                P[k, spec.particles[j]] = rho_to_bloch(rho)
    return P, method


def _first_encounter(specs):
    for s in specs:
        for inst in s.circuit.data:
            if inst.operation.name in ("encounter", "encounter_iso"):
                return inst.operation
    return None


class CircuitEngine(Engine):
    name = "circuit"
    summary = ("each encounter as a Qiskit SWAP-power gate + vacuum rotations with partner reset, on Aer, "
               "fake IBM devices or IBM hardware")
    grid = "steps"
    supports = frozenset({"ensemble", "foreground", "poisson", "replay"})
    options = (
        Option("backend", "aer (exact density matrix), aer-shots, aer-noise:fake_<name>, fake_<name>, "
               "ibm:<name>, or a Qiskit backend object", default="aer"),
        Option("shots", "shots per circuit and Pauli basis (shot backends; default 4000)", check=_shots),
        Option("compile", "how an encounter is compiled: exact, split, symmetric, or isometry (two CNOTs, "
               "fresh pure partners)", default="exact", kind="choice", choices=COMPILE_MODES),
        Option("circuit", "tree (light-cone tree, exactly OILE; ensembles' default), closed (all N qubits, "
               "no tracing) or foreground", kind="choice", choices=("tree", "closed", "foreground")),
        Option("reset", "foreground: reset and re-prepare one partner qubit (True) or a fresh qubit per "
               "encounter", default=True, kind="bool"),
        Option("particles", "tree circuit: the particles to compute (default all; the others are NaN)",
               check=_particles),
        Option("seed_simulator", "seed of the shot sampling", kind="int", low=0),
        Option("seed_transpiler", "seed of the transpiler", default=0, kind="int", low=0),
        Option("optimization_level", "preset pass manager level for device backends", default=3, kind="int",
               low=0, check=_level),
        Option("max_encounters", "refuse light-cone trees with more encounters per particle",
               default=DEFAULT_MAX_ENCOUNTERS, kind="int", low=1),
        Option("reference", "on non-exact backends also compute the ideal Bloch vectors (P_ideal) on exact Aer",
               default=True, kind="bool"),
        Option("job_ids", "IBM hardware: fetch these finished jobs instead of submitting", check=_job_ids,
               record=False),
        Option("on_submit", "called with the job ids right after an IBM submission", check=_callable,
               record=False, cli=False),
    )

    def __init__(self):
        self._plans = weakref.WeakKeyDictionary()

    def _plan(self, request):
        if request not in self._plans:
            self._plans[request] = plan(request)
        return self._plans[request]

    def check(self, request):
        self._plan(request)

    def estimate(self, request):
        """Encounters and qubits from the schedule alone (no circuit is built)."""
        sc = request.scenario
        o = request.options
        nsteps = request.steps
        if request.foreground:
            enc, nq, count = nsteps, 2 if o["reset"] else nsteps + 1, 1
        elif o["circuit"] == "closed":
            enc, nq, count = nsteps * (sc.n // 2), sc.n, 1
        else:
            from .builders import partner_table, tree_cost

            parts = o["particles"] or range(sc.n)
            partner = partner_table(request.schedule.chunk(0, nsteps), sc.n)
            costs = [tree_cost(partner, i, nsteps) for i in parts]
            enc, nq, count = sum(costs), nsteps + 1, len(costs)
        exact = o["backend"] == "aer"
        # measured (benchmarks/bench_circuits.py): 3e-5 s per encounter on 2 qubits; a density
        # matrix of nq qubits costs ~1.7e-8 * 4^nq s per encounter (1,023 encounters, 11 qubits: 75 s)
        per = 3e-5 + (1.7e-8 * 4.0 ** nq if exact or nq <= 13 else 1e-6 * 2.0 ** nq)
        reps = 1 if exact else 3 * len(request.times)
        mem = 16.0 * 4.0 ** nq if exact else 16.0 * 2.0 ** nq
        return Cost(seconds=enc * per * reps, memory_bytes=mem,
                    what=f"{enc} encounters in {count} circuit(s) of {nq} qubits",
                    hint="fewer steps, particles=[...], or the oile engine (same physics, no circuits)")

    def run(self, request):
        import xarray as xr

        from .backends import bloch_from_counts, run_counts
        from .builders import BASES, measured
        from .transpile import circuit_stats, encounter_stats, pass_manager, to_aer

        choice, specs, kind, shots = self._plan(request)
        self._plans.pop(request, None)
        o = request.options
        n = request.scenario.n
        nrec = len(request.times)
        nq = max(s.num_qubits for s in specs)
        extras = {}
        attrs = {"backend": choice.name, "circuit": kind, "encounters": int(sum(s.encounters for s in specs)),
                 "qubits": int(nq), "resets": int(sum(s.resets for s in specs)),
                 "isometry_encounters": int(sum(s.isometries for s in specs))}
        stats = {"encounters": attrs["encounters"], "circuits": len(specs)}
        seed_sim = o["seed_simulator"]
        if seed_sim is None and not choice.exact and choice.kind != "ibm":
            from oile_q.schedules import fresh_seed

            seed_sim = fresh_seed()  # drawn and recorded, so that a re-run is bit-identical
        bar = request.progress.start(1, unit="job")
        if choice.exact:
            P, method = _exact_bloch(specs, nrec, n)
            attrs["aer_method"] = method
        else:
            circuits, index = [], []
            for si, spec in enumerate(specs):
                for r in range(len(spec.records)):
                    for b in BASES:
                        circuits.append(measured(spec, r, b))
                    index.append((si, r))
            stats["circuits"] = len(circuits)
            if choice.needs_isa:
                pm = pass_manager(choice.backend, optimization_level=o["optimization_level"],
                                  seed_transpiler=o["seed_transpiler"])
                run_circuits = pm.run(circuits)
                enc_gate = _first_encounter(specs)
                if enc_gate is not None:
                    st = encounter_stats(enc_gate, pm, fresh_partner=enc_gate.name == "encounter_iso")
                    attrs["transpiled_2q_per_encounter"] = st["two_qubit"]
                    attrs["transpiled_depth_per_encounter"] = st["depth"]
                cs = circuit_stats(run_circuits, max(s.encounters for s in specs))
                attrs["transpiled_2q_total"] = cs["two_qubit_total"]
                attrs["transpiled_depth_max"] = cs["depth_max"]
                attrs["transpiled_2q_per_encounter_in_circuit"] = cs["two_qubit_per_encounter_in_circuit"]
                attrs["optimization_level"] = o["optimization_level"]
            else:
                run_circuits = [to_aer(c) for c in circuits]
            counts, jids = run_counts(choice, run_circuits, shots=shots, seed=seed_sim,
                                      on_submit=o["on_submit"], job_ids=o["job_ids"])
            P = np.full((nrec, n, 3), np.nan)
            E = np.full((nrec, n, 3), np.nan)
            for c, (si, r) in enumerate(index):
                spec = specs[si]
                k, _, qubits = spec.records[r]
                Pk, Ek = bloch_from_counts(counts[3 * c:3 * c + 3], len(qubits), shots)
                for j, p in enumerate(spec.particles):
                    P[k, p] = Pk[j]
                    E[k, p] = Ek[j]
            extras["P_stderr"] = xr.DataArray(E, dims=("time", "particle", "component"),
                                              attrs={"long_name": "standard error of P (binomial, per basis)"})
            attrs["shots"] = int(shots)
            if choice.kind == "ibm":
                attrs["job_ids"] = ",".join(jids)
            if o["reference"]:
                try:
                    Pi, _ = _exact_bloch(specs, nrec, n)
                except InputError:
                    Pi = None
                if Pi is not None:
                    extras["P_ideal"] = xr.DataArray(Pi, dims=("time", "particle", "component"),
                                                     attrs={"long_name": "ideal (exact Aer) Bloch vector"})
                    dev = np.nanmax(np.abs(P - Pi)) if np.isfinite(P).any() else np.nan
                    attrs["max_deviation_from_ideal"] = float(dev)
                    with np.errstate(invalid="ignore"):
                        z = np.abs(P - Pi) / np.where(E > 0, E, np.nan)
                    attrs["max_deviation_in_stderr"] = float(np.nanmax(z)) if np.isfinite(z).any() else float("nan")
        bar.update(1)
        computed = np.zeros(n, dtype=np.int8)
        for s in specs:
            computed[list(s.particles)] = 1
        extras["particle_computed"] = xr.DataArray(computed, dims=("particle",))
        recorded = {k: v for k, v in o.items() if v is not None and self.option(k).record}
        recorded.update(backend=choice.name, circuit=kind)
        if kind != "foreground":
            recorded.pop("reset", None)
        if shots is not None:
            recorded["shots"] = shots
        if seed_sim is not None:
            recorded["seed_simulator"] = seed_sim
        return Output(P=P, extras=extras, stats=stats, attrs=attrs, options=recorded)
