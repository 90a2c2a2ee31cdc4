"""Planning a circuit-engine request: which circuits, on which backend, with how many shots.

``plan`` turns a validated request into a ``Plan`` (backend choice, circuit specs, circuit
kind, shots) and refuses, with one line naming the option, every request that the backend
cannot take. The cheap checks come first and need no Qiskit: ``circuit_kind`` (the option
combinations) and ``size_check`` (circuits too large to build, from the schedule alone), so
that the engine's cost estimate and the refusal of absurd requests stay light. Only
``build_specs`` imports the (Qiskit) circuit builders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from oile_q.engine import Request
from oile_q.errors import InputError

from .backends import AER_DM_MAX_QUBITS, AER_SV_MAX_QUBITS, BackendChoice, resolve_backend
from .lightcone import partner_table, tree_costs
from .options import DEFAULT_SHOTS, mitigation_of

if TYPE_CHECKING:
    from oile_q.scenario import Scenario
    from oile_q.schedules import Schedule

    from .specs import CircuitSpec

__all__ = [
    "Plan",
    "plan",
    "circuit_kind",
    "size_check",
    "build_specs",
    "exact_method",
    "MAX_SHOT_ENCOUNTERS",
    "MAX_CIRCUIT_ENCOUNTERS",
]

MAX_SHOT_ENCOUNTERS = 2_000_000  # encounters summed over all measured circuits
MAX_CIRCUIT_ENCOUNTERS = 2_000_000  # encounters in one circuit (a Qiskit instruction each)


class Plan(NamedTuple):
    """Everything about a circuit-engine request but the run (unpacks as a 4-tuple).

    Parameters
    ----------
    choice : BackendChoice
        The resolved backend.
    specs : list of CircuitSpec
        One circuit for the foreground model or the closed circuit, one per computed particle
        for the light-cone tree.
    kind : str
        "foreground", "tree" or "closed".
    shots : int or None
        Shots per circuit and Pauli basis; None on exact Aer.
    """

    choice: BackendChoice
    specs: list
    kind: str
    shots: int | None


def circuit_kind(scenario: Scenario, circuit: str | None, reset: bool, particles: Sequence[int] | None) -> str:
    """The circuit kind of a request, with the option combinations checked.

    Parameters
    ----------
    scenario : Scenario
        The request's scenario.
    circuit : {"foreground", "tree", "closed"} or None
        The ``circuit`` option (None: the scenario's default, "tree" for an ensemble).
    reset : bool
        The ``reset`` option (an ensemble needs True).
    particles : list of int or None
        The ``particles`` option.

    Returns
    -------
    str
        "foreground", "tree" or "closed".

    Raises
    ------
    InputError
        For a circuit that does not fit the scenario, ``reset=False`` on an ensemble, or
        ``particles`` that do not fit the circuit.

    Examples
    --------
    >>> from oile_q import Scenario
    >>> circuit_kind(Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1), None, True, None)
    'foreground'
    """
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


def size_check(
    scenario: Scenario,
    sched: Schedule,
    nsteps: int,
    kind: str,
    particles: Sequence[int] | None,
    max_encounters: int,
) -> list[int]:
    """Refuse, from the schedule alone (no Qiskit, no circuit built), circuits too large to build.

    Parameters
    ----------
    scenario, sched : Scenario, Schedule
        The request's scenario and schedule (whose pairs make the light-cone trees).
    nsteps : int
        Steps of the run.
    kind : str
        The circuit kind (``circuit_kind``).
    particles : list of int or None
        The particles of a light-cone tree (None: all).
    max_encounters : int
        The ``max_encounters`` option: the largest light-cone tree per particle.

    Returns
    -------
    list of int
        The encounters of each circuit (one entry per circuit).

    Raises
    ------
    InputError
        When a circuit would hold more than ``MAX_CIRCUIT_ENCOUNTERS`` encounters, or a
        light-cone tree more than ``max_encounters``.

    Examples
    --------
    >>> from oile_q import Scenario
    >>> from oile_q.schedules import make_schedule
    >>> sc = Scenario.from_groups([dict(name="e", count=4, flavor="e")], gamma=0.1, seed=1)
    >>> size_check(sc, make_schedule("matching", 4, seed=1), 3, "tree", [0, 2], 1023)
    [7, 7]
    """
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


def build_specs(
    scenario: Scenario,
    sched: Schedule,
    nsteps: int,
    record_steps,
    kind: str,
    *,
    compile: str = "exact",
    reset: bool = True,
    particles: Sequence[int] | None = None,
) -> list[CircuitSpec]:
    """The circuit specs of a checked request (``circuit_kind``, ``size_check``).

    Parameters
    ----------
    scenario : Scenario
        The request's scenario.
    sched : Schedule
        The request's schedule (its pairs, step fraction and, for the foreground model, the
        steps with an encounter).
    nsteps : int
        Steps of the run.
    record_steps : array of int or None
        The steps whose states are read (None: every step).
    kind : {"foreground", "tree", "closed"}
        The circuit kind.
    compile : str
        How an encounter is compiled (``modes.COMPILE_MODES``).
    reset : bool
        Foreground model: reuse one partner qubit by reset (True) or take fresh qubits.
    particles : list of int or None
        Light-cone tree: the particles to build (None: all).

    Returns
    -------
    list of CircuitSpec
        One for the foreground model or the closed circuit, one per particle for the
        light-cone tree.

    Raises
    ------
    InputError
        When a builder refuses the request (e.g. ``compile="isometry"`` for a closed circuit).

    Examples
    --------
    >>> from oile_q import Scenario
    >>> from oile_q.schedules import make_schedule
    >>> sc = Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    >>> [s.encounters for s in build_specs(sc, make_schedule("foreground", 1, foreground=True), 4, None, "foreground")]
    [4]
    """
    from .builders import closed_circuit, foreground_circuit, tree_circuit  # heavy: Qiskit

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


def _check_shots(choice: BackendChoice, options: Mapping) -> int | None:
    """The shots of the run, with the options that only some backends take checked."""
    shots = options["shots"]
    if choice.exact and shots is not None:
        raise InputError("`shots` does not apply to backend 'aer' (exact density matrices); use 'aer-shots'.")
    if options["job_ids"] is not None and choice.kind != "ibm":
        raise InputError("`job_ids` applies to IBM hardware backends ('ibm:<name>') only.")
    if not choice.exact and shots is None:
        shots = DEFAULT_SHOTS
    return shots


def _check_mitigation(choice: BackendChoice, options: Mapping, shots: int | None) -> None:
    """Refuse mitigation (and layout) settings that the backend cannot carry out."""
    mit = mitigation_of(options)
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
    layout = options["layout"]
    if (
        isinstance(layout, list)
        and choice.needs_isa
        and choice.num_qubits is not None
        and max(layout) >= choice.num_qubits
    ):
        raise InputError(f"`layout` names qubit {max(layout)}; backend {choice.name!r} has {choice.num_qubits} qubits.")
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


def _check_capacity(choice: BackendChoice, specs: list, kind: str) -> None:
    """Refuse circuits the backend cannot hold: too many qubits, resets it lacks, too large to
    simulate exactly, or too many encounters to measure."""
    nq = max(s.num_qubits for s in specs)
    if choice.num_qubits is not None and nq > choice.num_qubits:
        what = "light-cone tree" if kind == "tree" else f"{kind} circuit"
        raise InputError(f"the {what} needs {nq} qubits; backend {choice.name!r} has {choice.num_qubits}.")
    if any(s.resets > 0 for s in specs) and not choice.reset_supported:
        hint = " (use reset=False / --no-reset for fresh partner qubits)" if kind == "foreground" else ""
        raise InputError(f"backend {choice.name!r} does not support reset, which the {kind} circuit needs{hint}.")
    if choice.exact:
        exact_method(specs)
    else:
        total = sum(3 * sum(s.encounter_positions) for s in specs)
        if total > MAX_SHOT_ENCOUNTERS:
            raise InputError(
                f"measuring every recorded time needs {total} encounters in {3 * sum(len(s.records) for s in specs)} "
                f"circuits (limit {MAX_SHOT_ENCOUNTERS}); record fewer `times`."
            )


def plan(request: Request) -> Plan:
    """Everything about a validated circuit-engine request but the run.

    The option combinations and the circuit sizes are checked before Qiskit is imported; then
    the backend is resolved, the options are checked against it, and the circuits are built.

    Parameters
    ----------
    request : Request
        A validated request of the circuit engine.

    Returns
    -------
    Plan
        (backend choice, circuit specs, circuit kind, shots).

    Raises
    ------
    InputError
        For requests the backend cannot take, one line naming the option.

    Examples
    --------
    >>> import oile_q
    >>> from oile_q.runner import prepare
    >>> sc = oile_q.Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    >>> _, request = prepare(sc, "circuit", steps=3)
    >>> choice, specs, kind, shots = plan(request)
    >>> choice.name, kind, specs[0].encounters, shots
    ('aer', 'foreground', 3, None)
    """
    o = request.options
    kind = circuit_kind(request.scenario, o["circuit"], o["reset"], o["particles"])
    size_check(request.scenario, request.schedule, request.steps, kind, o["particles"], o["max_encounters"])
    choice = resolve_backend(o["backend"])
    shots = _check_shots(choice, o)
    _check_mitigation(choice, o, shots)
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
    _check_capacity(choice, specs, kind)
    return Plan(choice, specs, kind, shots)


def exact_method(specs: Sequence[CircuitSpec]) -> str:
    """The Aer method that simulates specs exactly, or an error when they are too large for it.

    Parameters
    ----------
    specs : list of CircuitSpec
        The circuits of a request.

    Returns
    -------
    str
        "density_matrix" when a circuit resets qubits, else "statevector".

    Raises
    ------
    InputError
        Beyond ``AER_DM_MAX_QUBITS`` qubits with resets, or ``AER_SV_MAX_QUBITS`` without.

    Examples
    --------
    >>> from oile_q import Scenario
    >>> from oile_q.circuits.builders import foreground_circuit
    >>> exact_method([foreground_circuit(Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1), 2)])
    'density_matrix'
    """
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
