"""The physical set-up shared by every engine: particles, frequencies, velocities, mu, gamma, theta.

Two kinds of scenario:

* an ensemble of N particles (paper I Sec. III): ``Scenario(P0, omega, velocity, gamma=...)``,
  ``Scenario.from_groups([...])`` or ``Scenario.from_toml(path)``;
* a foreground neutrino crossing a uniform background in state Q (paper I Sec. II):
  ``Scenario.foreground(P0, Q, gamma=...)``. Every encounter meets a fresh partner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .conventions import b_vector, flavor_to_mass, mass_to_flavor
from .errors import InputError, InputTypeError, check_array, check_int, check_real, check_size, describe
from .io import read_toml

__all__ = ["Scenario", "isotropic_velocities", "read_scenario_file"]

_UNIT_TOL = 1e-9
BYTES_PER_PARTICLE = 200  # the scenario's arrays and an engine's working copies
_PURITY_TOL = 1e-12

_FLAVORS = {
    "e": (0.0, 0.0, 1.0),
    "x": (0.0, 0.0, -1.0),
    "+": (1.0, 0.0, 0.0),
    "-": (-1.0, 0.0, 0.0),
}


def _check_bloch(name: str, P: np.ndarray) -> None:
    norms = np.linalg.norm(P, axis=-1)
    bad = np.flatnonzero(np.atleast_1d(norms) > 1 + _PURITY_TOL)
    if bad.size:
        i = int(bad[0])
        where = f"[{i}]" if P.ndim == 2 else ""
        raise InputError(
            f"`{name}` must hold Bloch vectors of length <= 1; got |{name}{where}| = {np.atleast_1d(norms)[i]:.6g}."
        )


def _check_velocities(name: str, v: np.ndarray) -> None:
    norms = np.linalg.norm(v, axis=-1)
    bad = np.flatnonzero(np.abs(np.atleast_1d(norms) - 1) > _UNIT_TOL)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"`{name}` must be unit vectors; got |{name}[{i}]| = {np.atleast_1d(norms)[i]:.6g}.")


def isotropic_velocities(n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors drawn uniformly on the sphere."""
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)


class Scenario:
    """A validated physical set-up.

    Parameters
    ----------
    P0 : array (N, 3)
        Initial Bloch vectors, flavor basis unless ``basis="mass"``; |P| <= 1.
    omega : array (N,)
        Vacuum frequencies (same units as ``mu``; may be negative).
    velocity : array (N, 3)
        Unit velocity vectors; the encounter strength carries g_ab = 1 - v_a . v_b.
    gamma : float
        Impact parameter gamma = mu * dz > 0.
    theta : float
        Vacuum mixing angle; B = (-sin 2 theta, 0, cos 2 theta) in flavor coordinates.
    mu : float
        Interaction strength, > 0. Times are quoted as mu * t.
    group : sequence of str, optional
        Group label per particle (default "all").
    basis : {"flavor", "mass"}
        Basis in which ``P0`` is given; it is stored in the flavor basis.

    Raises
    ------
    InputError
        One line naming the parameter: fewer than 2 particles, arrays of the wrong shape, a
        Bloch vector longer than 1, a velocity that is not a unit vector, gamma or mu <= 0.

    See Also
    --------
    Scenario.from_groups, Scenario.foreground, Scenario.beams, Scenario.from_toml

    Examples
    --------
    >>> import numpy as np
    >>> sc = Scenario([[0, 0, 1], [0, 0, -1]], [0.1, 0.2], [[0, 0, 1], [1, 0, 0]], gamma=0.1, theta=0.01)
    >>> sc.n, sc.groups, sc.kind
    (2, ['all'], 'ensemble')
    """

    kind = "ensemble"

    def __init__(
        self,
        P0: ArrayLike,
        omega: ArrayLike,
        velocity: ArrayLike,
        *,
        gamma: float,
        theta: float = 0.0,
        mu: float = 1.0,
        group: Sequence[str] | None = None,
        basis: str = "flavor",
    ):
        P0 = check_array("P0", P0, (None, 3))
        n = P0.shape[0]
        if n < 2:
            raise InputError(f"`P0` must hold at least 2 particles for an ensemble; got {n}.")
        omega = check_array("omega", omega, (n,))
        velocity = check_array("velocity", velocity, (n, 3))
        self.gamma = check_real("gamma", gamma, positive=True)
        self.theta = check_real("theta", theta)
        self.mu = check_real("mu", mu, positive=True)
        if basis not in ("flavor", "mass"):
            raise InputError(f"`basis` must be 'flavor' or 'mass'; got {describe(basis)}.")
        _check_bloch("P0", P0)
        _check_velocities("velocity", velocity)
        if basis == "mass":
            P0 = mass_to_flavor(P0, self.theta)
        if group is None:
            group = ["all"] * n
        group = [g for g in group] if not isinstance(group, str) else group
        if isinstance(group, str) or len(group) != n:
            raise InputError(f"`group` must be a sequence of {n} labels; got {describe(group)}.")
        for g in group:
            if not isinstance(g, str) or not g:
                raise InputTypeError(f"`group` labels must be non-empty strings; got {describe(g)}.")
        self.P0 = P0
        self.omega = omega
        self.velocity = velocity
        self.group = np.array(group, dtype=str)
        for arr in (self.P0, self.omega, self.velocity):
            arr.flags.writeable = False
        self.background = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def foreground(
        cls,
        P0: ArrayLike,
        Q: ArrayLike,
        *,
        gamma: float,
        vdotu: float = 0.0,
        omega: float = 0.0,
        theta: float = 0.0,
        mu: float = 1.0,
    ) -> Scenario:
        """One tracked neutrino (Bloch vector P0) crossing a uniform background in state Q
        (paper I Sec. II).

        Every encounter is with a fresh background neutrino in state Q, with g = 1 - v.u.

        Parameters
        ----------
        P0, Q : array (3,)
            Bloch vectors (flavor basis, |P| <= 1) of the tracked neutrino and of every
            background neutrino.
        gamma : float
            Impact parameter gamma = mu dz > 0.
        vdotu : float
            v.u, the cosine of the angle between the tracked and the background velocities
            (in [-1, 1]).
        omega : float
            Vacuum frequency of the tracked and of every background neutrino (units of mu).
        theta, mu : float
            As for :class:`Scenario`.

        Returns
        -------
        Scenario
            ``kind == "foreground"``, one particle (group "foreground").

        Raises
        ------
        InputError
            A Bloch vector longer than 1, vdotu outside [-1, 1], gamma or mu <= 0.

        Examples
        --------
        >>> fg = Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
        >>> fg.kind, fg.n, fg.background["vdotu"]
        ('foreground', 1, 0.0)
        """
        P0 = check_array("P0", P0, (3,))
        Q = check_array("Q", Q, (3,))
        _check_bloch("P0", P0)
        _check_bloch("Q", Q)
        vdotu = check_real("vdotu", vdotu, low=-1.0, high=1.0)
        omega = check_real("omega", omega)
        self = cls.__new__(cls)
        self.gamma = check_real("gamma", gamma, positive=True)
        self.theta = check_real("theta", theta)
        self.mu = check_real("mu", mu, positive=True)
        self.P0 = P0[None, :].copy()
        self.omega = np.array([omega])
        self.velocity = np.array([[0.0, 0.0, 1.0]])
        self.group = np.array(["foreground"])
        for arr in (self.P0, self.omega, self.velocity):
            arr.flags.writeable = False
        self.background = {"Q": Q, "vdotu": vdotu}
        self.kind = "foreground"
        return self

    @classmethod
    def from_groups(
        cls,
        groups: Sequence[Mapping],
        *,
        gamma: float,
        theta: float = 0.0,
        mu: float = 1.0,
        seed: int | None = None,
    ) -> Scenario:
        """Build an ensemble from named groups of identical neutrinos.

        Parameters
        ----------
        groups : sequence of mappings
            One per group, with keys ``name`` (str, default "group<i>"), ``count`` (int >= 1),
            one of ``flavor`` ("e", "x", "+", "-") or ``P`` (3 numbers, |P| <= 1), optional
            ``basis`` ("flavor" or "mass", for ``P``), ``omega`` (float, default 0) and
            ``velocity``: "isotropic" (random on the sphere, drawn from ``seed``; the default)
            or a fixed unit 3-vector.
        gamma, theta, mu : float
            As for :class:`Scenario`.
        seed : int, optional
            Seed of the isotropic velocities (drawn and recorded if not given).

        Returns
        -------
        Scenario
            The particles in group order, labelled by group.

        Raises
        ------
        InputError
            One line naming the group and key that is wrong: a missing count, both or neither of
            flavor and P, a Bloch vector longer than 1, a velocity that is not a unit vector.

        Examples
        --------
        >>> sc = Scenario.from_groups([dict(name="nu_e", count=60, flavor="e", omega=0.1),
        ...                            dict(name="nu_x", count=40, flavor="x", omega=0.2)],
        ...                           gamma=0.01, theta=1e-3, seed=1)
        >>> sc
        Scenario(N=100, groups={'nu_e': 60, 'nu_x': 40}, gamma=0.01, theta=0.001, mu=1)
        """
        if isinstance(groups, dict) or not isinstance(groups, (list, tuple)) or not groups:
            raise InputTypeError(f"`groups` must be a non-empty list of group tables; got {describe(groups)}.")
        theta = check_real("theta", theta)
        if seed is not None:
            seed = check_int("seed", seed, low=0)
        rng = np.random.default_rng(seed)
        P0, omega, vel, labels = [], [], [], []
        total = 0
        for i, spec in enumerate(groups):
            name, count, p, w, vv = _group(f"group[{i}]", spec, i, theta, rng, total)
            total += count
            P0.append(np.tile(p, (count, 1)))
            omega.append(np.full(count, w))
            vel.append(vv)
            labels += [name] * count
        return cls(
            np.concatenate(P0),
            np.concatenate(omega),
            np.concatenate(vel),
            gamma=gamma,
            theta=theta,
            mu=mu,
            group=labels,
        )

    @classmethod
    def beams(
        cls,
        counts: Sequence[int],
        *,
        flavor: str | Sequence[str] | None = None,
        P: ArrayLike | None = None,
        basis: str = "flavor",
        omega: float | ArrayLike = 0.0,
        directions: str | ArrayLike = "ring",
        names: Sequence[str] | None = None,
        gamma: float,
        theta: float = 0.0,
        mu: float = 1.0,
        seed: int | None = None,
    ) -> Scenario:
        """Neutrino beams: beam g holds ``counts[g]`` neutrinos sharing one velocity, vacuum
        frequency and pure initial state (the ``exact`` engine's method "beams" evolves them in
        prod_g (N_g + 1) collective states instead of 2^N). Built with ``from_groups``, one group
        per beam with a fixed velocity, so every engine takes it.

        Parameters
        ----------
        counts : sequence of int >= 1
            N_g, one per beam (G = len(counts)).
        flavor : str or sequence of str, optional
            "e", "x", "+" or "-": one for every beam (a single letter) or one per beam
            (a sequence, or a string of G letters such as "exex").
        P : array (G, 3), optional
            Unit (pure-state) Bloch vectors in ``basis``, instead of ``flavor``.
        basis : {"flavor", "mass"}
            Basis of ``P``.
        omega : float or array (G,)
            Vacuum frequencies (units of ``mu``; may be negative).
        directions : str or array (G, 3)
            "axis" (G = 2: +z and -z, the flavor pendulum), "ring" (G directions at angles
            2 pi g / G from +z in the xz plane), "tetrahedron" (G = 4, one vertex at +z),
            "random" (uniform on the sphere, drawn from ``seed``) or (G, 3) unit vectors.
            Beams g, h interact with g_gh = 1 - v_g.v_h (0 within a beam).
        names : sequence of str, optional
            Beam (group) labels, default "b0", "b1", ...
        gamma, theta, mu : float
            As for ``Scenario``.
        seed : int, optional
            Seed of ``directions="random"``.

        Returns
        -------
        Scenario
            One group per beam (labels ``names``), each with a fixed velocity.

        Raises
        ------
        InputError
            Bad counts, states, frequencies, names or directions (one line naming them).

        Examples
        --------
        >>> sc = Scenario.beams([4, 4], flavor="ex", omega=[-0.5, 0.5], directions="axis", gamma=0.05, theta=0.1)
        >>> sc
        Scenario(N=8, groups={'b0': 4, 'b1': 4}, gamma=0.05, theta=0.1, mu=1)
        """
        if isinstance(counts, (str, bytes, dict)) or not hasattr(counts, "__len__") or len(counts) == 0:
            raise InputTypeError(f"`counts` must be a non-empty sequence of positive integers; got {describe(counts)}.")
        G = len(counts)
        counts = [check_int(f"counts[{g}]", c, low=1) for g, c in enumerate(counts)]
        states = _beam_states(G, flavor, P, basis)
        if np.ndim(omega) == 0:
            omega = np.full(G, check_real("omega", omega))
        else:
            omega = check_array("omega", omega, (G,))
        names = _beam_names(G, names)
        V = _beam_directions(G, directions, seed)
        groups = [
            dict(name=names[g], count=counts[g], omega=float(omega[g]), velocity=V[g].tolist(), **states[g])
            for g in range(G)
        ]
        return cls.from_groups(groups, gamma=gamma, theta=theta, mu=mu)

    @classmethod
    def from_dict(cls, data: Mapping, *, where: str = "scenario") -> Scenario:
        """Build a scenario from a plain mapping (the TOML layout, see ``from_toml``).

        Parameters
        ----------
        data : mapping
            ``gamma``, ``theta``, ``mu``, ``seed`` and exactly one of ``group`` (a list of
            group tables), ``foreground`` or ``particles``; ``run`` and ``options`` are ignored.
        where : str
            The name error messages give the mapping.

        Returns
        -------
        Scenario
            The scenario the mapping describes (``to_dict`` gives the mapping back).

        Raises
        ------
        InputError
            Unknown or missing keys, or a bad value (one line naming it).

        Examples
        --------
        >>> Scenario.from_dict({"gamma": 0.1, "foreground": {"P": [0, 0, 1], "Q": [1, 0, 0]}}).kind
        'foreground'
        """
        if not isinstance(data, dict):
            raise InputTypeError(f"`{where}` must be a table; got {describe(data)}.")
        data = dict(data)
        data.pop("run", None)
        data.pop("options", None)
        top = {"gamma", "theta", "mu", "seed", "group", "foreground", "particles"}
        unknown = sorted(set(data) - top)
        if unknown:
            raise InputError(
                f"`{where}` has unknown key {unknown[0]!r}; expected keys among {sorted(top | {'run', 'options'})}."
            )
        if "gamma" not in data:
            raise InputError(f"`{where}.gamma` is required (a positive number).")
        common = {k: data[k] for k in ("gamma", "theta", "mu") if k in data}
        kinds = [k for k in ("group", "foreground", "particles") if k in data]
        if len(kinds) != 1:
            raise InputError(
                f"`{where}` must have exactly one of [[group]], [foreground] or [particles]; got {kinds or 'none'}."
            )
        kind = kinds[0]
        if kind == "group":
            return cls.from_groups(data["group"], seed=data.get("seed"), **common)
        if "seed" in data:
            raise InputError(f"`{where}.seed` applies to [[group]] scenarios only.")
        if kind == "foreground":
            fg = data["foreground"]
            if not isinstance(fg, dict):
                raise InputTypeError(f"`{where}.foreground` must be a table; got {describe(fg)}.")
            allowed = {"P", "Q", "vdotu", "omega"}
            unknown = sorted(set(fg) - allowed)
            if unknown:
                raise InputError(f"`foreground` has unknown key {unknown[0]!r}; expected keys among {sorted(allowed)}.")
            for key in ("P", "Q"):
                if key not in fg:
                    raise InputError(f"`foreground.{key}` is required (a Bloch vector).")
            return cls.foreground(fg["P"], fg["Q"], vdotu=fg.get("vdotu", 0.0), omega=fg.get("omega", 0.0), **common)
        pt = data["particles"]
        if not isinstance(pt, dict):
            raise InputTypeError(f"`{where}.particles` must be a table; got {describe(pt)}.")
        allowed = {"P0", "omega", "velocity", "group", "basis"}
        unknown = sorted(set(pt) - allowed)
        if unknown:
            raise InputError(f"`particles` has unknown key {unknown[0]!r}; expected keys among {sorted(allowed)}.")
        for key in ("P0", "omega", "velocity"):
            if key not in pt:
                raise InputError(f"`particles.{key}` is required.")
        return cls(
            pt["P0"], pt["omega"], pt["velocity"], group=pt.get("group"), basis=pt.get("basis", "flavor"), **common
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> Scenario:
        """Read a scenario from a TOML file.

        Parameters
        ----------
        path : str or Path
            Top-level keys ``gamma``, ``theta``, ``mu``, ``seed`` and exactly one of
            ``[[group]]`` tables (see ``from_groups``), a ``[foreground]`` table (``P``, ``Q``,
            ``vdotu``, ``omega``) or a ``[particles]`` table (``P0``, ``omega``, ``velocity``,
            ``group``, ``basis``). Optional ``[run]`` and ``[options.ENGINE]`` tables hold run
            settings and engine options for the command line (``read_scenario_file``).

        Returns
        -------
        Scenario

        Raises
        ------
        InputError
            The file cannot be read as TOML (``oile_q.io.read_toml``) or describes no valid
            scenario.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "fg.toml"
        >>> _ = path.write_text("gamma = 0.1\\n[foreground]\\nP = [0, 0, 1]\\nQ = [1, 0, 0]\\n")
        >>> Scenario.from_toml(path)
        Scenario.foreground(P0=[0.0, 0.0, 1.0], Q=[1.0, 0.0, 0.0], gamma=0.1, vdotu=0, omega=0, theta=0, mu=1)
        """
        return cls.from_dict(read_toml(path, "scenario"))

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Number of tracked particles."""
        return self.P0.shape[0]

    @property
    def B(self) -> np.ndarray:
        """Vacuum unit vector in flavor coordinates."""
        return b_vector(self.theta)

    @property
    def P0_mass(self) -> np.ndarray:
        """Initial Bloch vectors in the mass basis."""
        return flavor_to_mass(self.P0, self.theta)

    @property
    def groups(self) -> list[str]:
        """Group labels in order of first appearance."""
        seen = dict.fromkeys(self.group.tolist())
        return list(seen)

    def to_dict(self, arrays: bool = True) -> dict:
        """A plain, JSON-serialisable description from which ``from_dict`` rebuilds this
        scenario (``arrays=False`` leaves out the per-particle arrays of an ensemble)."""
        common = {"gamma": self.gamma, "theta": self.theta, "mu": self.mu}
        if self.kind == "foreground":
            bg = self.background
            return {
                **common,
                "foreground": {
                    "P": self.P0[0].tolist(),
                    "Q": bg["Q"].tolist(),
                    "vdotu": bg["vdotu"],
                    "omega": float(self.omega[0]),
                },
            }
        if not arrays:
            return common
        return {
            **common,
            "particles": {
                "P0": self.P0.tolist(),
                "omega": self.omega.tolist(),
                "velocity": self.velocity.tolist(),
                "group": self.group.tolist(),
            },
        }

    def to_json(self) -> str:
        """``to_dict()`` as JSON text."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        """The scenario ``to_json`` described."""
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: float) -> Scenario:
        """A copy with some of gamma, theta, mu changed (validated again)."""
        data = self.to_dict()
        for key, value in changes.items():
            if key not in ("gamma", "theta", "mu"):
                raise InputError(f"`{key}` cannot be replaced; expected one of gamma, theta, mu.")
            data[key] = value
        return Scenario.from_dict(data)

    def __repr__(self) -> str:
        if self.kind == "foreground":
            return (
                f"Scenario.foreground(P0={self.P0[0].tolist()}, Q={self.background['Q'].tolist()}, "
                f"gamma={self.gamma:g}, vdotu={self.background['vdotu']:g}, "
                f"omega={self.omega[0]:g}, theta={self.theta:g}, mu={self.mu:g})"
            )
        counts = {g: int(np.sum(self.group == g)) for g in self.groups}
        return f"Scenario(N={self.n}, groups={counts}, gamma={self.gamma:g}, theta={self.theta:g}, mu={self.mu:g})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Scenario):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None


def read_scenario_file(path):
    """A scenario file's scenario and its command-line tables: (Scenario, run, options).

    ``run`` is the optional ``[run]`` table (run settings and engine options that apply to
    every engine that declares them); ``options`` the optional ``[options.ENGINE]`` tables
    (options of one engine each), as ``{engine: {key: value}}``."""
    data = read_toml(path, "scenario")
    run = data.get("run", {})
    if not isinstance(run, dict):
        raise InputTypeError(f"`run` must be a table; got {describe(run)}.")
    options = data.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise InputTypeError("`options` must hold one table per engine, e.g. [options.circuit] with shots = 4000.")
    return Scenario.from_dict(data), run, options


def _beam_states(G, flavor, P, basis) -> list:
    """Each beam's initial state as ``from_groups`` keywords: {"flavor": f} or {"P": ..., "basis": ...}."""
    if (flavor is None) == (P is None):
        raise InputError("`flavor` or `P` must be given (exactly one of them): the beams' initial states.")
    if basis not in ("flavor", "mass"):
        raise InputError(f"`basis` must be 'flavor' or 'mass'; got {describe(basis)}.")
    if flavor is not None:
        if basis != "flavor":
            raise InputError("`basis` applies to `P` only, not to `flavor`.")
        flavors = [flavor] * G if isinstance(flavor, str) and len(flavor) == 1 else list(flavor)
        if len(flavors) != G:
            raise InputError(
                f"`flavor` must give one flavor for every beam or one per beam ({G}); got {describe(flavor)}."
            )
        for f in flavors:
            if f not in _FLAVORS:
                raise InputError(f"`flavor` entries must be among {sorted(_FLAVORS)}; got {describe(f)}.")
        return [{"flavor": f} for f in flavors]
    P = check_array("P", P, (G, 3))
    r = np.linalg.norm(P, axis=1)
    bad = np.flatnonzero(np.abs(r - 1.0) > 1e-9)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"`P` must hold unit (pure-state) Bloch vectors, one per beam; got |P[{i}]| = {r[i]:.6g}.")
    return [{"P": (P[g] / r[g]).tolist(), "basis": basis} for g in range(G)]


def _beam_names(G, names) -> list:
    """The beams' group labels ("b0", "b1", ... by default)."""
    if names is None:
        names = [f"b{g}" for g in range(G)]
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != G or len(set(names)) != G:
        raise InputError(f"`names` must give {G} different labels; got {describe(names)}.")
    for nm in names:
        if not isinstance(nm, str) or not nm:
            raise InputTypeError(f"`names` must hold non-empty strings; got {describe(nm)}.")
    return names


def _beam_directions(G, directions, seed) -> np.ndarray:
    """The beams' unit velocities (G, 3)."""
    if not isinstance(directions, str):
        V = check_array("directions", directions, (G, 3))
        _check_velocities("directions", V)
        return V / np.linalg.norm(V, axis=1, keepdims=True)
    if directions == "axis":
        if G != 2:
            raise InputError(f"`directions` 'axis' needs exactly 2 beams (+z and -z); got {G}.")
        return np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    if directions == "ring":
        a = 2 * np.pi * np.arange(G) / G
        return np.stack([np.sin(a), np.zeros(G), np.cos(a)], axis=1)
    if directions == "tetrahedron":
        if G != 4:
            raise InputError(f"`directions` 'tetrahedron' needs exactly 4 beams; got {G}.")
        s = np.sqrt(2.0) / 3.0
        return np.array(
            [[0.0, 0.0, 1.0], [2 * s, 0.0, -1 / 3], [-s, np.sqrt(2 / 3), -1 / 3], [-s, -np.sqrt(2 / 3), -1 / 3]]
        )
    if directions == "random":
        s = None if seed is None else check_int("seed", seed, low=0)
        return isotropic_velocities(G, np.random.default_rng(s))
    raise InputError(
        "`directions` must be 'axis', 'ring', 'tetrahedron', 'random' or (G, 3) unit vectors; "
        f"got {describe(directions)}."
    )


_GROUP_KEYS = {"name", "count", "flavor", "P", "basis", "omega", "velocity"}


def _group(where, spec, i, theta, rng, before):
    """One group table of ``from_groups``, checked: (name, count, flavor-basis P, omega, velocities
    (count, 3)); ``before`` particles precede it (for the memory check)."""
    if not isinstance(spec, dict):
        raise InputTypeError(f"`{where}` must be a table of group keys; got {describe(spec)}.")
    unknown = sorted(set(spec) - _GROUP_KEYS)
    if unknown:
        raise InputError(f"`{where}` has unknown key {unknown[0]!r}; expected keys among {sorted(_GROUP_KEYS)}.")
    name = spec.get("name", f"group{i}")
    if not isinstance(name, str) or not name:
        raise InputTypeError(f"`{where}.name` must be a non-empty string; got {describe(name)}.")
    if "count" not in spec:
        raise InputError(f"`{where}.count` is required (a positive integer).")
    count = check_int(f"{where}.count", spec["count"], low=1)
    total = before + count
    check_size(
        f"{where}.count",
        BYTES_PER_PARTICLE * total,
        f"{total} particles",
        hint="an engine needs about 200 bytes per particle before it records anything",
    )
    if ("flavor" in spec) == ("P" in spec):
        raise InputError(f"`{where}` must give exactly one of 'flavor' or 'P'.")
    basis = spec.get("basis", "flavor")
    if basis not in ("flavor", "mass"):
        raise InputError(f"`{where}.basis` must be 'flavor' or 'mass'; got {describe(basis)}.")
    if "flavor" in spec:
        flavor = spec["flavor"]
        if flavor not in _FLAVORS:
            raise InputError(f"`{where}.flavor` must be one of {sorted(_FLAVORS)}; got {describe(flavor)}.")
        if "basis" in spec:
            raise InputError(f"`{where}.basis` applies to 'P' only, not to 'flavor'.")
        p = np.array(_FLAVORS[flavor])
    else:
        p = check_array(f"{where}.P", spec["P"], (3,))
        _check_bloch(f"{where}.P", p)
        if basis == "mass":
            p = mass_to_flavor(p, theta)
    w = check_real(f"{where}.omega", spec.get("omega", 0.0))
    v = spec.get("velocity", "isotropic")
    if isinstance(v, str):
        if v != "isotropic":
            raise InputError(f"`{where}.velocity` must be 'isotropic' or a unit 3-vector; got {describe(v)}.")
        vv = isotropic_velocities(count, rng)
    else:
        v = check_array(f"{where}.velocity", v, (3,))
        _check_velocities(f"{where}.velocity", v[None, :])
        vv = np.tile(v, (count, 1))
    return name, count, p, w, vv
