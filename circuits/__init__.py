"""OILE encounters as Qiskit circuits (``oile_q.circuits``): gates, circuit builders,
backends (exact Aer, shots, fake IBM devices, IBM hardware) and the ``circuit`` engine.

* ``gates``: ``SwapPowerGate``, ``VacuumRotationGate``, ``EncounterGate`` (modes "exact",
  "split", "symmetric") and ``EncounterIsometryGate`` (two CNOTs for a fresh pure partner);
* ``builders``: the foreground collision model (reset or fresh partners), the closed
  N-qubit circuit of a schedule, the light-cone tree with qubit reuse, mixed-state
  preparation by purification;
* ``backends`` and ``transpile``: backend resolution, counts -> Bloch vectors with
  standard errors, ISA transpiling and per-encounter costs;
* ``engine.run_engine``: what ``oile_q.run(scenario, "circuit", ...)`` calls;
* ``cli.main``: ``oile-q circuit ...``.

This package may import Qiskit; the core (``oile_q``) never imports it.
"""

from .backends import bloch_from_counts, fake_backend, fake_backend_names, resolve_backend
from .builders import (CircuitSpec, closed_circuit, foreground_circuit, measured, prepare_state, tree_circuit,
                       tree_cost, with_saves)
from .engine import run_engine
from .gates import (EncounterGate, EncounterIsometryGate, SwapPowerGate, VacuumRotationGate, encounter_matrix,
                    swap_power_matrix, vacuum_matrix)
from .transpile import encounter_stats, pass_manager, to_aer

__all__ = [
    "SwapPowerGate", "VacuumRotationGate", "EncounterGate", "EncounterIsometryGate",
    "encounter_matrix", "swap_power_matrix", "vacuum_matrix",
    "CircuitSpec", "foreground_circuit", "closed_circuit", "tree_circuit", "tree_cost", "prepare_state",
    "with_saves", "measured",
    "resolve_backend", "fake_backend", "fake_backend_names", "bloch_from_counts",
    "pass_manager", "encounter_stats", "to_aer",
    "run_engine",
]
