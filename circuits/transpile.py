"""Transpiling to a backend's ISA and counting what it costs per encounter."""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit

__all__ = ["pass_manager", "two_qubit_count", "encounter_stats", "circuit_stats", "to_aer"]

_CUSTOM = ("encounter", "encounter_iso", "swap_pow", "vacuum")


def pass_manager(
    backend=None, *, basis_gates=None, optimization_level: int = 3, seed_transpiler=0, initial_layout=None
):
    """A preset pass manager for ``backend`` (its target) or for bare ``basis_gates``;
    ``initial_layout``: physical qubit of each circuit qubit (kept as given)."""
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
    """Number of two-qubit gates (barriers and directives excluded)."""
    n = 0
    for inst in qc.data:
        op = inst.operation
        if len(inst.qubits) == 2 and not getattr(op, "_directive", False) and op.name != "barrier":
            n += 1
    return n


def encounter_stats(gate, pm, *, fresh_partner: bool = False) -> dict:
    """Two-qubit gates and depth of one encounter instruction after ``pm``.

    ``fresh_partner``: precede it by a reset of the partner (the isometry's setting).
    """
    qc = QuantumCircuit(2)
    if fresh_partner:
        qc.reset(1)
    qc.append(gate, [0, 1])
    tq = pm.run(qc)
    return {"two_qubit": two_qubit_count(tq), "depth": int(tq.depth()), "ops": dict(tq.count_ops())}


def circuit_stats(isa_circuits, encounters: int) -> dict:
    """Totals over transpiled circuits: two-qubit gates, their count per encounter
    (of the largest circuit), and the largest depth."""
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
    unitary gates natively; it does not know custom gate names)."""
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
