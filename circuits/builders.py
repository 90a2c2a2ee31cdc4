"""Circuit builders: the foreground collision model, the closed N-qubit schedule and the
light-cone tree, plus honest preparation of mixed states.

Every builder returns a ``CircuitSpec``: the logical circuit (encounters as
``EncounterGate`` / ``EncounterIsometryGate``, vacuum steps as ``VacuumRotationGate``,
no saves or measurements) and its *record points*: after which instruction which qubits
hold which particles' states at which recorded step. ``with_saves`` turns a spec into an
exact-simulation circuit (``save_density_matrix`` at every record point) and ``measured``
into one measured circuit per record point and Pauli basis.

Time: one step lasts mu*tau = gamma * step_fraction; the kick of an encounter is
phi = gamma g_ab and the vacuum angle of particle a is wt_a = (omega_a/mu) gamma step_fraction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qiskit.circuit import ClassicalRegister, QuantumCircuit

from oile_q.errors import InputError

from .engine import COMPILE_MODES
from .gates import EncounterGate, EncounterIsometryGate, VacuumRotationGate
from .lightcone import partner_table, tree_cost

__all__ = [
    "CircuitSpec",
    "COMPILE_MODES",
    "prepare_state",
    "foreground_circuit",
    "closed_circuit",
    "tree_circuit",
    "tree_cost",
    "partner_table",
    "with_saves",
    "measured",
]

PURE_TOL = 1e-12


@dataclass
class CircuitSpec:
    """A logical circuit and where to read particles' states from it.

    ``records``: list of (record index k, instruction position, qubits); after the first
    ``position`` instructions, ``qubits[j]`` holds particle ``particles[j]`` at recorded
    step k. ``encounters``: number of encounter instructions; ``isometries``: how many of
    them are two-CNOT isometries; ``resets``: number of reset instructions.
    """

    circuit: QuantumCircuit
    particles: tuple
    records: list = field(default_factory=list)
    encounters: int = 0
    isometries: int = 0
    resets: int = 0
    kind: str = ""
    encounter_positions: list = field(default_factory=list)  # record index -> encounters so far

    @property
    def num_qubits(self) -> int:
        return self.circuit.num_qubits


def _is_pure(P) -> bool:
    return abs(float(np.linalg.norm(P)) - 1.0) <= PURE_TOL


def prepare_state(qc: QuantumCircuit, P, qubit: int, purifier: int | None = None) -> None:
    """Prepare Bloch vector P on ``qubit`` (which must be in |0>).

    A mixed state (|P| < 1) is prepared honestly as half of a purification: with
    lambda_+- = (1 +- |P|)/2, Ry on the ``purifier`` (in |0>) makes
    sqrt(lambda_+)|0> + sqrt(lambda_-)|1>, a CNOT copies it onto ``qubit``, and the rotation
    taking z to P/|P| finishes; tracing out the purifier leaves (1 + P.sigma)/2.
    """
    P = np.asarray(P, dtype=float)
    r = float(np.linalg.norm(P))
    if r > PURE_TOL:
        pol = float(np.arccos(np.clip(P[2] / r, -1.0, 1.0)))
        az = float(np.arctan2(P[1], P[0]))
    else:
        pol = az = 0.0
    if abs(r - 1.0) > PURE_TOL:
        if purifier is None:
            raise InputError(f"a mixed state (|P| = {r:.6g} < 1) needs a purifier qubit.")
        beta = 2 * np.arccos(np.sqrt((1 + r) / 2))
        qc.ry(beta, purifier)
        qc.cx(purifier, qubit)
    if pol != 0.0:
        qc.ry(pol, qubit)
    if az != 0.0 and pol != 0.0:
        qc.rz(az, qubit)


def _check_compile(compile):
    if compile not in COMPILE_MODES:
        raise InputError(f"`compile` must be one of {list(COMPILE_MODES)}; got {compile!r}.")


class _Tracker:
    """Keeps track of which qubits were used (a reused qubit is reset first)."""

    def __init__(self, qc):
        self.qc = qc
        self.used = set()
        self.resets = 0

    def fresh(self, q):
        if q in self.used:
            self.qc.reset(q)
            self.resets += 1
        self.used.add(q)


# --------------------------------------------------------------------------- foreground


def foreground_circuit(
    scenario,
    nsteps: int,
    *,
    record_steps=None,
    compile: str = "exact",
    reset: bool = True,
    step_fraction: float = 1.0,
    meets=None,
) -> CircuitSpec:
    """The foreground model (paper I Sec. II) as a collision model.

    Qubit 0 is the foreground neutrino. Before every encounter the partner qubit is reset
    and prepared in the background state Q (``reset=True``), or a fresh, never used
    qubit is taken (``reset=False``: nsteps + 1 qubits, for devices where reset is costly
    or missing). A mixed P0 or Q uses a purifier qubit (reset and reused, or fresh ones).
    ``meets`` (bool per step) marks the steps with an encounter (Poisson timing); the
    others are free vacuum precession. ``compile="isometry"`` merges "prepare Q" and the
    encounter into one two-CNOT isometry (needs a pure Q).
    """
    _check_compile(compile)
    if scenario.kind != "foreground":
        raise InputError("`scenario` must be a foreground scenario for foreground_circuit.")
    nsteps = int(nsteps)
    record_steps = np.arange(nsteps + 1) if record_steps is None else np.asarray(record_steps)
    meets = np.ones(nsteps, dtype=bool) if meets is None else np.asarray(meets, dtype=bool)
    P0 = scenario.P0[0]
    Q = scenario.background["Q"]
    q_pure = _is_pure(Q)
    if compile == "isometry" and not q_pure:
        raise InputError(
            f"`compile` 'isometry' needs a pure background state (|Q| = 1); got |Q| = {np.linalg.norm(Q):.6g}. "
            "Use 'exact'."
        )
    gamma, mu, theta = scenario.gamma, scenario.mu, scenario.theta
    phi = gamma * (1.0 - scenario.background["vdotu"])
    wt = float(scenario.omega[0]) / mu * gamma * step_fraction
    n_meet = int(meets[:nsteps].sum())
    need_q_pur = (not q_pure) and compile != "isometry"
    p_mixed = not _is_pure(P0)
    if reset:
        nq = 2 + (1 if (need_q_pur or p_mixed) else 0)
        purifier = 2 if nq == 3 else None
    else:
        nq = 1 + n_meet + (n_meet if need_q_pur else 0) + (1 if p_mixed else 0)
    qc = QuantumCircuit(nq, name="oile_foreground")
    tr = _Tracker(qc)
    spec = CircuitSpec(qc, particles=(0,), kind="foreground")
    mode = "exact" if compile == "isometry" else compile
    if reset:
        tr.fresh(0)
        if p_mixed:
            tr.fresh(purifier)
        prepare_state(qc, P0, 0, purifier if p_mixed else None)
        next_free = None
    else:
        tr.used.add(0)
        nxt = [1]

        def take():
            q = nxt[0]
            nxt[0] += 1
            return q

        p_pur = take() if p_mixed else None
        prepare_state(qc, P0, 0, p_pur)
        next_free = take
    rec = set(int(s) for s in record_steps)
    k = 0
    if 0 in rec:
        spec.records.append((k, len(qc.data), (0,)))
        spec.encounter_positions.append(0)
        k += 1
    for s in range(1, nsteps + 1):
        if meets[s - 1]:
            if reset:
                b = 1
                tr.fresh(b)
                pur = None
                if need_q_pur:
                    tr.fresh(purifier)
                    pur = purifier
            else:
                b = next_free()
                pur = next_free() if need_q_pur else None
            if compile == "isometry":
                qc.append(EncounterIsometryGate(phi, wt, wt, theta, Q), [0, b])
                spec.isometries += 1
            else:
                prepare_state(qc, Q, b, pur)
                qc.append(EncounterGate(phi, wt, wt, theta, mode), [0, b])
            spec.encounters += 1
        else:
            qc.append(VacuumRotationGate(wt, theta), [0])
        if s in rec:
            spec.records.append((k, len(qc.data), (0,)))
            spec.encounter_positions.append(spec.encounters)
            k += 1
    spec.resets = tr.resets
    return spec


# --------------------------------------------------------------------------- ensembles


def _angles(scenario, step_fraction):
    return scenario.omega / scenario.mu * scenario.gamma * step_fraction


def _g(scenario, a, b):
    return 1.0 - float(np.dot(scenario.velocity[a], scenario.velocity[b]))


def closed_circuit(
    scenario, pairs, *, record_steps=None, compile: str = "exact", step_fraction: float = 1.0
) -> CircuitSpec:
    """The closed N-qubit circuit of a schedule: qubit i is particle i, every step applies
    the encounters of its pairs (unpaired particles precess freely), nothing is reset, so
    the entanglement stays. Mixed initial states get one purifier qubit each (N..)."""
    _check_compile(compile)
    if compile == "isometry":
        raise InputError(
            "`compile` 'isometry' needs fresh partners; the closed circuit has none. "
            "Use 'exact', 'split' or 'symmetric'."
        )
    pairs = np.asarray(pairs)
    nsteps = pairs.shape[0]
    n = scenario.n
    record_steps = np.arange(nsteps + 1) if record_steps is None else np.asarray(record_steps)
    mixed = [i for i in range(n) if not _is_pure(scenario.P0[i])]
    qc = QuantumCircuit(n + len(mixed), name="oile_closed")
    for j, i in enumerate(mixed):
        prepare_state(qc, scenario.P0[i], i, n + j)
    for i in range(n):
        if i not in mixed:
            prepare_state(qc, scenario.P0[i], i)
    spec = CircuitSpec(qc, particles=tuple(range(n)), kind="closed")
    wt = _angles(scenario, step_fraction)
    rec = set(int(s) for s in record_steps)
    k = 0
    qubits = tuple(range(n))
    if 0 in rec:
        spec.records.append((k, len(qc.data), qubits))
        spec.encounter_positions.append(0)
        k += 1
    for s in range(nsteps):
        paired = np.zeros(n, dtype=bool)
        for a, b in pairs[s]:
            if a < 0:
                continue
            qc.append(
                EncounterGate(scenario.gamma * _g(scenario, a, b), wt[a], wt[b], scenario.theta, compile),
                [int(a), int(b)],
            )
            spec.encounters += 1
            paired[a] = paired[b] = True
        for i in np.flatnonzero(~paired):
            if wt[i] != 0.0:
                qc.append(VacuumRotationGate(wt[i], scenario.theta), [int(i)])
        if s + 1 in rec:
            spec.records.append((k, len(qc.data), qubits))
            spec.encounter_positions.append(spec.encounters)
            k += 1
    return spec


def _tree_needs_purifier(scenario, partner, particle, steps):
    """Whether any leaf of the tree (a particle's P0 reached through the light cone) is mixed."""
    need = {particle}
    reach = set(need)
    for k in range(steps, 0, -1):
        new = set(reach)
        for i in reach:
            j = partner[k - 1, i]
            if j >= 0:
                new.add(int(j))
        reach = new
    return any(not _is_pure(scenario.P0[i]) for i in reach)


def tree_circuit(
    scenario, pairs, particle: int, *, record_steps=None, compile: str = "exact", step_fraction: float = 1.0
) -> CircuitSpec:
    """The light-cone tree: the exact OILE one-body state of ``particle`` after each step.

    Built depth-first: qubit 0 carries the particle ("spine"); before its encounter at
    step k, the partner's state after k-1 steps is built on qubits 1.. from fresh, reset
    qubits by the same recursion, so the two inputs of every encounter are uncorrelated,
    which is exactly the product-state ansatz. Needs n + 1 qubits (one more if a mixed
    initial state needs a purifier) and, with every particle meeting someone each step,
    2^n - 1 encounters. With ``compile="isometry"``, encounters whose partner is a freshly
    prepared pure initial state use the two-CNOT isometry; the others are "exact".
    """
    _check_compile(compile)
    pairs = np.asarray(pairs)
    partner = partner_table(pairs, scenario.n)
    record_steps = np.arange(pairs.shape[0] + 1) if record_steps is None else np.asarray(record_steps)
    nsteps = int(record_steps.max())
    pur_needed = _tree_needs_purifier(scenario, partner, particle, nsteps)
    nq = nsteps + 1 + (1 if pur_needed else 0)
    purifier = nq - 1 if pur_needed else None
    qc = QuantumCircuit(nq, name=f"oile_tree_{particle}")
    tr = _Tracker(qc)
    spec = CircuitSpec(qc, particles=(particle,), kind="tree")
    wt = _angles(scenario, step_fraction)
    theta = scenario.theta
    mode = "exact" if compile == "isometry" else compile

    def leaf(i, q):
        tr.fresh(q)
        if _is_pure(scenario.P0[i]):
            prepare_state(qc, scenario.P0[i], q)
        else:
            tr.fresh(purifier)
            prepare_state(qc, scenario.P0[i], q, purifier)

    def step(i, k, q):
        """Apply step k to particle i on qubit q (which holds i after k-1 steps)."""
        j = partner[k - 1, i]
        if j < 0:
            if wt[i] != 0.0:
                qc.append(VacuumRotationGate(wt[i], theta), [q])
            return
        phi = scenario.gamma * _g(scenario, i, j)
        if compile == "isometry" and k == 1 and _is_pure(scenario.P0[j]):
            tr.fresh(q + 1)
            qc.append(EncounterIsometryGate(phi, wt[i], wt[j], theta, scenario.P0[j]), [q, q + 1])
            spec.isometries += 1
        else:
            build(int(j), k - 1, q + 1)
            qc.append(EncounterGate(phi, wt[i], wt[j], theta, mode), [q, q + 1])
        spec.encounters += 1

    def build(i, k, q):
        leaf(i, q)
        for kk in range(1, k + 1):
            step(i, kk, q)

    rec = set(int(s) for s in record_steps)
    leaf(particle, 0)
    r = 0
    if 0 in rec:
        spec.records.append((r, len(qc.data), (0,)))
        spec.encounter_positions.append(0)
        r += 1
    for k in range(1, nsteps + 1):
        step(particle, k, 0)
        if k in rec:
            spec.records.append((r, len(qc.data), (0,)))
            spec.encounter_positions.append(spec.encounters)
            r += 1
    spec.resets = tr.resets
    return spec


# --------------------------------------------------------------------------- read-out


def _copy_prefix(qc, stop):
    out = qc.copy_empty_like()
    for inst in qc.data[:stop]:
        out._append(inst)
    return out


def save_label(k: int, j: int) -> str:
    return f"r{k}_p{j}"


def with_saves(spec: CircuitSpec) -> QuantumCircuit:
    """The spec's circuit with ``save_density_matrix`` of every read qubit at every record
    point (labels ``r{k}_p{j}``: record k, j-th read qubit)."""
    from qiskit_aer.library import SaveDensityMatrix

    qc = spec.circuit
    out = qc.copy_empty_like()
    pos = 0
    for k, stop, qubits in spec.records:
        for inst in qc.data[pos:stop]:
            out._append(inst)
        pos = stop
        for j, q in enumerate(qubits):
            out.append(SaveDensityMatrix(1, label=save_label(k, j)), [q])
    return out


BASES = ("x", "y", "z")


def measured(spec: CircuitSpec, record: int, basis: str) -> QuantumCircuit:
    """The circuit up to record point ``record`` with its read qubits measured in the
    Pauli ``basis`` ("x", "y" or "z") into the classical register "c"."""
    k, stop, qubits = spec.records[record]
    out = _copy_prefix(spec.circuit, stop)
    creg = ClassicalRegister(len(qubits), "c")
    out.add_register(creg)
    for q in qubits:
        if basis == "x":
            out.h(q)
        elif basis == "y":
            out.sdg(q)
            out.h(q)
    for j, q in enumerate(qubits):
        out.measure(q, creg[j])
    out.name = f"{spec.circuit.name}_r{k}_{basis}"
    return out
