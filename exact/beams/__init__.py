"""Exact evolution of a gas of neutrino *beams* in the product of the beams' symmetric subspaces
(method "beams" of the ``exact`` engine).

A beam is a group of N_g neutrinos that share velocity v_g, vacuum frequency omega_g and one
pure initial state. With J_g = (1/2) sum_{a in g} sigma_a the collective spin of beam g, the
all-to-all Hamiltonian of docs/conventions.md,

    H = sum_a -(omega_a/2) B.sigma_a + mu/(N-1) sum_{a<b} (g_ab/2) sigma_a.sigma_b,

is, term by term (sigma_a.sigma_b = 4 s_a.s_b; sum_{a<b in g} s_a.s_b = (J_g^2 - (3/4) N_g)/2),

    H = sum_g -omega_g B.J_g + (2 mu/(N-1)) sum_{g<h} g_gh J_g.J_h
        + (mu/(N-1)) sum_g g_gg (J_g.J_g - (3/4) N_g),

with g_gh = 1 - v_g.v_h. The initial product state |n_g>^{(x) N_g} of a beam is the spin
coherent state of spin j_g = N_g/2 along n_g, and H commutes with every J_g^2, so the state
stays in the product of the spin-j_g spaces: dimension prod_g (N_g + 1) instead of 2^N, and
the within-beam term is the constant g_gg N_g (N_g - 1)/4 (zero here: equal velocities give
g_gg = 0; the constant is kept for a general g_gg, and enters the energy).

The modules, in the order a run uses them (each docstring says more):

* ``structure``: which groups of a scenario are beams (``BeamStructure``, ``beam_structure``);
* ``basis``: the sectors K = sum_g k_g (H conserves the mass-basis J_3), which are kept
  (``sector_plan``), the kept basis states, the chunks of whole sectors, the initial state;
* ``hamiltonian``: H/mu on a chunk as a real CSR matrix (``beam_hamiltonian`` for checks);
* ``propagators``: how the norm ||H|| ~ mu N is coped with -- Chebyshev per chunk (the shared
  ``oile_q.exact.chebyshev``) or, for two beams, sector eigenpairs in the state's energy window;
* ``observe`` and ``entropy``: the observables accumulated chunk by chunk, and the beam-vs-rest
  entanglement entropy;
* ``memory``: the memory estimate (``estimate_beams_bytes``) and the passes over the sectors;
* ``evolve``: the driver, ``evolve_beams``.

May import numpy, scipy, numba and the core ``oile_q``; nothing here imports QuSpin.
"""

from .basis import sector_plan
from .evolve import evolve_beams
from .hamiltonian import beam_hamiltonian
from .memory import estimate_beams_bytes
from .structure import BeamStructure, beam_structure

__all__ = ["BeamStructure", "beam_structure", "evolve_beams", "estimate_beams_bytes", "sector_plan", "beam_hamiltonian"]
