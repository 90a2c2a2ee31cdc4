"""OILE encounters as Qiskit circuits (``oile_q.circuits``): gates, circuit builders,
backends (exact Aer, shots, fake IBM devices, IBM hardware) and the ``circuit`` engine.

* ``modes`` (no Qiskit): the compile modes and the instruction names of an encounter;
* ``gates``: ``SwapPowerGate``, ``VacuumRotationGate``, ``EncounterGate`` (modes "exact",
  "split", "symmetric") and ``EncounterIsometryGate`` (two CNOTs for a fresh pure partner);
* ``lightcone`` (no Qiskit): who meets whom, and the size of a light-cone tree;
* ``specs``: ``CircuitSpec`` (a logical circuit and its record points), the circuits that
  run from it (saved density matrices, measurements) and mixed-state preparation by
  purification;
* ``builders``: the foreground collision model (reset or fresh partners), the closed
  N-qubit circuit of a schedule, the light-cone tree with qubit reuse;
* ``backends`` and ``transpile``: backend resolution, counts -> Bloch vectors with
  standard errors, ISA transpiling and per-encounter costs; ``devices``: qubit selection,
  estimated fidelity and device time from a backend's reported errors;
* ``mitigation`` and ``shots``: error mitigation, and the shot pipeline (prepare, execute,
  collect) that applies it;
* the ``circuit`` engine behind ``oile_q.run(scenario, "circuit", ...)``: ``options`` (its
  options, no Qiskit), ``planning`` (request -> backend, circuits, shots; checks before any
  Qiskit import), ``execution`` (exact Aer or the shot pipeline -> the result's variables and
  attrs) and ``engine`` (the ``CircuitEngine`` class);
* ``cli``, ``dryrun`` and ``draw``: ``oile-q circuit ...`` (what is circuit-specific: drawing,
  dry runs, backends, fetching jobs).

This package may import Qiskit; the core (``oile_q``) never imports it. The names below load on
first use, so declaring the engine (``oile-q engines``, the command line) does not import Qiskit.
"""

from oile_q.lazy import lazy_getattr

_MODULES = {
    "backends": ("bloch_from_counts", "fake_backend", "fake_backend_names", "resolve_backend"),
    "builders": ("closed_circuit", "foreground_circuit", "tree_circuit"),
    "lightcone": ("tree_cost",),
    "specs": ("CircuitSpec", "measured", "prepare_state", "with_saves"),
    "engine": ("CircuitEngine",),
    "gates": (
        "EncounterGate",
        "EncounterIsometryGate",
        "SwapPowerGate",
        "VacuumRotationGate",
        "encounter_matrix",
        "swap_power_matrix",
        "vacuum_matrix",
    ),
    "transpile": ("encounter_stats", "pass_manager", "to_aer"),
}
_NAMES = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_NAMES)

__getattr__ = lazy_getattr(__name__, _NAMES)
