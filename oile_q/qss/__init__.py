r"""Quasi-steady states (QSS) of the isotropic mean field, and their extraction from a result
(docs/theory.md, section Miscidynamics; paper II, arXiv:2508.14331).

Work in the mass basis, B = (0, 0, 1). A QSS is a collective precession mode: in the frame
rotating about B at a common frequency Omega every Bloch vector is static. With the transverse
mean field M_perp along x of that frame, m = |M_perp| > 0 and M3 = <P_3> (conserved),

.. math::

    P_a = c_a h_a, \quad h_a = (\mu m, 0, \mu M_3 - \omega_a - \Omega) / D_a, \quad
    D_a = \sqrt{\mu^2 m^2 + (\mu M_3 - \omega_a - \Omega)^2},

with c_a the *signed* length (c_a < 0: antiparallel to its axis). M = <P> gives

.. math::

    \text{(Q1)}\ \mu \langle c_a / D_a \rangle = 1, \qquad
    \text{(Q2)}\ \langle c_a (\omega_a + \Omega) / D_a \rangle = 0.

``solve_qss`` solves Q1-Q2 for (Omega, m) (Newton in (Omega, m^2), with continuation of the
branch from a previous solution) and raises :class:`NoQSSError` when no root with m > 0
exists; ``qss_roots`` lists every root (module ``solver``).

``qss_from_dataset`` does the inverse: from a window of any engine's result it measures Omega
(the phase of M_perp), projects each particle on its axis (c_a) and keeps the rest as a
dephased part (q_a^2), iterating to self-consistency with the solver (module ``extract``).

``solve_reduced`` is ``solve_qss`` for the hot loop of the ``misci`` flow (inputs already
reduced per distinct frequency, no checks); ``RESIDUAL_TOL`` is the largest residual of Q1-Q2
accepted as a root.

Units: omega, Omega and mu in the same units; times (in Datasets) are mu t.
"""

from .extract import QSSFit, detrended_scatter, qss_from_dataset, qss_from_samples, qss_from_state
from .solver import QSS, RESIDUAL_TOL, NoQSSError, qss_roots, solve_qss, solve_reduced

__all__ = [
    "QSS",
    "QSSFit",
    "NoQSSError",
    "solve_qss",
    "qss_roots",
    "qss_from_dataset",
    "qss_from_samples",
    "qss_from_state",
    "detrended_scatter",
    "solve_reduced",
    "RESIDUAL_TOL",
]
