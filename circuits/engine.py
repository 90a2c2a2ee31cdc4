"""The ``circuit`` engine: ``oile_q.run(scenario, "circuit", ...)`` lands here.

Scenario + schedule -> circuit specs (builders) -> backend (exact Aer, shots, fake IBM,
IBM hardware) -> Bloch vectors -> the shared Dataset (``oile_q.results.make_dataset``).
"""

from __future__ import annotations

import json
import numbers

import numpy as np

from oile_q.errors import InputError, InputTypeError, check_int, describe
from oile_q.runner import resolve_steps
from oile_q.schedules import make_schedule

from .backends import AER_DM_MAX_QUBITS, AER_SV_MAX_QUBITS, bloch_from_counts, resolve_backend, run_counts, run_exact
from .builders import (BASES, COMPILE_MODES, closed_circuit, foreground_circuit, measured, partner_table,
                       save_label, tree_circuit, tree_cost, with_saves)
from .transpile import circuit_stats, encounter_stats, pass_manager, to_aer

__all__ = ["run_engine", "plan", "OPTIONS", "build_specs"]

OPTIONS = {
    "backend", "shots", "compile", "circuit", "reset", "particles", "seed_simulator", "seed_transpiler",
    "optimization_level", "max_encounters", "job_ids", "on_submit", "reference", "p",
}
DEFAULT_SHOTS = 4000
DEFAULT_MAX_ENCOUNTERS = 1023  # a light-cone tree of 10 steps (~1 min of exact Aer here)
MAX_SHOT_ENCOUNTERS = 2_000_000  # encounters summed over all measured circuits


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"`{name}` must be True or False; got {describe(value)}.")
    return bool(value)


def _foreground_meets(sched, nsteps):
    """Which steps of a foreground run bring an encounter (Poisson timing: the same
    counter-based stream as the ``oile`` engine)."""
    return sched.meets(0, nsteps)


def build_specs(scenario, sched, nsteps, record_steps, *, compile="exact", circuit=None, reset=True,
                particles=None, max_encounters=DEFAULT_MAX_ENCOUNTERS):
    """The circuit specs of a run (one for the foreground model or the closed circuit, one
    per particle for the light-cone tree)."""
    frac = sched.step_fraction
    if scenario.kind == "foreground":
        if circuit not in (None, "foreground"):
            raise InputError(f"`circuit` must be 'foreground' (or omitted) for a foreground scenario; got {circuit!r}.")
        if particles is not None and list(particles) != [0]:
            raise InputError(f"`particles` must be [0] (the foreground neutrino) for a foreground scenario; got {particles!r}.")
        meets = _foreground_meets(sched, nsteps)
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
    else:
        if isinstance(particles, (numbers.Integral, str)) or not hasattr(particles, "__iter__"):
            raise InputTypeError(f"`particles` must be a list of particle indices; got {describe(particles)}.")
        particles = [check_int("particles[]", i, low=0) for i in particles]
        if not particles:
            raise InputError("`particles` must name at least one particle; got an empty list.")
        if max(particles) >= scenario.n or len(set(particles)) != len(particles):
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


def plan(scenario, *, steps=None, t_max=None, times=None, schedule="matching", seed=None, p=None,
         compile="exact", circuit=None, reset=True, particles=None, max_encounters=DEFAULT_MAX_ENCOUNTERS):
    """The schedule, step count, recorded steps and circuit specs of a request, without
    running anything. Returns (schedule, nsteps, record_steps, specs, kind)."""
    sched = make_schedule(schedule, scenario.n, seed=seed, p=p, foreground=scenario.kind == "foreground")
    dt = scenario.gamma * sched.step_fraction
    nsteps, record_steps = resolve_steps(dt, steps=steps, t_max=t_max, times=times)
    if sched.length is not None and sched.length < nsteps:
        raise InputError(f"`schedule` array has {sched.length} steps; the run needs {nsteps}.")
    specs, kind = build_specs(scenario, sched, nsteps, record_steps, compile=compile, circuit=circuit,
                              reset=reset, particles=particles, max_encounters=max_encounters)
    return sched, nsteps, record_steps, specs, kind


def _exact_method(specs):
    has_reset = any(s.resets > 0 for s in specs)
    nq = max(s.num_qubits for s in specs)
    if has_reset:
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

    method = _exact_method(specs)
    data = run_exact([to_aer(with_saves(s)) for s in specs], method=method)
    P = np.full((nrec, n, 3), np.nan)
    for spec, d in zip(specs, data):
        for k, _, qubits in spec.records:
            for j, _q in enumerate(qubits):
                rho = np.asarray(d[save_label(k, j)])
                P[k, spec.particles[j]] = rho_to_bloch(rho)
    return P, method


def run_engine(scenario, engine="circuit", *, steps=None, t_max=None, times=None, schedule="matching",
               seed=None, **options):
    """Run ``scenario`` as Qiskit circuits and return the shared Dataset.

    Parameters
    ----------
    scenario : oile_q.Scenario
        A foreground scenario (collision model) or an ensemble.
    engine : "circuit"
    steps, t_max, times, schedule, seed :
        As for every engine (``oile_q.run``).
    backend : str or Qiskit backend, default "aer"
        "aer" (exact density matrix), "aer-shots", "aer-noise:fake_<name>", "fake_<name>",
        "ibm:<name>", or a backend object.
    shots : int, default 4000 on shot-based backends
        Shots per circuit and Pauli basis (not allowed with "aer").
    compile : {"exact", "split", "symmetric", "isometry"}, default "exact"
        How an encounter is compiled (``EncounterGate`` modes, or the two-CNOT isometry
        where the partner is a freshly prepared pure state).
    circuit : {"tree", "closed"}, ensembles only, default "tree"
        "tree": the light-cone tree, exactly the OILE state of each chosen particle;
        "closed": all N qubits, no tracing (the entanglement stays).
    reset : bool, default True
        Foreground model: reset and re-prepare one partner qubit (True) or take a fresh
        qubit per encounter (False).
    particles : list of int, optional
        Tree circuit: the particles to compute (default all; the others are NaN).
    max_encounters : int, default 1023
        Refuse light-cone trees with more encounters per particle.
    seed_simulator, seed_transpiler : int, optional
        Seeds of the shot sampling and of the transpiler (default 0).
    optimization_level : int, default 3
        Preset pass manager level for ISA backends.
    reference : bool, default True
        On non-exact backends, also compute the ideal Bloch vectors (``P_ideal``) with
        exact Aer and report the deviation.
    job_ids : list of str
        IBM hardware: fetch these finished jobs instead of submitting (same request).
    on_submit : callable(list of str), optional
        Called with the job ids right after an IBM submission (before waiting).
    p : float
        Poisson encounter probability (schedule "poisson").

    Returns
    -------
    xarray.Dataset
        ``P`` (time, particle, component) in the flavor basis; with shots also
        ``P_stderr``; with ``reference`` also ``P_ideal``; attrs ``backend``, ``encounters``,
        ``qubits``, transpile statistics (``transpiled_2q_per_encounter``,
        ``transpiled_depth_per_encounter``, ...) and ``job_ids`` for hardware.
    """
    from oile_q.results import make_dataset
    from oile_q.scenario import Scenario

    if not isinstance(scenario, Scenario):
        raise InputTypeError(f"`scenario` must be an oile_q.Scenario; got {describe(scenario)}.")
    if engine != "circuit":
        raise InputError(f"`engine` must be 'circuit' for oile_q.circuits; got {describe(engine)}.")
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise InputError(f"`{unknown[0]}` is not an option of engine 'circuit'; expected among {sorted(OPTIONS)}.")
    compile = options.get("compile", "exact")
    if compile not in COMPILE_MODES:
        raise InputError(f"`compile` must be one of {list(COMPILE_MODES)}; got {describe(compile)}.")
    reset = _check_bool("reset", options.get("reset", True))
    reference = _check_bool("reference", options.get("reference", True))
    opt_level = check_int("optimization_level", options.get("optimization_level", 3), low=0)
    if opt_level > 3:
        raise InputError(f"`optimization_level` must be 0, 1, 2 or 3; got {opt_level}.")
    seed_sim = options.get("seed_simulator")
    if seed_sim is not None:
        seed_sim = check_int("seed_simulator", seed_sim, low=0)
    seed_tr = check_int("seed_transpiler", options.get("seed_transpiler", 0), low=0)
    max_enc = check_int("max_encounters", options.get("max_encounters", DEFAULT_MAX_ENCOUNTERS), low=1)
    shots = options.get("shots")
    if shots is not None:
        if isinstance(shots, bool) or not isinstance(shots, numbers.Integral) or shots <= 0:
            raise InputError(f"`shots` must be a positive integer; got {describe(shots)}.")
        shots = int(shots)
    job_ids = options.get("job_ids")
    if job_ids is not None:
        if isinstance(job_ids, str):
            job_ids = [job_ids]
        job_ids = [str(j) for j in job_ids]
        if not job_ids or any(not j for j in job_ids):
            raise InputError("`job_ids` must be a non-empty list of job id strings.")
    on_submit = options.get("on_submit")
    if on_submit is not None and not callable(on_submit):
        raise InputTypeError(f"`on_submit` must be callable; got {describe(on_submit)}.")

    choice = resolve_backend(options.get("backend", "aer"))
    if choice.exact and shots is not None:
        raise InputError("`shots` does not apply to backend 'aer' (exact density matrices); use 'aer-shots'.")
    if job_ids is not None and choice.kind != "ibm":
        raise InputError("`job_ids` applies to IBM hardware backends ('ibm:<name>') only.")
    if not choice.exact and shots is None:
        shots = DEFAULT_SHOTS
    sched, nsteps, record_steps, specs, kind = plan(
        scenario, steps=steps, t_max=t_max, times=times, schedule=schedule, seed=seed, p=options.get("p"),
        compile=compile, circuit=options.get("circuit"), reset=reset, particles=options.get("particles"),
        max_encounters=max_enc)
    rec_times = np.round(record_steps * sched.step_fraction * scenario.gamma, 12)
    nq = max(s.num_qubits for s in specs)
    needs_reset = any(s.resets > 0 for s in specs)
    if choice.num_qubits is not None and nq > choice.num_qubits:
        what = "light-cone tree" if kind == "tree" else f"{kind} circuit"
        raise InputError(f"the {what} needs {nq} qubits; backend {choice.name!r} has {choice.num_qubits}.")
    if needs_reset and not choice.reset_supported:
        hint = " (use reset=False / --no-reset for fresh partner qubits)" if kind == "foreground" else ""
        raise InputError(f"backend {choice.name!r} does not support reset, which the {kind} circuit needs{hint}.")

    n = scenario.n
    nrec = len(record_steps)
    extras = {}
    attrs = {"backend": choice.name, "circuit": kind, "encounters": int(sum(s.encounters for s in specs)),
             "qubits": int(nq), "resets": int(sum(s.resets for s in specs)),
             "isometry_encounters": int(sum(s.isometries for s in specs))}
    import xarray as xr

    if choice.exact:
        P, method = _exact_bloch(specs, nrec, n)
        attrs["aer_method"] = method
    else:
        total = sum(3 * sum(s.encounter_positions) for s in specs)
        if total > MAX_SHOT_ENCOUNTERS:
            raise InputError(
                f"measuring every recorded time needs {total} encounters in {3 * sum(len(s.records) for s in specs)} "
                f"circuits (limit {MAX_SHOT_ENCOUNTERS}); record fewer `times`.")
        circuits, index = [], []
        for si, spec in enumerate(specs):
            for r in range(len(spec.records)):
                for b in BASES:
                    circuits.append(measured(spec, r, b))
                index.append((si, r))
        if choice.needs_isa:
            pm = pass_manager(choice.backend, optimization_level=opt_level, seed_transpiler=seed_tr)
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
            attrs["optimization_level"] = opt_level
        else:
            run_circuits = [to_aer(c) for c in circuits]
        counts, jids = run_counts(choice, run_circuits, shots=shots, seed=seed_sim, on_submit=on_submit,
                                  job_ids=job_ids)
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
        if reference:
            try:
                Pi, _ = _exact_bloch(specs, nrec, n)
            except ValueError:
                Pi = None
            if Pi is not None:
                extras["P_ideal"] = xr.DataArray(Pi, dims=("time", "particle", "component"),
                                                 attrs={"long_name": "ideal (exact Aer) Bloch vector"})
                dev = np.nanmax(np.abs(P - Pi)) if np.isfinite(P).any() else np.nan
                attrs["max_deviation_from_ideal"] = float(dev)
                with np.errstate(invalid="ignore"):
                    z = np.abs(P - Pi) / np.where(E > 0, E, np.nan)
                attrs["max_deviation_in_stderr"] = float(np.nanmax(z)) if np.isfinite(z).any() else float("nan")
    computed = np.zeros(n, dtype=np.int8)
    for s in specs:
        computed[list(s.particles)] = 1
    extras["particle_computed"] = xr.DataArray(computed, dims=("particle",))
    if sched.kind == "explicit":
        extras["schedule_pairs"] = xr.DataArray(sched.pairs[:nsteps], dims=("step", "slot", "end"))
    opts = {"backend": choice.name, "compile": compile, "circuit": kind}
    if kind == "foreground":
        opts["reset"] = reset
    if shots is not None:
        opts["shots"] = shots
    for key in ("particles", "seed_simulator", "seed_transpiler", "optimization_level", "max_encounters", "p"):
        if key in options and options[key] is not None:
            v = options[key]
            opts[key] = list(map(int, v)) if key == "particles" else v
    ds = make_dataset(scenario, P, rec_times, engine="circuit", schedule_attrs=sched.attrs(), options=opts,
                      extras=extras)
    ds.attrs.update(attrs)
    json.dumps(opts)  # the options attr must stay JSON
    return ds


def _first_encounter(specs):
    for s in specs:
        for inst in s.circuit.data:
            if inst.operation.name in ("encounter", "encounter_iso"):
                return inst.operation
    return None
