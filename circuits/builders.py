"""Circuit builders: the foreground collision model, the closed N-qubit schedule and the
light-cone tree.

Every builder returns a ``CircuitSpec`` (``specs``): the logical circuit and its record
points. This module also re-exports what a user of the builders needs from ``specs``
(``CircuitSpec``, ``prepare_state``, ``with_saves``, ``measured``, ...) and ``lightcone``
(``tree_cost``, ``partner_table``), so that ``oile_q.circuits.builders`` stays the one place
to import them from.

Time: one step lasts mu*tau = gamma * step_fraction; the kick of an encounter is
phi = gamma g_ab and the vacuum angle of particle a is wt_a = (omega_a/mu) gamma step_fraction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from qiskit.circuit import QuantumCircuit

from oile_q.errors import InputError

from .gates import EncounterGate, EncounterIsometryGate, VacuumRotationGate
from .lightcone import partner_table, tree_cost
from .modes import COMPILE_MODES
from .specs import (
    BASES,
    PURE_TOL,
    CircuitSpec,
    first_encounter,
    measured,
    prepare_state,
    save_label,
    with_saves,
)

if TYPE_CHECKING:
    from oile_q.scenario import Scenario

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
    "save_label",
    "first_encounter",
    "BASES",
]


def _is_pure(P) -> bool:
    return abs(float(np.linalg.norm(P)) - 1.0) <= PURE_TOL


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


class _ForegroundQubits:
    """The qubits of the foreground model. Qubit 0 holds the neutrino. With ``reset``, qubit 1
    is every partner and ``purifier`` (qubit 2) the purifier of mixed states, each reset before
    it is used again; without, every partner and purifier is a fresh qubit, taken in order."""

    def __init__(self, qc, reset, purifier):
        self.tracker = _Tracker(qc)
        self.reset = reset
        self.purifier = purifier
        self.next = 1

    def _take(self):
        self.next += 1
        return self.next - 1

    def start(self, p_mixed):
        """Take the neutrino's qubit; returns the purifier of a mixed P0 (else None)."""
        if self.reset:
            self.tracker.fresh(0)
            if p_mixed:
                self.tracker.fresh(self.purifier)
            return self.purifier if p_mixed else None
        self.tracker.used.add(0)
        return self._take() if p_mixed else None

    def partner(self, need_purifier):
        """The next partner's qubit and its purifier (None unless ``need_purifier``)."""
        if not self.reset:
            b = self._take()
            return b, self._take() if need_purifier else None
        self.tracker.fresh(1)
        if not need_purifier:
            return 1, None
        self.tracker.fresh(self.purifier)
        return 1, self.purifier

    def encounter(self, spec, compile, Q, need_purifier, phi, wt, theta):
        """Append an encounter of the neutrino with the next partner, in the background state Q
        (prepared, or merged into the two-CNOT isometry for ``compile="isometry"``)."""
        b, pur = self.partner(need_purifier)
        if compile == "isometry":
            spec.circuit.append(EncounterIsometryGate(phi, wt, wt, theta, Q), [0, b])
            spec.isometries += 1
        else:
            prepare_state(spec.circuit, Q, b, pur)
            spec.circuit.append(EncounterGate(phi, wt, wt, theta, compile), [0, b])
        spec.encounters += 1


def _foreground_size(P0, Q, compile, reset, n_meet):
    """Qubits of the foreground circuit, whether each partner needs a purifier (a mixed Q that
    is prepared, not merged into the isometry) and whether P0 does."""
    q_pure = _is_pure(Q)
    if compile == "isometry" and not q_pure:
        raise InputError(
            f"`compile` 'isometry' needs a pure background state (|Q| = 1); got |Q| = {np.linalg.norm(Q):.6g}. "
            "Use 'exact'."
        )
    need_q_pur = (not q_pure) and compile != "isometry"
    p_mixed = not _is_pure(P0)
    if reset:
        return 2 + (1 if (need_q_pur or p_mixed) else 0), need_q_pur, p_mixed
    return 1 + n_meet + (n_meet if need_q_pur else 0) + (1 if p_mixed else 0), need_q_pur, p_mixed


def foreground_circuit(
    scenario: Scenario,
    nsteps: int,
    *,
    record_steps: ArrayLike | None = None,
    compile: str = "exact",
    reset: bool = True,
    step_fraction: float = 1.0,
    meets: ArrayLike | None = None,
) -> CircuitSpec:
    """The foreground model (paper I Sec. II) as a collision model.

    Qubit 0 is the foreground neutrino. Before every encounter the partner qubit is reset
    and prepared in the background state Q (``reset=True``), or a fresh, never used
    qubit is taken (``reset=False``: nsteps + 1 qubits, for devices where reset is costly
    or missing). A mixed P0 or Q uses a purifier qubit (reset and reused, or fresh ones).

    Parameters
    ----------
    scenario : Scenario
        A foreground scenario (``Scenario.foreground``).
    nsteps : int
        Number of steps.
    record_steps : array of int, optional
        The steps whose state is recorded (default: every step, 0..nsteps).
    compile : str
        How an encounter is compiled (``modes.COMPILE_MODES``). "isometry" merges "prepare
        Q" and the encounter into one two-CNOT isometry (needs a pure Q).
    reset : bool
        Reuse one partner qubit by reset (True) or take a fresh qubit per encounter.
    step_fraction : float
        Length of a step in units of gamma/mu (below 1 for Poisson timing).
    meets : array of bool, optional
        Per step, whether it has an encounter (Poisson timing); the others are free vacuum
        precession. Default: every step.

    Returns
    -------
    CircuitSpec
        The circuit, with one record (qubit 0) per recorded step.

    Raises
    ------
    InputError
        For an ensemble scenario, an unknown ``compile``, or "isometry" with a mixed Q.

    Examples
    --------
    >>> from oile_q import Scenario
    >>> spec = foreground_circuit(Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.2), 3)
    >>> spec.num_qubits, spec.encounters, spec.resets, len(spec.records)
    (2, 3, 2, 4)
    """
    _check_compile(compile)
    if scenario.kind != "foreground":
        raise InputError("`scenario` must be a foreground scenario for foreground_circuit.")
    nsteps = int(nsteps)
    record_steps = np.arange(nsteps + 1) if record_steps is None else np.asarray(record_steps)
    meets = np.ones(nsteps, dtype=bool) if meets is None else np.asarray(meets, dtype=bool)
    P0, Q = scenario.P0[0], scenario.background["Q"]
    nq, need_q_pur, p_mixed = _foreground_size(P0, Q, compile, reset, int(meets[:nsteps].sum()))
    gamma, mu, theta = scenario.gamma, scenario.mu, scenario.theta
    phi = gamma * (1.0 - scenario.background["vdotu"])
    wt = float(scenario.omega[0]) / mu * gamma * step_fraction
    qc = QuantumCircuit(nq, name="oile_foreground")
    qubits = _ForegroundQubits(qc, reset, purifier=2 if nq == 3 else None)
    spec = CircuitSpec(qc, particles=(0,), kind="foreground")
    prepare_state(qc, P0, 0, qubits.start(p_mixed))
    rec = set(int(s) for s in record_steps)
    if 0 in rec:
        spec.add_record((0,))
    for s in range(1, nsteps + 1):
        if meets[s - 1]:
            qubits.encounter(spec, compile, Q, need_q_pur, phi, wt, theta)
        else:
            qc.append(VacuumRotationGate(wt, theta), [0])
        if s in rec:
            spec.add_record((0,))
    spec.resets = qubits.tracker.resets
    return spec


# --------------------------------------------------------------------------- ensembles


def _angles(scenario, step_fraction):
    return scenario.omega / scenario.mu * scenario.gamma * step_fraction


def _g(scenario, a, b):
    return 1.0 - float(np.dot(scenario.velocity[a], scenario.velocity[b]))


def closed_circuit(
    scenario: Scenario,
    pairs: ArrayLike,
    *,
    compile: str = "exact",
    record_steps: ArrayLike | None = None,
    step_fraction: float = 1.0,
) -> CircuitSpec:
    """The closed N-qubit circuit of a schedule: qubit i is particle i, every step applies
    the encounters of its pairs (unpaired particles precess freely), nothing is reset, so
    the entanglement stays. Mixed initial states get one purifier qubit each (N..).

    Parameters
    ----------
    scenario : Scenario
        An ensemble scenario.
    pairs : array_like, shape (steps, N // 2, 2)
        The schedule's pairs per step (-1 for no pair), e.g. ``oile_q.schedules.generate``.
    compile : {"exact", "split", "symmetric"}
        How an encounter is compiled ("isometry" needs fresh partners, which this circuit has not).
    record_steps : array_like of int, optional
        The steps whose state is recorded (default: every step, 0..steps).
    step_fraction : float
        Length of a step in units of gamma/mu.

    Returns
    -------
    CircuitSpec
        The circuit, with one record (all N qubits) per recorded step.

    Raises
    ------
    InputError
        For an unknown ``compile`` or "isometry".

    Examples
    --------
    >>> from oile_q import Scenario
    >>> from oile_q.schedules import generate
    >>> sc = Scenario.from_groups([dict(name="e", count=4, flavor="e")], gamma=0.1, seed=1)
    >>> spec = closed_circuit(sc, generate("matching", 4, 3, seed=1))
    >>> spec.num_qubits, spec.encounters, spec.resets
    (4, 6, 0)
    """
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
    spec = CircuitSpec(_closed_start(scenario), particles=tuple(range(n)), kind="closed")
    wt = _angles(scenario, step_fraction)
    rec = set(int(s) for s in record_steps)
    qubits = tuple(range(n))
    if 0 in rec:
        spec.add_record(qubits)
    for s in range(nsteps):
        _closed_step(spec, scenario, pairs[s], wt, compile)
        if s + 1 in rec:
            spec.add_record(qubits)
    return spec


def _closed_start(scenario):
    """The closed circuit with every particle's initial state prepared: qubit i is particle i,
    the purifiers of mixed states follow (N, N+1, ...), prepared first."""
    n = scenario.n
    mixed = [i for i in range(n) if not _is_pure(scenario.P0[i])]
    qc = QuantumCircuit(n + len(mixed), name="oile_closed")
    for j, i in enumerate(mixed):
        prepare_state(qc, scenario.P0[i], i, n + j)
    for i in range(n):
        if i not in mixed:
            prepare_state(qc, scenario.P0[i], i)
    return qc


def _closed_step(spec, scenario, step_pairs, wt, compile):
    """One step of the closed circuit: the encounters of the step's pairs, then the vacuum
    precession of the particles without a partner."""
    paired = np.zeros(scenario.n, dtype=bool)
    for a, b in step_pairs:
        if a < 0:
            continue
        spec.circuit.append(
            EncounterGate(scenario.gamma * _g(scenario, a, b), wt[a], wt[b], scenario.theta, compile),
            [int(a), int(b)],
        )
        spec.encounters += 1
        paired[a] = paired[b] = True
    for i in np.flatnonzero(~paired):
        if wt[i] != 0.0:
            spec.circuit.append(VacuumRotationGate(wt[i], scenario.theta), [int(i)])


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
    scenario: Scenario,
    pairs: ArrayLike,
    particle: int,
    *,
    record_steps: ArrayLike | None = None,
    compile: str = "exact",
    step_fraction: float = 1.0,
) -> CircuitSpec:
    """The light-cone tree: the exact OILE one-body state of ``particle`` after each step.

    Built depth-first: qubit 0 carries the particle ("spine"); before its encounter at
    step k, the partner's state after k-1 steps is built on qubits 1.. from fresh, reset
    qubits by the same recursion, so the two inputs of every encounter are uncorrelated,
    which is exactly the product-state ansatz. Needs n + 1 qubits (one more if a mixed
    initial state needs a purifier) and, with every particle meeting someone each step,
    2^n - 1 encounters. With ``compile="isometry"``, encounters whose partner is a freshly
    prepared pure initial state use the two-CNOT isometry; the others are "exact".

    Parameters
    ----------
    scenario : Scenario
        An ensemble scenario.
    pairs : array_like, shape (steps, N // 2, 2)
        The schedule's pairs per step (-1 for no pair).
    particle : int
        The particle whose one-body state is computed.
    record_steps : array_like of int, optional
        The steps whose state is recorded (default: every step, 0..steps).
    compile : str
        How an encounter is compiled (``modes.COMPILE_MODES``).
    step_fraction : float
        Length of a step in units of gamma/mu.

    Returns
    -------
    CircuitSpec
        The circuit of the tree, with one record per recorded step: qubit 0, the spine, holds
        ``particle``.

    Raises
    ------
    InputError
        For an unknown ``compile``.

    Examples
    --------
    >>> from oile_q import Scenario
    >>> from oile_q.schedules import generate
    >>> sc = Scenario.from_groups([dict(name="e", count=4, flavor="e")], gamma=0.1, seed=1)
    >>> spec = tree_circuit(sc, generate("matching", 4, 3, seed=1), 0)
    >>> spec.num_qubits, spec.encounters
    (4, 7)
    """
    _check_compile(compile)
    pairs = np.asarray(pairs)
    partner = partner_table(pairs, scenario.n)
    record_steps = np.arange(pairs.shape[0] + 1) if record_steps is None else np.asarray(record_steps)
    nsteps = int(record_steps.max())
    pur_needed = _tree_needs_purifier(scenario, partner, particle, nsteps)
    nq = nsteps + 1 + (1 if pur_needed else 0)
    qc = QuantumCircuit(nq, name=f"oile_tree_{particle}")
    spec = CircuitSpec(qc, particles=(particle,), kind="tree")
    tree = _Tree(spec, scenario, partner, _angles(scenario, step_fraction), compile, nq - 1 if pur_needed else None)
    rec = set(int(s) for s in record_steps)
    tree.leaf(particle, 0)
    if 0 in rec:
        spec.add_record((0,))
    for k in range(1, nsteps + 1):
        tree.step(particle, k, 0)
        if k in rec:
            spec.add_record((0,))
    spec.resets = tree.tracker.resets
    return spec


class _Tree:
    """The depth-first recursion of ``tree_circuit``: a particle's state after k steps is built
    on qubit q from its initial state (a leaf) and k steps, each encounter's partner built the
    same way on qubit q + 1 (fresh, reset qubits)."""

    def __init__(self, spec, scenario, partner, wt, compile, purifier):
        self.spec, self.qc, self.scenario, self.partner, self.wt = spec, spec.circuit, scenario, partner, wt
        self.compile, self.purifier = compile, purifier
        self.mode = "exact" if compile == "isometry" else compile
        self.tracker = _Tracker(self.qc)

    def leaf(self, i, q):
        """Prepare particle i's initial state on qubit q (with the purifier if it is mixed)."""
        P0 = self.scenario.P0[i]
        self.tracker.fresh(q)
        if _is_pure(P0):
            prepare_state(self.qc, P0, q)
        else:
            self.tracker.fresh(self.purifier)
            prepare_state(self.qc, P0, q, self.purifier)

    def step(self, i, k, q):
        """Apply step k to particle i on qubit q (which holds i after k-1 steps)."""
        sc, wt, theta, qc = self.scenario, self.wt, self.scenario.theta, self.qc
        j = self.partner[k - 1, i]
        if j < 0:
            if wt[i] != 0.0:
                qc.append(VacuumRotationGate(wt[i], theta), [q])
            return
        phi = sc.gamma * _g(sc, i, j)
        if self.compile == "isometry" and k == 1 and _is_pure(sc.P0[j]):
            self.tracker.fresh(q + 1)
            qc.append(EncounterIsometryGate(phi, wt[i], wt[j], theta, sc.P0[j]), [q, q + 1])
            self.spec.isometries += 1
        else:
            self.build(int(j), k - 1, q + 1)
            qc.append(EncounterGate(phi, wt[i], wt[j], theta, self.mode), [q, q + 1])
        self.spec.encounters += 1

    def build(self, i, k, q):
        """Particle i's state after k steps, on qubit q."""
        self.leaf(i, q)
        for kk in range(1, k + 1):
            self.step(i, kk, q)
