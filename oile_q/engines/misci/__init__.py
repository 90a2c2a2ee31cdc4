"""The ``misci`` engine: miscidynamics, the slow path along quasi-steady states (QSS) at a cost
independent of gamma (paper II, arXiv:2508.14331; docs/theory.md).

Two stages. **Start**: the master equation (with the schedule spread X_a the random choice of
partners adds) runs through the transient until the QSS criterion holds, or to a given switch
time, or a given result is taken; ``oile_q.qss`` measures the QSS there (Omega, the signed
lengths c_a, the dephased parts q_a^2). **Flow**: c_a and q_a^2 follow the QSS in
tau = gamma mu t, with the axes re-solved at every step; nothing depends on 1/gamma.

Modules:

* ``engine``: ``MisciEngine`` (options, checks, cost estimate, the run's glue);
* ``start``: up to the switch (automatic criterion, ``switch_time``, ``start`` Dataset, sample);
* ``master_start``: the master equation in chunks and the schedule spread X_a;
* ``quadrature``: the start on a velocity quadrature (large gases);
* ``flow``: ``FlowState``, ``flow_rhs``, ``flow_terms``, the integration in tau;
* ``output``: P, the per-group phase-invariant extras and the attributes (``phase_invariants``:
  the same observables from any engine's result);
* ``kernels``: the compiled O(N) partner sums (numba), imported on first use.
"""

from .engine import MisciEngine
from .flow import FlowState, flow_rhs, flow_terms
from .output import phase_invariants

__all__ = ["MisciEngine", "FlowState", "flow_rhs", "flow_terms", "phase_invariants"]
