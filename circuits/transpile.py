"""Transpiling to a backend's ISA and counting what it costs per encounter; ``to_aer`` makes this
package's gates runnable on Aer (as unitary gates)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Instruction
from qiskit.providers import BackendV2
from qiskit.transpiler import PassManager, StagedPassManager

__all__ = ["pass_manager", "two_qubit_count", "encounter_stats", "circuit_stats", "to_aer"]

_CUSTOM = ("encounter", "encounter_iso", "swap_pow", "vacuum")


def pass_manager(
    backend: BackendV2 | None = None,
    *,
    basis_gates: Iterable[str] | None = None,
    optimization_level: int = 3,
    seed_transpiler: int | None = 0,
    initial_layout: list[int] | None = None,
) -> StagedPassManager:
    """A preset pass manager for ``backend`` (its target) or for bare ``basis_gates``.

    Parameters
    ----------
    backend : BackendV2, optional
        Transpile to this backend's ISA (its target, coupling map and errors).
    basis_gates : iterable of str, optional
        Without a backend: the gate names to compile to (no coupling map).
    optimization_level : int
        Qiskit's preset level, 0..3.
    seed_transpiler : int or None
        Seed of the transpiler's randomized passes.
    initial_layout : list of int, optional
        With a backend: the physical qubit of each circuit qubit (kept as given).

    Returns
    -------
    StagedPassManager
        ``generate_preset_pass_manager``'s pass manager.

    Raises
    ------
    TypeError
        When neither ``backend`` nor ``basis_gates`` is given.

    Examples
    --------
    >>> from oile_q.circuits import SwapPowerGate
    >>> from qiskit import QuantumCircuit
    >>> qc = QuantumCircuit(2)
    >>> _ = qc.append(SwapPowerGate(0.3), [0, 1])
    >>> sorted(pass_manager(basis_gates=["cx", "rz", "sx", "x"]).run(qc).count_ops())
    ['cx', 'rz', 'sx']
    """
    from qiskit.transpiler import generate_preset_pass_manager

    if backend is not None:
        return generate_preset_pass_manager(
            optimization_level=optimization_level,
            backend=backend,
            seed_transpiler=seed_transpiler,
            initial_layout=initial_layout,
        )
    return generate_preset_pass_manager(
        optimization_level=optimization_level, basis_gates=list(basis_gates), seed_transpiler=seed_transpiler
    )


def two_qubit_count(qc: QuantumCircuit) -> int:
    """Number of two-qubit gates (barriers and directives excluded).

    Returns
    -------
    int
        The count over the circuit's instructions.
    """
    n = 0
    for inst in qc.data:
        op = inst.operation
        if len(inst.qubits) == 2 and not getattr(op, "_directive", False) and op.name != "barrier":
            n += 1
    return n


def encounter_stats(gate: Instruction, pm: PassManager, *, fresh_partner: bool = False) -> dict:
    """Two-qubit gates and depth of one encounter instruction after ``pm``.

    Parameters
    ----------
    gate : Instruction
        A two-qubit instruction (an ``EncounterGate`` or ``EncounterIsometryGate``).
    pm : PassManager
        The pass manager to compile with (``pass_manager``).
    fresh_partner : bool
        Precede the gate by a reset of the partner (the isometry's setting).

    Returns
    -------
    dict
        "two_qubit" (count), "depth" and "ops" (gate name -> count) of the compiled circuit.

    Examples
    --------
    >>> from oile_q.circuits import EncounterGate
    >>> st = encounter_stats(EncounterGate(0.24, 0.21, -0.12, 0.3), pass_manager(basis_gates=["cx", "rz", "sx"]))
    >>> st["two_qubit"]
    3
    """
    qc = QuantumCircuit(2)
    if fresh_partner:
        qc.reset(1)
    qc.append(gate, [0, 1])
    tq = pm.run(qc)
    return {"two_qubit": two_qubit_count(tq), "depth": int(tq.depth()), "ops": dict(tq.count_ops())}


def circuit_stats(isa_circuits: Sequence[QuantumCircuit], encounters: int) -> dict:
    """Totals over transpiled circuits: two-qubit gates, their count per encounter
    (of the largest circuit), and the largest depth.

    Returns
    -------
    dict
        "two_qubit_total", "two_qubit_max_circuit", "depth_max" and
        "two_qubit_per_encounter_in_circuit".
    """
    twoq = [two_qubit_count(c) for c in isa_circuits]
    depth = [int(c.depth()) for c in isa_circuits]
    i = int(np.argmax(twoq)) if twoq else 0
    return {
        "two_qubit_total": int(sum(twoq)),
        "two_qubit_max_circuit": int(twoq[i]) if twoq else 0,
        "depth_max": int(max(depth)) if depth else 0,
        "two_qubit_per_encounter_in_circuit": (twoq[i] / encounters) if encounters else 0.0,
    }


def to_aer(qc: QuantumCircuit) -> QuantumCircuit:
    """Replace this package's gates by ``UnitaryGate`` of their exact matrices (Aer runs
    unitary gates natively; it does not know custom gate names).

    Parameters
    ----------
    qc : QuantumCircuit
        A circuit with ``EncounterGate``, ``EncounterIsometryGate``, ``SwapPowerGate`` or
        ``VacuumRotationGate`` instructions (bound parameters).

    Returns
    -------
    QuantumCircuit
        The same circuit with those instructions as unitary gates (one gate object per
        distinct instruction); everything else is kept.

    Raises
    ------
    InputTypeError
        When a gate of this package has an unbound parameter.

    Examples
    --------
    >>> from oile_q.circuits import SwapPowerGate
    >>> qc = QuantumCircuit(2)
    >>> _ = qc.append(SwapPowerGate(0.3), [0, 1])
    >>> [inst.operation.name for inst in to_aer(qc).data]
    ['unitary']
    """
    from qiskit.circuit.library import UnitaryGate

    out = qc.copy_empty_like()
    cache = {}
    for inst in qc.data:
        op = inst.operation
        if op.name in _CUSTOM:
            key = (op.name, getattr(op, "mode", None), tuple(float(p) for p in op.params))
            gate = cache.get(key)
            if gate is None:
                gate = cache[key] = UnitaryGate(np.asarray(op), label=op.name, check_input=False)
            out._append(inst.replace(operation=gate))
        else:
            out._append(inst)
    return out
