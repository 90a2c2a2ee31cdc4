"""The engine interface and the registry that ``oile_q.run`` looks engines up in.

An engine is a small class: it *declares* its name, a one-line summary, its time-grid kind,
what it supports and its options; ``oile_q.run`` does everything else once for every engine
(checks the scenario, validates the options against the declaration, builds the schedule,
resolves the time grid, assembles the Dataset, records run statistics). The engine's
``run(request)`` receives a validated :class:`Request` and returns an :class:`Output`.
The command line, ``oile-q engines`` and the option checks are all generated from the
declaration.

Adding an engine (the whole of it)::

    from oile_q.engine import Engine, Option, Output, register_engine

    class Frozen(Engine):
        name = "frozen"
        summary = "nothing moves: P(t) = P(0)"
        grid = "continuous"
        supports = frozenset({"ensemble", "foreground", "odd_n"})
        options = (Option("scale", "multiply P by this", default=1.0, kind="float"),)

        def run(self, request):
            P0 = request.scenario.P0 * request.options["scale"]
            return Output(P=np.repeat(P0[None], len(request.times), axis=0))

    register_engine(Frozen)          # or an entry point in group "oile_q.engines"
    oile_q.run(scenario, "frozen", t_max=1.0, scale=0.5)

Built-in engines are registered by their import path and imported on first use, so
``import oile_q`` stays light; third-party packages register through the entry-point group
``oile_q.engines`` (``[project.entry-points."oile_q.engines"] name = "pkg.module:Class"``).
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from importlib.util import find_spec
from typing import Any, ClassVar

import numpy as np

from .errors import InputError, InputTypeError, check_bool, check_choice, check_int, check_real, describe
from .progress import Progress
from .scenario import Scenario

__all__ = [
    "Engine",
    "GroupObservables",
    "GROUP_OBSERVABLES",
    "Option",
    "Request",
    "Output",
    "Cost",
    "Progress",
    "register_engine",
    "unregister_engine",
    "get_engine",
    "engine_names",
    "list_engines",
    "CAPABILITIES",
    "GRIDS",
    "RESERVED",
    "ENTRY_POINT_GROUP",
]

ENTRY_POINT_GROUP = "oile_q.engines"
GRIDS = ("steps", "continuous")
# What an engine may declare in ``supports``:
CAPABILITIES = {
    "ensemble": "N interacting particles (Scenario from arrays, groups or TOML)",
    "foreground": "one neutrino crossing a uniform background (Scenario.foreground)",
    "odd_n": "an odd number of particles (engines that use the schedule only for the time grid)",
    "poisson": "Poisson-timed encounters (schedule 'poisson' with p)",
    "replay": "follows the encounter schedule itself, so explicit schedule arrays replay exactly",
}
# Keywords of ``run`` itself: no engine option may take these names.
RESERVED = frozenset({"scenario", "engine", "steps", "t_max", "times", "schedule", "seed", "p", "progress"})
_KINDS = ("bool", "int", "float", "str", "choice", "any")


# --------------------------------------------------------------------------- options


@dataclasses.dataclass(frozen=True)
class Option:
    """One engine option: its name, a one-line doc, the default and what values it takes.

    Parameters
    ----------
    name, doc : str
    default :
        Used when the option is not given (``None``: not set).
    kind : {"bool", "int", "float", "str", "choice", "any"}
        "choice" takes one of ``choices``; "any" leaves the check to ``check``.
    choices : tuple
    low : number, optional
        Inclusive lower bound of an int or float.
    positive : bool
        A float that must be > 0.
    check : callable(value) -> value, optional
        A further check or conversion (raise ``InputError`` naming the option).
    record : bool
        Whether the value is recorded in the result's ``options`` attribute (values that
        cannot be stored, such as callables or Datasets, are not).
    affects_result : bool
        For options that are not recorded: whether the result depends on them (a Dataset to
        start from: yes; a memory limit or a callback: no). ``oile_q.rerun`` refuses to re-run a
        result that used such an option unless it is given again.
    cli : bool
        Whether the option can be set from the command line and TOML files.

    Raises
    ------
    ValueError
        A declaration error (not bad input): a reserved or non-identifier name, an unknown
        kind, a "choice" without choices.

    Examples
    --------
    >>> opt = Option("rtol", "relative tolerance of the ODE solver", default=1e-8, kind="float", positive=True)
    >>> opt.validate(1e-9)
    1e-09
    >>> opt.validate(-1.0)
    Traceback (most recent call last):
    ...
    oile_q.errors.InputError: `rtol` must be positive; got -1.0.
    >>> opt.describe()
    'rtol (float, default 1e-08): relative tolerance of the ODE solver'
    """

    name: str
    doc: str
    default: Any = None
    kind: str = "any"
    choices: tuple = ()
    low: float | None = None
    positive: bool = False
    check: Callable | None = None
    record: bool = True
    affects_result: bool = True
    cli: bool = True

    def __post_init__(self):
        if not self.name.isidentifier() or self.name in RESERVED:
            raise ValueError(f"option name {self.name!r} must be an identifier other than {sorted(RESERVED)}")
        if self.kind not in _KINDS:
            raise ValueError(f"option {self.name!r}: kind must be one of {_KINDS}; got {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"option {self.name!r}: kind 'choice' needs `choices`")

    def validate(self, value):
        """The checked (and converted) value, or InputError naming the option."""
        if value is None and self.default is None:
            return None
        name = self.name
        if self.kind == "bool":
            value = check_bool(name, value)
        elif self.kind == "int":
            value = check_int(name, value, low=self.low)
        elif self.kind == "float":
            value = check_real(name, value, positive=self.positive, low=self.low)
        elif self.kind == "str":
            if not isinstance(value, str):
                raise InputTypeError(f"`{name}` must be a string; got {describe(value)}.")
        elif self.kind == "choice":
            value = check_choice(name, value, self.choices)
        if self.check is not None:
            value = self.check(value)
        return value

    def describe(self) -> str:
        """One line for help texts: ``name (kind, default ...): doc``."""
        if self.kind == "choice":
            what = "|".join(map(str, self.choices))
        else:
            what = self.kind
        default = "" if self.default is None else f", default {self.default!r}"
        return f"{self.name} ({what}{default}): {self.doc}"


# --------------------------------------------------------------------------- request / output


@dataclasses.dataclass(frozen=True, eq=False)
class Request:
    """What an engine receives: everything validated, nothing left to parse.

    Attributes
    ----------
    scenario : Scenario
    schedule : oile_q.schedules.Schedule
        Who meets whom (engines with the "replay" capability follow it; the others use its
        step length only).
    steps : int
        Number of steps of mu*tau = ``dt`` the run covers.
    dt : float
        mu*tau of one step (gamma, or p*gamma for Poisson timing).
    times : ndarray
        The mu t values to record, increasing.
    record_steps : ndarray or None
        Step indices of ``times`` (0 = the initial state) for "steps" engines; None for a
        "continuous" engine asked for times off the step grid.
    options : Mapping
        The engine's options, validated, with defaults filled in.
    progress : Progress
    notes : tuple of str
        What the pipeline changed in the request and the user should know (e.g. requested
        times rounded to step ends); recorded in the result's ``notes`` attribute.
    """

    scenario: Any
    schedule: Any
    steps: int
    dt: float
    times: np.ndarray
    record_steps: np.ndarray | None
    options: Mapping
    progress: Progress
    notes: tuple = ()

    @property
    def foreground(self) -> bool:
        return self.scenario.kind == "foreground"

    def record_mask(self, start: int, count: int) -> np.ndarray:
        """Which of the steps start+1 .. start+count end at a recorded time (bool, ``count``),
        so that engines never hold a mask over all steps of a long run."""
        rs = self.record_steps
        lo = np.searchsorted(rs, start + 1)
        hi = np.searchsorted(rs, start + count, side="right")
        mask = np.zeros(count, dtype=np.bool_)
        mask[rs[lo:hi] - start - 1] = True
        return mask


@dataclasses.dataclass
class Output:
    """What an engine returns.

    Parameters
    ----------
    P : ndarray (len(times), N, 3)
        Bloch vectors in the flavor basis (NaN where an engine computed no value).
    extras : dict
        More variables for the Dataset: name -> xarray.DataArray.
    stats : dict
        Run counters (encounters, matvecs, right-hand-side evaluations, ...); the pipeline
        adds the wall time. Stored as JSON in the ``engine_stats`` attribute.
    attrs : dict
        Engine-specific result attributes (scalars or strings).
    options : dict, optional
        Options to record when they differ from the validated ones (e.g. a resolved name).

    Examples
    --------
    >>> out = Output(P=np.zeros((2, 1, 3)), stats={"encounters": 4})
    >>> out.P.shape, out.extras
    ((2, 1, 3), {})
    """

    P: np.ndarray
    extras: dict = dataclasses.field(default_factory=dict)
    stats: dict = dataclasses.field(default_factory=dict)
    attrs: dict = dataclasses.field(default_factory=dict)
    options: dict | None = None


# The group observables of oile_q.results.group_means, and those an engine may record itself.
GROUP_OBSERVABLES = ("mean", "min", "max", "abs_mean", "mean_abs")
RECORDABLE_GROUP_OBSERVABLES = ("abs_mean", "mean_abs")


@dataclasses.dataclass(frozen=True)
class GroupObservables:
    """Declared by an engine whose ``P`` is not each particle's Bloch vector: the group observables
    it records itself, and why the others cannot be computed from ``P``.

    The generic helpers (``oile_q.results.group_means``, ``oile_q.compare.deviation_table``,
    ``oile_q.sweep.collect``) then take the declared variables instead of computing them from
    ``P``, and refuse (or mark "n/a") what the engine does not provide -- never a silently
    different number.

    Parameters
    ----------
    variables : Mapping[str, str]
        Group observable -> the name of the engine's extra that holds it, over
        (``time``, ``group``) with the group labels in coordinate ``group_name``. Keys among
        ``RECORDABLE_GROUP_OBSERVABLES``: "abs_mean" (|<P>_g|) and "mean_abs" (<|P|>_g).
    reason : str
        Why ``P`` cannot give the group observables, as a clause that follows "the ENGINE
        engine's" in messages, e.g. "P is phase-approximate and lacks the dephased parts".

    Examples
    --------
    >>> GroupObservables({"mean_abs": "group_mean_abs"}, "P lacks the dephased parts").variables
    {'mean_abs': 'group_mean_abs'}
    """

    variables: Mapping[str, str]
    reason: str

    def __post_init__(self):
        bad = sorted(set(self.variables) - set(RECORDABLE_GROUP_OBSERVABLES))
        if bad or not self.variables:
            raise TypeError(
                f"GroupObservables.variables: keys must be among {RECORDABLE_GROUP_OBSERVABLES}; "
                f"got {sorted(self.variables)}"
            )
        if not isinstance(self.reason, str) or not self.reason:
            raise TypeError("GroupObservables.reason must say why P cannot give the group observables")
        object.__setattr__(self, "variables", dict(self.variables))


@dataclasses.dataclass(frozen=True)
class Cost:
    """An engine's estimate of what a run will cost, made before it starts.

    ``seconds`` may be None when the engine cannot tell; ``what`` says in words what the
    figure counts (e.g. "5.0e7 encounters"); ``hint`` how to make the run cheaper."""

    seconds: float | None
    memory_bytes: float = 0.0
    what: str = ""
    hint: str = ""


# --------------------------------------------------------------------------- engines


class Engine(abc.ABC):
    """Base class of every engine (see the module docstring for a complete example).

    An engine takes no constructor parameters: it declares class attributes and implements
    ``run(request) -> Output``; optionally ``check(request)`` (engine-specific checks of the
    scenario and options before any work, raising ``InputError``) and
    ``estimate(request) -> Cost``.

    Attributes
    ----------
    name : str
        The name ``oile_q.run`` and the command line know it by.
    summary : str
        One line for ``oile-q engines``.
    grid : {"steps", "continuous"}
        "steps": the run advances in encounter steps and requested times are rounded to step
        ends; "continuous": times are kept as given.
    supports : frozenset
        A subset of ``CAPABILITIES``.
    options : tuple of Option
        The engine's options (validated by the pipeline, one command-line flag each).
    requires : tuple of str
        Importable modules the engine needs beyond the core (Qiskit, QuSpin, ...).
    extra : str
        The pip extra that installs them, e.g. "circuits".
    group_observables : GroupObservables or None
        For an engine whose ``P`` is not each particle's Bloch vector: the group observables it
        records itself, which the generic helpers must use.

    Raises
    ------
    TypeError
        When a subclass is defined with an invalid declaration.

    Examples
    --------
    A complete engine is in :func:`register_engine`; the built-in ones declare, e.g.:

    >>> oile = get_engine("oile")
    >>> oile.grid, sorted(oile.supports)
    ('steps', ['ensemble', 'foreground', 'poisson', 'replay'])
    >>> print(oile.option("propagator").describe())
    propagator (exact|split|symmetric, default 'exact'): ...
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    grid: ClassVar[str] = "steps"
    supports: ClassVar[frozenset] = frozenset({"ensemble", "foreground"})
    options: ClassVar[tuple] = ()
    requires: ClassVar[tuple] = ()  # importable modules the engine needs beyond the core
    extra: ClassVar[str] = ""  # the pip extra that installs them, e.g. "circuits"
    # None: P is every particle's Bloch vector and every group observable follows from it.
    group_observables: ClassVar[GroupObservables | None] = None

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.name:
            _check_declaration(cls)

    def option(self, name) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise KeyError(name)

    def validate_options(self, given: Mapping) -> dict:
        """The options with defaults filled in; unknown or ill-typed ones raise InputError."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise InputError(
                f"`{unknown[0]}` is not an option of engine {self.name!r}; expected among {sorted(known) or 'none'}"
                f" (or the run keywords {sorted(RESERVED - {'scenario', 'engine'})})."
            )
        out = {}
        for name, opt in known.items():
            out[name] = opt.validate(given[name]) if name in given else opt.default
        return out

    def check(self, request: Request) -> None:
        """Engine-specific checks before any work (override; raise InputError)."""
        return None  # an optional hook: nothing to check by default

    def estimate(self, request: Request) -> Cost | None:
        """The cost of ``request`` before it runs (override); None if unknown."""
        return None

    def example(self):
        """A small request this engine runs in about a second: (scenario, ``run`` keywords).

        The contract tests (tests/test_engine_contract.py) run every registered engine on it;
        override it where the default (a 4-particle two-group ensemble, or a foreground
        neutrino, 5 steps) does not suit the engine."""
        if "ensemble" in self.supports:
            sc = Scenario.from_groups(
                [
                    dict(name="e", count=2, flavor="e", omega=0.5),
                    dict(name="x", count=2, P=[0.6, 0.0, -0.8], omega=-0.3),
                ],
                gamma=0.1,
                theta=0.2,
                seed=1,
            )
            return sc, {"steps": 5, "seed": 3}
        sc = Scenario.foreground([0, 0, 1], [0.6, 0, 0.8], gamma=0.1, omega=0.3, theta=0.2)
        return sc, {"steps": 5}

    @abc.abstractmethod
    def run(self, request: Request) -> Output:
        """Evolve ``request`` and return its :class:`Output` (every engine implements this; a class
        without it cannot be instantiated, so ``register_engine`` refuses it)."""

    def describe(self) -> str:
        """Several lines for ``oile-q engines``: summary, grid, supports and options."""
        lines = [
            f"{self.name}: {self.summary}",
            f"  time grid: {self.grid}; supports: {', '.join(sorted(self.supports))}",
        ]
        for opt in self.options:
            lines.append(f"  {opt.describe()}")
        return "\n".join(lines)

    def __repr__(self):
        return f"<oile_q engine {self.name!r}>"


def _check_declaration(cls):
    if not isinstance(cls.name, str) or not cls.name.replace("-", "_").isidentifier():
        raise TypeError(f"engine name must be an identifier-like string; got {cls.name!r}")
    if cls.grid not in GRIDS:
        raise TypeError(f"engine {cls.name!r}: grid must be one of {GRIDS}; got {cls.grid!r}")
    bad = set(cls.supports) - set(CAPABILITIES)
    if bad:
        raise TypeError(
            f"engine {cls.name!r}: unknown capabilities {sorted(bad)}; expected among {sorted(CAPABILITIES)}"
        )
    names = [o.name for o in cls.options]
    if len(names) != len(set(names)):
        raise TypeError(f"engine {cls.name!r} declares an option twice")
    for o in cls.options:
        if not isinstance(o, Option):
            raise TypeError(f"engine {cls.name!r}: options must be Option objects; got {o!r}")
    if cls.group_observables is not None and not isinstance(cls.group_observables, GroupObservables):
        raise TypeError(
            f"engine {cls.name!r}: group_observables must be a GroupObservables; got {cls.group_observables!r}"
        )


# --------------------------------------------------------------------------- registry

# Built-in engines, by import path: imported on first use only.
_BUILTIN = {
    "oile": "oile_q.engines.oile:OileEngine",
    "meanfield": "oile_q.engines.meanfield:MeanFieldEngine",
    "master": "oile_q.engines.master:MasterEngine",
    "misci": "oile_q.engines.misci:MisciEngine",
    "circuit": "oile_q.circuits.engine:CircuitEngine",
    "exact": "oile_q.exact.exact_engine:ExactEngine",
    "closed": "oile_q.exact.closed_engine:ClosedEngine",
}
_REGISTRY: dict[str, Any] = dict(_BUILTIN)  # name -> Engine instance, or "module:Class" not yet loaded
_ENTRY_POINTS_LOADED = False


def register_engine(engine: type[Engine] | Engine | str, *, replace: bool = False) -> Engine:
    """Register an engine under its name, so that ``oile_q.run``, the command line and the sweeps
    find it.

    Parameters
    ----------
    engine : Engine subclass, Engine instance or str
        The engine, or its import path "module:Class" (imported now).
    replace : bool
        Replace another engine registered under the same name.

    Returns
    -------
    Engine
        The registered instance. Registering the same class again is harmless.

    Raises
    ------
    ValueError
        Another engine holds the name and ``replace`` is False.
    TypeError
        ``engine`` is not an Engine or declares no name.

    Examples
    --------
    >>> import oile_q
    >>> class Frozen(Engine):
    ...     name = "frozen_reg"
    ...     summary = "nothing moves: P(t) = P(0)"
    ...     grid = "continuous"
    ...     def run(self, request):
    ...         return Output(P=np.repeat(request.scenario.P0[None], len(request.times), axis=0))
    >>> _ = register_engine(Frozen)
    >>> fg = oile_q.Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    >>> oile_q.run(fg, "frozen_reg", t_max=1.0).P.shape
    (11, 1, 3)
    >>> unregister_engine("frozen_reg")
    """
    if isinstance(engine, str):
        inst = _load(engine)
    else:
        inst = engine() if isinstance(engine, type) else engine
        if not isinstance(inst, Engine):
            raise TypeError(f"an engine must subclass oile_q.engine.Engine; got {engine!r}")
    if not inst.name:
        raise TypeError(f"engine {engine!r} declares no name")
    current = _REGISTRY.get(inst.name)
    if current is not None and not replace and not (isinstance(current, Engine) and type(current) is type(inst)):
        raise ValueError(f"an engine named {inst.name!r} is already registered; pass replace=True to replace it")
    _REGISTRY[inst.name] = inst
    return inst


def unregister_engine(name: str) -> None:
    """Remove an engine (built-ins come back as they were)."""
    if name in _BUILTIN:
        _REGISTRY[name] = _BUILTIN[name]
    else:
        _REGISTRY.pop(name, None)


def _load(path: str) -> Engine:
    module, _, attr = path.partition(":")
    obj = getattr(importlib.import_module(module), attr)
    inst = obj() if isinstance(obj, type) else obj
    if not isinstance(inst, Engine):
        raise TypeError(f"{path} is not an oile_q engine")
    return inst


def _load_entry_points():
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            _REGISTRY[ep.name] = ep.value


def engine_names() -> list[str]:
    """Every registered engine name (built-in first, then plug-ins), without importing them."""
    _load_entry_points()
    return list(_REGISTRY)


def get_engine(name) -> Engine:
    """The engine registered as ``name`` (imported on first use).

    Raises InputError naming the known engines for an unknown name, and InputError too when
    an engine's optional dependencies (Qiskit, QuSpin) cannot be imported here."""
    if not isinstance(name, str) or name not in _REGISTRY:
        _load_entry_points()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InputError(f"`engine` must be one of {engine_names()}; got {describe(name)}.")
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        try:
            entry = _load(entry)
        except ImportError as err:
            raise InputError(f"`engine` {name!r} cannot be imported here: {err}.") from err
        if entry.name != name:
            raise TypeError(f"engine registered as {name!r} declares the name {entry.name!r}")
        _REGISTRY[name] = entry
    missing = [m for m in entry.requires if not _importable(m)]
    if missing:
        how = f" (pip install 'oile-q[{entry.extra}]')" if entry.extra else ""
        raise InputError(f"`engine` {name!r} needs {', '.join(missing)}, which cannot be imported here{how}.")
    return entry


def _importable(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def list_engines() -> dict[str, Engine]:
    """Every registered engine that can be imported here (those whose optional dependencies are
    missing are left out).

    Returns
    -------
    dict
        {name: Engine instance}, built-in engines first, then plug-ins.

    Examples
    --------
    >>> import oile_q
    >>> {"oile", "master", "meanfield"} <= set(oile_q.list_engines())
    True
    """
    out = {}
    for name in engine_names():
        try:
            out[name] = get_engine(name)
        except InputError:
            continue
    return out
