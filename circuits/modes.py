"""How an encounter can be compiled, and the instruction names it gets in a circuit.

This is the vocabulary that the Qiskit gates (``gates``) share with the modules that must not
import Qiskit: the circuit engine declares its ``compile`` option from ``COMPILE_MODES`` when
``oile-q engines`` lists the engines, and mitigation recognises encounters by
``ENCOUNTER_NAMES``. It imports nothing but the core's propagator names.
"""

from __future__ import annotations

from oile_q.conventions import PROPAGATORS

__all__ = ["MODES", "COMPILE_MODES", "ENCOUNTER_NAMES"]

MODES = PROPAGATORS  # the modes of ``EncounterGate``: the core pair propagators
COMPILE_MODES = MODES + ("isometry",)  # isometry: two CNOTs for a fresh pure partner
ENCOUNTER_NAMES = ("encounter", "encounter_iso")  # instruction names of EncounterGate, EncounterIsometryGate
