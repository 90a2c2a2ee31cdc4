"""``CircuitSpec``: a logical circuit and where to read particles' states from it, and what
turns it into circuits that run.

The builders (``builders``) return a spec: the logical circuit (encounters as
``EncounterGate`` / ``EncounterIsometryGate``, vacuum steps as ``VacuumRotationGate``, no
saves or measurements) and its *record points*: after which instruction which qubits hold
which particles' states at which recorded step. ``with_saves`` turns a spec into an
exact-simulation circuit (``save_density_matrix`` at every record point) and ``measured``
into one measured circuit per record point and Pauli basis. ``prepare_state`` is the honest
preparation of a (mixed) Bloch vector that every builder uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from qiskit.circuit import ClassicalRegister, Instruction, QuantumCircuit

from oile_q.errors import InputError

from .modes import ENCOUNTER_NAMES

__all__ = [
    "CircuitSpec",
    "prepare_state",
    "with_saves",
    "measured",
    "save_label",
    "first_encounter",
    "BASES",
    "PURE_TOL",
]

PURE_TOL = 1e-12  # |P| within this of 1 is a pure state


@dataclass
class CircuitSpec:
    """A logical circuit and where to read particles' states from it.

    The builders (``foreground_circuit``, ``closed_circuit``, ``tree_circuit``) return one;
    ``with_saves`` and ``measured`` turn it into circuits that run.

    Parameters
    ----------
    circuit : QuantumCircuit
        The logical circuit: state preparation, encounters and vacuum steps, no saves or
        measurements.
    particles : tuple of int
        The particles the read qubits hold, in the order of each record's ``qubits``.
    records : list of (int, int, tuple of int)
        (record index k, instruction position, qubits): after the first ``position``
        instructions, ``qubits[j]`` holds particle ``particles[j]`` at recorded step k.
    encounters : int
        Number of encounter instructions.
    isometries : int
        How many of them are two-CNOT isometries.
    resets : int
        Number of reset instructions.
    kind : str
        "foreground", "closed" or "tree".
    encounter_positions : list of int
        Record index -> encounters applied before it.

    Examples
    --------
    >>> spec = CircuitSpec(QuantumCircuit(1), particles=(0,))
    >>> spec.add_record((0,))
    >>> spec.records, spec.num_qubits
    ([(0, 0, (0,))], 1)
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
        """Qubits of the circuit.

        Returns
        -------
        int
            ``circuit.num_qubits``.
        """
        return self.circuit.num_qubits

    def add_record(self, qubits: tuple) -> None:
        """Record that, after the instructions so far, ``qubits[j]`` holds ``particles[j]``
        at the next recorded step (and how many encounters the circuit has had by then).
        """
        self.records.append((len(self.records), len(self.circuit.data), qubits))
        self.encounter_positions.append(self.encounters)


def prepare_state(qc: QuantumCircuit, P: ArrayLike, qubit: int, purifier: int | None = None) -> None:
    """Prepare Bloch vector P on ``qubit`` (which must be in |0>).

    A mixed state (|P| < 1) is prepared honestly as half of a purification: with
    lambda_+- = (1 +- |P|)/2, Ry on the ``purifier`` (in |0>) makes
    sqrt(lambda_+)|0> + sqrt(lambda_-)|1>, a CNOT copies it onto ``qubit``, and the rotation
    taking z to P/|P| finishes; tracing out the purifier leaves (1 + P.sigma)/2.

    Parameters
    ----------
    qc : QuantumCircuit
        The circuit to append to (in place).
    P : array_like, shape (3,)
        The Bloch vector, |P| <= 1.
    qubit : int
        The qubit that gets the state.
    purifier : int, optional
        A qubit in |0> for a mixed state (required when |P| < 1).

    Raises
    ------
    InputError
        For a mixed state without a purifier.

    Examples
    --------
    >>> import numpy as np
    >>> from qiskit.quantum_info import DensityMatrix, partial_trace
    >>> qc = QuantumCircuit(2)
    >>> prepare_state(qc, [0.3, 0.0, 0.4], 0, purifier=1)
    >>> rho = partial_trace(DensityMatrix(qc), [1]).data
    >>> np.allclose(rho, 0.5 * np.array([[1.4, 0.3], [0.3, 0.6]]))
    True
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


# --------------------------------------------------------------------------- read-out


def _copy_prefix(qc, stop):
    out = qc.copy_empty_like()
    for inst in qc.data[:stop]:
        out._append(inst)
    return out


def save_label(k: int, j: int) -> str:
    """The label of the saved density matrix of record k's j-th read qubit (``with_saves``)."""
    return f"r{k}_p{j}"


def with_saves(spec: CircuitSpec) -> QuantumCircuit:
    """The spec's circuit with ``save_density_matrix`` of every read qubit at every record
    point (labels ``save_label(k, j)`` = ``r{k}_p{j}``: record k, j-th read qubit).

    Parameters
    ----------
    spec : CircuitSpec
        A built circuit.

    Returns
    -------
    QuantumCircuit
        The circuit for an exact Aer run (after ``transpile.to_aer``).

    Examples
    --------
    >>> from oile_q import Scenario
    >>> from oile_q.circuits.builders import foreground_circuit
    >>> spec = foreground_circuit(Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.2), 2)
    >>> with_saves(spec).count_ops()["save_density_matrix"]
    3
    """
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
    Pauli ``basis`` ("x", "y" or "z") into the classical register "c".

    Parameters
    ----------
    spec : CircuitSpec
        A built circuit.
    record : int
        Index into ``spec.records``.
    basis : {"x", "y", "z"}
        The Pauli basis (``BASES``): H before the measurement for x, S^dagger H for y.

    Returns
    -------
    QuantumCircuit
        The measured circuit, named ``<circuit>_r<k>_<basis>``.

    Examples
    --------
    >>> from oile_q import Scenario
    >>> from oile_q.circuits.builders import foreground_circuit
    >>> spec = foreground_circuit(Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.2), 2)
    >>> qc = measured(spec, 1, "x")
    >>> qc.name, qc.count_ops()["measure"]
    ('oile_foreground_r1_x', 1)
    """
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


def first_encounter(specs: Sequence[CircuitSpec]) -> Instruction | None:
    """The first encounter instruction (``EncounterGate`` or ``EncounterIsometryGate``) of specs,
    in order; None when they have none (a run without encounters).

    Examples
    --------
    >>> from oile_q import Scenario
    >>> from oile_q.circuits.builders import foreground_circuit
    >>> first_encounter([foreground_circuit(Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.2), 2)]).name
    'encounter'
    """
    for s in specs:
        for inst in s.circuit.data:
            if inst.operation.name in ENCOUNTER_NAMES:
                return inst.operation
    return None
