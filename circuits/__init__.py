"""Qiskit circuits for OILE encounters (``oile_q.circuits``); see issue 3. Not built yet."""
