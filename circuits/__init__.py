"""OILE encounters as Qiskit circuits (``oile_q.circuits``): gates, circuit builders,
backends (exact Aer, shots, fake IBM devices, IBM hardware) and the ``circuit`` engine.

* ``gates``: ``SwapPowerGate``, ``VacuumRotationGate``, ``EncounterGate`` (modes "exact",
  "split", "symmetric") and ``EncounterIsometryGate`` (two CNOTs for a fresh pure partner);
* ``builders``: the foreground collision model (reset or fresh partners), the closed
  N-qubit circuit of a schedule, the light-cone tree with qubit reuse, mixed-state
  preparation by purification;
* ``backends`` and ``transpile``: backend resolution, counts -> Bloch vectors with
  standard errors, ISA transpiling and per-encounter costs;
* ``engine``: the ``circuit`` engine behind ``oile_q.run(scenario, "circuit", ...)``;
* ``cli``: ``oile-q circuit ...`` (what is circuit-specific: drawing, backends, fetching jobs).

This package may import Qiskit; the core (``oile_q``) never imports it. The names below load on
first use, so declaring the engine (``oile-q engines``, the command line) does not import Qiskit.
"""

from oile_q.lazy import lazy_getattr

_NAMES = {
    "bloch_from_counts": "backends",
    "fake_backend": "backends",
    "fake_backend_names": "backends",
    "resolve_backend": "backends",
    "CircuitSpec": "builders",
    "closed_circuit": "builders",
    "foreground_circuit": "builders",
    "measured": "builders",
    "prepare_state": "builders",
    "tree_circuit": "builders",
    "tree_cost": "builders",
    "with_saves": "builders",
    "CircuitEngine": "engine",
    "EncounterGate": "gates",
    "EncounterIsometryGate": "gates",
    "SwapPowerGate": "gates",
    "VacuumRotationGate": "gates",
    "encounter_matrix": "gates",
    "swap_power_matrix": "gates",
    "vacuum_matrix": "gates",
    "encounter_stats": "transpile",
    "pass_manager": "transpile",
    "to_aer": "transpile",
}
__all__ = sorted(_NAMES)

__getattr__ = lazy_getattr(__name__, _NAMES)
