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
MAX_CIRCUIT_ENCOUNTERS = 2_000_000  # encounters in one circuit (a Qiskit instruction each)
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


def circuit_kind(scenario, circuit, reset, particles):
    """The circuit kind of a request ("foreground", "tree" or "closed"), with the option
    combinations checked."""
    if scenario.kind == "foreground":
        if circuit not in (None, "foreground"):
            raise InputError(f"`circuit` must be 'foreground' (or omitted) for a foreground scenario; got {circuit!r}.")
        if particles is not None and list(particles) != [0]:
            raise InputError(
                f"`particles` must be [0] (the foreground neutrino) for a foreground scenario; got {particles!r}."
            )
        return "foreground"
    circuit = "tree" if circuit is None else circuit
    if circuit not in ("tree", "closed"):
        raise InputError(f"`circuit` must be 'tree' or 'closed' for an ensemble; got {circuit!r}.")
    if not reset:
        raise InputError(
            "`reset` must be True for an ensemble: the light-cone tree reuses qubits by reset, "
            "and the closed circuit has no resets to drop."
        )
    if circuit == "closed" and particles is not None:
        raise InputError("`particles` applies to the 'tree' circuit; the closed circuit holds every particle.")
    if (
        circuit == "tree"
        and particles is not None
        and (max(particles) >= scenario.n or len(set(particles)) != len(particles))
    ):
        raise InputError(f"`particles` must be distinct indices in 0..{scenario.n - 1}; got {particles}.")
    return circuit


def size_check(scenario, sched, nsteps, kind, particles, max_encounters):
    """Refuse, from the schedule alone (no Qiskit, no circuit built), circuits too large to build.
    Returns the encounters per circuit (one entry per circuit)."""
    per_step = scenario.n // 2 if kind == "closed" else 1
    if nsteps * per_step > MAX_CIRCUIT_ENCOUNTERS:
        raise InputError(
            f"`steps` = {nsteps:.4g} would put {nsteps * per_step:.3g} encounters into one circuit; the "
            f"circuit engine builds at most {MAX_CIRCUIT_ENCOUNTERS:.3g} (ask for fewer steps, or use the "
            "oile engine: the same physics without circuits)."
        )
    if kind != "tree":
        return [nsteps * per_step]
    if sched.kind in ("matching", "round-robin"):  # everyone meets someone every step
        costs = [2**nsteps - 1] * scenario.n
    else:
        from .lightcone import partner_table, tree_costs

        costs = tree_costs(partner_table(sched.chunk(0, nsteps), scenario.n), nsteps)
    chosen = range(scenario.n) if particles is None else particles
    for i in chosen:
        if costs[i] > min(max_encounters, MAX_CIRCUIT_ENCOUNTERS):
            if costs[i] <= max_encounters:
                raise InputError(
                    f"the light-cone tree of particle {i} after {nsteps} steps needs {costs[i]:.6g} "
                    f"encounters; the circuit engine builds at most {MAX_CIRCUIT_ENCOUNTERS:.3g} per "
                    "circuit (ask for fewer steps, or use the oile engine: the same physics)."
                )
            raise InputError(
                f"the light-cone tree of particle {i} after {nsteps} steps needs {costs[i]:.6g} encounters "
                f"(2^n - 1 with a partner every step), more than `max_encounters` = {max_encounters}; "
                "ask for fewer steps (or raise `max_encounters`)."
            )
    return [int(costs[i]) for i in chosen]


def build_specs(scenario, sched, nsteps, record_steps, kind, *, compile="exact", reset=True, particles=None):
    """The circuit specs of a checked request (``circuit_kind``, ``size_check``): one for the
    foreground model or the closed circuit, one per particle for the light-cone tree."""
    from .builders import closed_circuit, foreground_circuit, tree_circuit

    frac = sched.step_fraction
    if kind == "foreground":
        return [
            foreground_circuit(
                scenario,
                nsteps,
                record_steps=record_steps,
                compile=compile,
                reset=reset,
                step_fraction=frac,
                meets=sched.meets(0, nsteps),
            )
        ]
    pairs = sched.chunk(0, nsteps)
    if kind == "closed":
        return [closed_circuit(scenario, pairs, record_steps=record_steps, compile=compile, step_fraction=frac)]
    return [
        tree_circuit(scenario, pairs, i, record_steps=record_steps, compile=compile, step_fraction=frac)
        for i in (range(scenario.n) if particles is None else particles)
    ]


def plan(request):
    """(backend choice, circuit specs, circuit kind, shots) of a validated request: everything
    but the run. Raises InputError for requests the backend cannot take; circuits too large to
    build are refused before Qiskit is imported."""
    o = request.options
    kind = circuit_kind(request.scenario, o["circuit"], o["reset"], o["particles"])
    size_check(request.scenario, request.schedule, request.steps, kind, o["particles"], o["max_encounters"])
    from .backends import resolve_backend

    choice = resolve_backend(o["backend"])
    shots = o["shots"]
    if choice.exact and shots is not None:
        raise InputError("`shots` does not apply to backend 'aer' (exact density matrices); use 'aer-shots'.")
    if o["job_ids"] is not None and choice.kind != "ibm":
        raise InputError("`job_ids` applies to IBM hardware backends ('ibm:<name>') only.")
    if not choice.exact and shots is None:
        shots = DEFAULT_SHOTS
    mit = mitigation_of(o)
    if mit.readout:
        try:
            import mthree  # noqa: F401
        except ImportError as err:
            raise InputError(
                f"`mitigate` readout needs mthree, which cannot be imported here "
                f"(pip install 'oile-q[mitigation]'): {err}."
            ) from None
    if mit.methods and choice.exact:
        raise InputError(
            f"`mitigate` {','.join(mit.methods)!r} applies to shot backends; backend 'aer' is exact "
            "(nothing to mitigate)."
        )
    if (mit.twirl or mit.dd) and not choice.needs_isa:
        raise InputError(
            f"`mitigate` twirl and dd need a device backend (aer-noise:fake_<name>, fake_<name>, "
            f"ibm:<name>); backend {choice.name!r} has no device gates or timings."
        )
    if (
        isinstance(o["layout"], list)
        and choice.needs_isa
        and choice.num_qubits is not None
        and max(o["layout"]) >= choice.num_qubits
    ):
        raise InputError(
            f"`layout` names qubit {max(o['layout'])}; backend {choice.name!r} has {choice.num_qubits} qubits."
        )
    copies = mit.copies(service_twirls=choice.kind == "ibm")
    if not choice.exact and shots < copies:
        raise InputError(
            f"`shots` = {shots} is fewer than the {copies} copies of each circuit the mitigation "
            "runs (noise scales x twirls); ask for more shots."
        )
    if mit.dd and mit.dd_sequence != "XX" and choice.kind != "ibm":
        raise InputError(
            f"`dd_sequence` {mit.dd_sequence!r} is done by the IBM Runtime service only (ibm:<name>); "
            f"on backend {choice.name!r} dynamical decoupling uses 'XX'."
        )
    specs = build_specs(
        request.scenario,
        request.schedule,
        request.steps,
        request.record_steps,
        kind,
        compile=o["compile"],
        reset=o["reset"],
        particles=o["particles"],
    )
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
                f"circuits (limit {MAX_SHOT_ENCOUNTERS}); record fewer `times`."
            )
    return choice, specs, kind, shots


def _exact_method(specs):
    from .backends import AER_DM_MAX_QUBITS, AER_SV_MAX_QUBITS

    nq = max(s.num_qubits for s in specs)
    if any(s.resets > 0 for s in specs):
        if nq > AER_DM_MAX_QUBITS:
            raise InputError(
                f"the circuit needs {nq} qubits with mid-circuit reset; Aer's exact density-matrix method "
                f"is limited here to {AER_DM_MAX_QUBITS} qubits (16 * 4^n bytes); ask for fewer steps."
            )
        return "density_matrix"
    if nq > AER_SV_MAX_QUBITS:
        raise InputError(
            f"the circuit needs {nq} qubits; the exact statevector simulation is limited here to {AER_SV_MAX_QUBITS}."
        )
    return "statevector"


def _exact_bloch(specs, nrec, n, bar=None):
    """Exact Bloch vectors (nrec, n, 3) from saved density matrices on Aer, one circuit at a
    time (progress per circuit)."""
    from oile_q.conventions import rho_to_bloch

    from .backends import run_exact
    from .builders import save_label, with_saves
    from .transpile import to_aer

    method = _exact_method(specs)
    P = np.full((nrec, n, 3), np.nan)
    for c, spec in enumerate(specs):
        d = run_exact([to_aer(with_saves(spec))], method=method)[0]
        for k, _, qubits in spec.records:
            for j, _q in enumerate(qubits):
                rho = np.asarray(d[save_label(k, j)])
                P[k, spec.particles[j]] = rho_to_bloch(rho)
        if bar is not None:
            bar.update(c + 1)
    return P, method


def _first_encounter(specs):
    for s in specs:
        for inst in s.circuit.data:
            if inst.operation.name in ("encounter", "encounter_iso"):
                return inst.operation
    return None


def mitigation_of(options):
    """The ``Mitigation`` of a request's options."""
    from .mitigation import Mitigation, parse_methods, parse_scales

    return Mitigation(
        methods=parse_methods(options["mitigate"]),
        scales=parse_scales(options["zne_scales"]),
        fit=options["zne_fit"],
        twirls=options["twirls"],
        dd_sequence=options["dd_sequence"],
        readout_shots=options["readout_shots"],
        idle_noise=options["idle_noise"],
    )


def isa_attrs(specs, plan, choice, options):
    """Transpiled two-qubit counts, depths and estimated fidelities (ESP) of the scale-1,
    untwirled device circuits, and the qubits used."""
    from .devices import layout_report
    from .transpile import circuit_stats, encounter_stats, pass_manager

    out = {"optimization_level": options["optimization_level"]}
    enc_gate = _first_encounter(specs)
    if enc_gate is not None:
        pm = pass_manager(
            choice.backend, optimization_level=options["optimization_level"], seed_transpiler=options["seed_transpiler"]
        )
        st = encounter_stats(enc_gate, pm, fresh_partner=enc_gate.name == "encounter_iso")
        out["transpiled_2q_per_encounter"] = st["two_qubit"]
        out["transpiled_depth_per_encounter"] = st["depth"]
    cs = circuit_stats(plan.isa_base, max(s.encounters for s in specs))
    out["transpiled_2q_total"] = cs["two_qubit_total"]
    out["transpiled_depth_max"] = cs["depth_max"]
    out["transpiled_2q_per_encounter_in_circuit"] = cs["two_qubit_per_encounter_in_circuit"]
    rep = layout_report(plan.isa_base, choice.backend.target)
    out["estimated_fidelity_min"] = float(rep["fidelity"]["min"])
    out["estimated_fidelity_max"] = float(rep["fidelity"]["max"])
    lay = [x for x in plan.layouts if x is not None]
    how = "auto" if options["layout"] == "auto" else "given"
    out["layout"] = f"{how}: " + ";".join(",".join(map(str, x)) for x in lay) if lay else "transpiler"
    return out


def mitigation_attrs(plan, info):
    """What the mitigation did, for the result's attrs (strings and numbers only)."""
    mit = plan.mitigation
    out = {
        "mitigation": ",".join(mit.methods) or "none",
        "mitigation_client_side": ",".join(plan.client) or "none",
        "mitigation_service_side": ",".join(plan.service) or "none",
        "shots_per_instance": int(plan.shots),
        "instances": len(plan.instances),
        "total_shots": int(plan.total_shots),
        "idle_noise": int(bool(mit.idle_noise or "dd" in plan.client)),
    }
    if mit.zne:
        out["zne_scales"] = ",".join(map(str, mit.zne_scales))
        out["zne_fit"] = mit.fit
        out["zne_fits_used"] = ",".join(f"{k}:{v}" for k, v in sorted(info.get("zne_fits_used", {}).items()))
    if mit.twirl:
        out["twirls"] = int(mit.twirls)
    if mit.dd:
        out["dd_sequence"] = mit.dd_sequence
    if mit.readout:
        out["readout_shots"] = int(plan.readout_shots)
        out["readout_qubits"] = ",".join(map(str, plan.cal_qubits))
    return out


def _layout(value):
    if isinstance(value, str):
        if value not in ("auto", "transpiler"):
            raise InputError(f"`layout` must be 'auto', 'transpiler' or a list of physical qubits; got {value!r}.")
        return value
    if isinstance(value, (bytes, numbers.Number)) or not hasattr(value, "__iter__"):
        raise InputTypeError(
            f"`layout` must be 'auto', 'transpiler' or a list of physical qubits; got {describe(value)}."
        )
    out = [check_int("layout[]", q, low=0) for q in value]
    if len(set(out)) != len(out):
        raise InputError(f"`layout` must list distinct physical qubits; got {out}.")
    return out


def _methods(value):
    from .mitigation import parse_methods

    parse_methods(value)
    return value


def _scales(value):
    from .mitigation import parse_scales

    return list(parse_scales(value))


class CircuitEngine(Engine):
    name = "circuit"
    summary = (
        "each encounter as a Qiskit SWAP-power gate + vacuum rotations with partner reset, on Aer, "
        "fake IBM devices or IBM hardware"
    )
    grid = "steps"
    supports = frozenset({"ensemble", "foreground", "poisson", "replay"})
    requires = ("qiskit", "qiskit_aer")
    extra = "circuits"
    options = (
        Option(
            "backend",
            "aer (exact density matrix), aer-shots, aer-noise:fake_<name>, fake_<name>, "
            "ibm:<name>, or a Qiskit backend object",
            default="aer",
        ),
        Option("shots", "shots per circuit and Pauli basis (shot backends; default 4000)", check=_shots),
        Option(
            "compile",
            "how an encounter is compiled: exact, split, symmetric, or isometry (two CNOTs, fresh pure partners)",
            default="exact",
            kind="choice",
            choices=COMPILE_MODES,
        ),
        Option(
            "circuit",
            "tree (light-cone tree, exactly OILE; ensembles' default), closed (all N qubits, no tracing) or foreground",
            kind="choice",
            choices=("tree", "closed", "foreground"),
        ),
        Option(
            "reset",
            "foreground: reset and re-prepare one partner qubit (True) or a fresh qubit per encounter",
            default=True,
            kind="bool",
        ),
        Option(
            "particles", "tree circuit: the particles to compute (default all; the others are NaN)", check=_particles
        ),
        Option("seed_simulator", "seed of the shot sampling", kind="int", low=0),
        Option("seed_transpiler", "seed of the transpiler", default=0, kind="int", low=0),
        Option(
            "optimization_level",
            "preset pass manager level for device backends",
            default=3,
            kind="int",
            low=0,
            check=_level,
        ),
        Option(
            "max_encounters",
            "refuse light-cone trees with more encounters per particle",
            default=DEFAULT_MAX_ENCOUNTERS,
            kind="int",
            low=1,
        ),
        Option(
            "reference",
            "on non-exact backends also compute the ideal Bloch vectors (P_ideal) on exact Aer",
            default=True,
            kind="bool",
        ),
        Option(
            "layout",
            "device backends: physical qubits -- auto (the best chain by the backend's reported "
            "errors), transpiler (Qiskit's own), or a list",
            default="auto",
            check=_layout,
        ),
        Option(
            "mitigate",
            "shot backends: error mitigation, comma-separated from readout (M3), zne (folded "
            "encounters), twirl (Pauli twirling), dd (dynamical decoupling); all; none",
            default="none",
            check=_methods,
        ),
        Option("zne_scales", "ZNE noise scales (odd integers, from 1)", default=[1, 3, 5], check=_scales),
        Option(
            "zne_fit",
            "ZNE extrapolation to zero noise",
            default="richardson",
            kind="choice",
            choices=("linear", "richardson", "exponential"),
        ),
        Option(
            "twirls", "Pauli-twirled copies per circuit (the shots are split over them)", default=16, kind="int", low=1
        ),
        Option(
            "dd_sequence",
            "dynamical-decoupling sequence (XpXm and XY4: IBM service only)",
            default="XX",
            kind="choice",
            choices=("XX", "XpXm", "XY4"),
        ),
        Option("readout_shots", "shots per readout-calibration state (all 0, all 1)", default=10000, kind="int", low=1),
        Option(
            "idle_noise",
            "device backends: schedule the circuits and pad idle qubits with delays, so a noise "
            "model applies relaxation while they wait (as a device does)",
            default=False,
            kind="bool",
        ),
        Option(
            "job_ids", "IBM hardware: fetch these finished jobs instead of submitting", check=_job_ids, record=False
        ),
        Option(
            "on_submit",
            "called with the job ids right after an IBM submission",
            check=_callable,
            record=False,
            affects_result=False,
            cli=False,
        ),
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
        sc, o = request.scenario, request.options
        kind = circuit_kind(sc, o["circuit"], o["reset"], o["particles"])
        encounters = size_check(sc, request.schedule, request.steps, kind, o["particles"], o["max_encounters"])
        nsteps = request.steps
        nq = {"foreground": 2 if o["reset"] else nsteps + 1, "closed": sc.n, "tree": nsteps + 1}[kind]
        exact = o["backend"] == "aer"
        # measured (benchmarks/bench_circuits.py): 3e-5 s per encounter on 2 qubits; a density
        # matrix of nq qubits costs ~1.7e-8 * 4^nq s per encounter (1,023 encounters, 11 qubits: 75 s)
        per = 3e-5 + 1.7e-8 * 4.0 ** min(nq, 40)
        reps = 1 if exact else 3 * len(request.times)
        seconds = sum(encounters) * per * reps
        what = f"{sum(encounters)} encounters in {len(encounters)} circuit(s) of ~{nq} qubits"
        mit = mitigation_of(o)
        if mit.methods and not exact:
            # every measured circuit runs once per noise scale (folded: mean scale x the encounters) and
            # twirled copy; on a device each copy is transpiled and, with idle noise or DD, scheduled:
            # ~0.02 s per copy, ~0.14 s scheduled (measured: comparisons/hardware_noise on fake_fez)
            copies = mit.copies(service_twirls=str(o["backend"]).startswith("ibm:"))
            seconds *= copies * float(np.mean(mit.zne_scales))
            if o["backend"] not in ("aer-shots",):
                seconds += reps * copies * (0.14 if (mit.idle_noise or mit.dd) else 0.02)
            what += f", each measured circuit in {copies} mitigated copies"
        return Cost(
            seconds=seconds,
            memory_bytes=16.0 * 4.0 ** min(nq, 40) if nq <= 13 else 0.0,
            what=what,
            hint="fewer steps, particles=[...], or the oile engine (the same physics, no circuits)",
        )

    def run(self, request):
        import xarray as xr

        from .shots import collect, execute, logical_circuits, on_records, prepare

        choice, specs, kind, shots = self._plan(request)
        self._plans.pop(request, None)
        o = request.options
        n = request.scenario.n
        nrec = len(request.times)
        nq = max(s.num_qubits for s in specs)
        extras = {}
        attrs = {
            "backend": choice.name,
            "circuit": kind,
            "encounters": int(sum(s.encounters for s in specs)),
            "qubits": int(nq),
            "resets": int(sum(s.resets for s in specs)),
            "isometry_encounters": int(sum(s.isometries for s in specs)),
        }
        stats = {"encounters": attrs["encounters"], "circuits": len(specs)}
        seed_sim = o["seed_simulator"]
        if seed_sim is None and not choice.exact and choice.kind != "ibm":
            from oile_q.schedules import fresh_seed

            seed_sim = fresh_seed()  # drawn and recorded, so that a re-run is bit-identical
        bar = request.progress.start(len(specs) if choice.exact else 1, unit="circuit" if choice.exact else "job")
        if choice.exact:
            P, method = _exact_bloch(specs, nrec, n, bar)
            attrs["aer_method"] = method
        else:
            mit = mitigation_of(o)
            logical, index = logical_circuits(specs)
            shot_plan = prepare(
                choice,
                specs,
                logical,
                mit,
                shots=shots,
                optimization_level=o["optimization_level"],
                seed_transpiler=o["seed_transpiler"],
                layout=o["layout"],
            )
            stats["circuits"] = len(shot_plan.instances) + len(shot_plan.calibration)
            if choice.needs_isa:
                attrs.update(isa_attrs(specs, shot_plan, choice, o))
            counts, cal_counts, jids = execute(
                choice, shot_plan, seed=seed_sim, on_submit=o["on_submit"], job_ids=o["job_ids"]
            )
            vals, errs, info = collect(shot_plan, counts, cal_counts)
            P = on_records(specs, index, vals, nrec, n)
            E = on_records(specs, index, errs, nrec, n)
            attrs.update(mitigation_attrs(shot_plan, info))
            if mit.zne:
                V = on_records(specs, index, [ps[0] for ps in info["per_scale"]], nrec, n)
                extras["P_noise_scaled"] = xr.DataArray(
                    V,
                    dims=("noise_scale", "time", "particle", "component"),
                    coords={"noise_scale": list(mit.zne_scales)},
                    attrs={"long_name": "P at each ZNE noise scale (folded encounters), before extrapolation"},
                )
            if mit.readout:
                extras["readout_matrices"] = xr.DataArray(
                    info["readout_matrices"],
                    dims=("readout_qubit", "measured", "prepared"),
                    coords={"readout_qubit": info["readout_qubits"]},
                    attrs={
                        "long_name": "assignment matrices A[measured, prepared] of the measured physical "
                        "qubits, measured with the run"
                    },
                )
            extras["P_stderr"] = xr.DataArray(
                E,
                dims=("time", "particle", "component"),
                attrs={"long_name": "standard error of P (binomial per basis, propagated through the mitigation)"},
            )
            attrs["shots"] = int(shots)
            if choice.kind == "ibm":
                attrs["job_ids"] = ",".join(jids)
            if o["reference"]:
                try:
                    Pi, _ = _exact_bloch(specs, nrec, n)
                except InputError:
                    Pi = None
                if Pi is not None:
                    extras["P_ideal"] = xr.DataArray(
                        Pi,
                        dims=("time", "particle", "component"),
                        attrs={"long_name": "ideal (exact Aer) Bloch vector"},
                    )
                    dev = np.nanmax(np.abs(P - Pi)) if np.isfinite(P).any() else np.nan
                    attrs["max_deviation_from_ideal"] = float(dev)
                    with np.errstate(invalid="ignore"):
                        z = np.abs(P - Pi) / np.where(E > 0, E, np.nan)
                    attrs["max_deviation_in_stderr"] = float(np.nanmax(z)) if np.isfinite(z).any() else float("nan")
        if not choice.exact:
            bar.update(1)
        computed = np.zeros(n, dtype=np.int8)
        for s in specs:
            computed[list(s.particles)] = 1
        extras["particle_computed"] = xr.DataArray(computed, dims=("particle",))
        recorded = {k: v for k, v in o.items() if v is not None and self.option(k).record}
        recorded.update(backend=choice.name, circuit=kind)
        mit = mitigation_of(o)
        unused = {
            "zne_scales": mit.zne,
            "zne_fit": mit.zne,
            "twirls": mit.twirl,
            "dd_sequence": mit.dd,
            "readout_shots": mit.readout,
            "mitigate": bool(mit.methods),
            "idle_noise": choice.needs_isa,
            "layout": choice.needs_isa,
        }
        for key, used in unused.items():
            if not used:
                recorded.pop(key, None)
        if kind != "foreground":
            recorded.pop("reset", None)
        if shots is not None:
            recorded["shots"] = shots
        if seed_sim is not None:
            recorded["seed_simulator"] = seed_sim
        return Output(P=P, extras=extras, stats=stats, attrs=attrs, options=recorded)
