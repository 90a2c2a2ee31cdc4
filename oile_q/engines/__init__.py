"""The classical engines (registered in ``oile_q.engine`` by import path, imported on first use):

* ``oile``: the discrete OILE map (exact two-body encounter, then the partial trace);
* ``meanfield``: the gamma -> 0 limit, dP_a/dt = (-omega_a B + mu M_a) x P_a;
* ``master``: the OILE master equations (paper I Eqs. 8, 14, 17 and the Poisson variant);
* ``misci`` (a sub-package): miscidynamics, the master equation through the transient, then the
  slow flow along quasi-steady states in tau = gamma mu t.

They may import numpy, scipy, numba and the core; never Qiskit or QuSpin, and numba, scipy and
xarray only inside the functions that need them (so listing the engines stays light). Shared
pieces: ``_ode`` (the solve_ivp driver, its options and the cost of an ODE run),
``_master_kernels`` (the compiled master equation, also for the misci start) and
``oile_q.moments`` (O(N) partner sums).
"""
