"""The classical engines, one file each (registered in ``oile_q.engine`` by import path):

* ``oile``: the discrete OILE map (exact two-body encounter, then the partial trace);
* ``meanfield``: the gamma -> 0 limit, dP_a/dt = (-omega_a B + mu M_a) x P_a;
* ``master``: the OILE master equations (paper I Eqs. 8, 14, 17 and the Poisson variant).

They may import numpy, scipy, numba and the core; never Qiskit or QuSpin. Shared pieces:
``_ode`` (the solve_ivp driver and its options) and ``oile_q.moments`` (O(N) partner sums).
"""
