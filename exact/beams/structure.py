"""Beam detection: which groups of a scenario are beams, and what the collective-spin evolution
needs to know about them (``BeamStructure``).

A beam is a group whose members share velocity, vacuum frequency and one pure initial state;
``beam_structure`` checks that for every group of a ``Scenario`` and names the first group that
is not a beam and why.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from oile_q.errors import InputError, InputTypeError, check_array, check_real, describe
from oile_q.scenario import Scenario

__all__ = ["BeamStructure", "beam_structure"]

PURE_TOL = 1e-12  # |P| = 1 within this for a pure state
SAME_TOL = 1e-12  # members' omega (relative), velocity and P0 equal within this
_WHY = "method 'beams' needs every group to share velocity, vacuum frequency and a pure initial state"


@dataclasses.dataclass(frozen=True, eq=False)
class BeamStructure:
    """The beams of a scenario: what the collective-spin evolution needs, nothing else.

    Parameters
    ----------
    labels : tuple of str or None
        Beam (group) names; None: ``beam0``, ``beam1``, ...
    sizes : ndarray of int (G,)
        N_g, the number of neutrinos in each beam (positive, at least 2 in all).
    omega : ndarray (G,)
        Vacuum frequencies (units of ``mu``; may be negative).
    P0_mass : ndarray (G, 3)
        Initial Bloch vector of every member, mass basis, unit length (within 1e-12; renormalised).
    coupling : ndarray (G, G)
        g_gh = 1 - v_g.v_h, symmetric; the diagonal g_gg is the within-beam coupling
        (0 for beams from a Scenario; any value is handled).
    mu : float
        Neutrino-neutrino coupling strength (positive).
    theta : float
        Vacuum mixing angle (kept to convert results to the flavor basis).
    members : tuple of int arrays, optional
        Particle indices of each beam in the scenario (to broadcast per-beam results).

    Raises
    ------
    InputError
        A parameter of the wrong shape or value, naming it.

    Examples
    --------
    >>> import numpy as np
    >>> BeamStructure(labels=("e", "x"), sizes=np.array([3, 2]), omega=np.array([0.5, -0.5]),
    ...               P0_mass=np.array([[0, 0, 1.0], [0, 0, -1.0]]), coupling=np.array([[0, 2.0], [2.0, 0]]))
    BeamStructure(N=5, beams={e: 3, x: 2}, mu=1, theta=0)
    """

    labels: tuple | None
    sizes: np.ndarray
    omega: np.ndarray
    P0_mass: np.ndarray
    coupling: np.ndarray
    mu: float = 1.0
    theta: float = 0.0
    members: tuple | None = None

    def __post_init__(self):
        sizes = np.asarray(self.sizes)
        if sizes.ndim != 1 or sizes.size < 1 or sizes.dtype.kind not in "iu" or np.any(sizes < 1):
            raise InputError(f"`sizes` must be a 1-d array of positive integers; got {describe(self.sizes)}.")
        G = sizes.size
        omega = check_array("omega", self.omega, (G,))
        P0 = check_array("P0_mass", self.P0_mass, (G, 3))
        r = np.linalg.norm(P0, axis=1)
        if np.any(np.abs(r - 1.0) > PURE_TOL):
            i = int(np.argmax(np.abs(r - 1.0)))
            raise InputError(f"`P0_mass` must hold unit (pure-state) Bloch vectors; got |P0_mass[{i}]| = {r[i]:.12g}.")
        g = check_array("coupling", self.coupling, (G, G))
        if not np.allclose(g, g.T, rtol=0, atol=1e-14):
            raise InputError("`coupling` must be a symmetric (G, G) matrix; got an asymmetric one.")
        labels = tuple(self.labels) if self.labels is not None else tuple(f"beam{i}" for i in range(G))
        if len(labels) != G:
            raise InputError(f"`labels` must name {G} beams; got {len(labels)}.")
        if int(sizes.sum()) < 2:
            raise InputError(f"`sizes` must add up to at least 2 particles; got {int(sizes.sum())}.")
        object.__setattr__(self, "sizes", sizes.astype(np.int64))
        object.__setattr__(self, "omega", omega)
        object.__setattr__(self, "P0_mass", P0 / r[:, None])
        object.__setattr__(self, "coupling", 0.5 * (g + g.T))
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "mu", check_real("mu", self.mu, positive=True))
        object.__setattr__(self, "theta", check_real("theta", self.theta))

    @property
    def n(self) -> int:
        """Total number of particles N.

        Returns
        -------
        int
        """
        return int(self.sizes.sum())

    @property
    def n_beams(self) -> int:
        """Number of beams G.

        Returns
        -------
        int
        """
        return int(self.sizes.size)

    @property
    def full_dimension(self) -> int:
        """prod_g (N_g + 1): the dimension of the product of the symmetric subspaces.

        Returns
        -------
        int
        """
        return math.prod(int(s) + 1 for s in self.sizes)

    def broadcast(self, per_beam: np.ndarray) -> np.ndarray:
        """Per-beam values (T, G, ...) as per-particle values (T, N, ...), using ``members``.

        Returns
        -------
        ndarray
            Axis 1 indexed by particle.

        Raises
        ------
        ValueError
            Without ``members`` (a structure not built by ``beam_structure``).
        """
        if self.members is None:
            raise ValueError("this BeamStructure has no `members`; build it with beam_structure(scenario)")
        index = np.empty(self.n, dtype=np.int64)
        for g, idx in enumerate(self.members):
            index[idx] = g
        return np.take(per_beam, index, axis=1)

    def __repr__(self):
        beams = ", ".join(f"{l}: {int(s)}" for l, s in zip(self.labels, self.sizes))
        return f"BeamStructure(N={self.n}, beams={{{beams}}}, mu={self.mu:g}, theta={self.theta:g})"


def beam_structure(scenario: Scenario, *, tol: float = SAME_TOL) -> BeamStructure:
    """The beam structure of an ensemble ``Scenario``.

    Every group (``scenario.groups``, members in any order) must share velocity and vacuum
    frequency and start in one pure state.

    Parameters
    ----------
    scenario : Scenario
        An ensemble scenario.
    tol : float
        Members' values are compared within this (absolute for unit vectors, relative for omega).

    Returns
    -------
    BeamStructure
        With ``members``; g_gh = 1 - v_g.v_h, exactly 0 for equal velocities.

    Raises
    ------
    InputError
        A foreground scenario, or a group that is not a beam (naming it and why).
    InputTypeError
        ``scenario`` is not a Scenario.

    Examples
    --------
    >>> from oile_q import Scenario
    >>> sc = Scenario.from_groups([dict(name="e", count=4, flavor="e", omega=-0.5, velocity=[0, 0, 1]),
    ...                            dict(name="x", count=4, flavor="x", omega=0.5, velocity=[0, 0, -1])],
    ...                           gamma=0.05, theta=0.1)
    >>> beam_structure(sc)
    BeamStructure(N=8, beams={e: 4, x: 4}, mu=1, theta=0.1)
    """
    if not isinstance(scenario, Scenario):
        raise InputTypeError(f"`scenario` must be an oile_q.Scenario; got {describe(scenario)}.")
    if scenario.kind != "ensemble":
        raise InputError(
            "`scenario` is a foreground scenario (fresh partners, no closed Hamiltonian); "
            "method 'beams' needs an ensemble of beams."
        )
    tol = check_real("tol", tol, positive=True)
    P_mass = scenario.P0_mass
    members, omega, vel, P0 = [], [], [], []
    for name in scenario.groups:
        idx = np.flatnonzero(scenario.group == name)
        members.append(idx)
        omega.append(_common_omega(name, idx, scenario.omega, tol))
        vel.append(_common_velocity(name, idx, scenario.velocity, tol))
        P0.append(_common_state(name, idx, P_mass, tol))
    V = np.array(vel)
    g = 1.0 - V @ V.T
    g[np.abs(g) < 1e-14] = 0.0  # as the generic engine: equal velocities, exactly no coupling
    return BeamStructure(
        labels=tuple(str(name) for name in scenario.groups),
        sizes=np.array([len(m) for m in members], dtype=np.int64),
        omega=np.array(omega),
        P0_mass=np.array(P0),
        coupling=g,
        mu=scenario.mu,
        theta=scenario.theta,
        members=tuple(members),
    )


def _odd_member(idx: np.ndarray, values: np.ndarray, tol: float) -> tuple[int | None, float]:
    """(the member of ``idx`` whose value differs most from the first member's, or None if none
    differs by more than ``tol``; that largest difference)."""
    d = np.abs(values - values[0])
    if d.ndim > 1:
        d = d.max(axis=1)
    return (int(idx[np.argmax(d)]) if np.any(d > tol) else None), float(d.max())


def _common_omega(name, idx: np.ndarray, omega: np.ndarray, tol: float) -> float:
    """The group's vacuum frequency, or InputError naming the member that differs most."""
    w = omega[idx]
    j, _ = _odd_member(idx, w, tol * max(1.0, abs(w[0])))
    if j is not None:
        raise InputError(
            f"group {name!r} is not a beam: its members have different omega "
            f"({w[0]:g} for particle {int(idx[0])}, {omega[j]:g} for particle {j}); {_WHY}."
        )
    return float(w[0])


def _common_velocity(name, idx: np.ndarray, velocity: np.ndarray, tol: float) -> np.ndarray:
    """The group's velocity, or InputError naming the member that differs most."""
    v = velocity[idx]
    j, _ = _odd_member(idx, v, tol)
    if j is not None:
        raise InputError(
            f"group {name!r} is not a beam: its members have different velocities "
            f"({np.round(v[0], 6).tolist()} for particle {int(idx[0])}, "
            f"{np.round(velocity[j], 6).tolist()} for particle {j}); {_WHY}."
        )
    return v[0]


def _common_state(name, idx: np.ndarray, P_mass: np.ndarray, tol: float) -> np.ndarray:
    """The group's pure initial state (mass basis), or InputError naming a mixed or differing member."""
    p = P_mass[idx]
    r = np.linalg.norm(p, axis=1)
    if np.any(r < 1.0 - PURE_TOL):
        j = int(idx[np.argmin(r)])
        raise InputError(
            f"group {name!r} is not a beam: particle {j} starts in a mixed state (|P0| = {r.min():.6g} < 1); {_WHY}."
        )
    j, diff = _odd_member(idx, p, tol)
    if j is not None:
        raise InputError(
            f"group {name!r} is not a beam: its members start in different states "
            f"(P0 of particles {int(idx[0])} and {j} differ by {diff:.3g}); {_WHY}."
        )
    return p[0]
