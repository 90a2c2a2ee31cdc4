"""The sweep spec: a base scenario, an engine, a run length and axes, validated completely and
expanded into points (see the package docstring for the layout and the parameter names)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import get_engine
from ..errors import InputError, InputTypeError, check_int, describe
from ..io import read_toml
from ..runner import prepare
from ..scenario import Scenario
from .common import HASH_CHARS, canonical_json, group_names, params_label, plain_data, point_hash

__all__ = ["SweepSpec", "Axis", "Point", "load_spec", "axis_values", "PARAM_HELP"]

_TOP_KEYS = ("name", "description", "scenario", "engine", "run", "options", "grid", "zip")
_RUN_KEYS = ("steps", "t_max", "times", "schedule", "seed", "p")
_SCHEDULES = ("matching", "round-robin", "poisson")
_GROUP_KEYS = ("count", "flavor", "P", "basis", "omega", "velocity")
_FOREGROUND_KEYS = ("P", "Q", "vdotu", "omega")
_PLAIN = ("gamma", "mu", "theta", "scenario.seed", "N", "seed", "schedule", "p", "engine")
_RESERVED_DIMS = ("time", "particle", "component", "group_name", "step", "slot", "end")
PARAM_HELP = (
    "gamma, mu, theta, scenario.seed, N, seed, schedule, p, engine, group.NAME.KEY "
    f"(KEY among {', '.join(_GROUP_KEYS)}), foreground.KEY or options.NAME"
)


def _table(name, value):
    if not isinstance(value, Mapping):
        raise InputTypeError(f"`{name}` must be a table; got {describe(value)}.")
    return dict(value)


def axis_values(name, spec, *, what="an axis"):
    """Expand an axis (or ``times``) given as a list or a range/linspace/geomspace table."""
    forms = (
        "a non-empty list or a table {range = [start, stop]}, {linspace = [start, stop, num]} or "
        "{geomspace = [start, stop, num]}"
    )
    if isinstance(spec, np.ndarray):
        spec = spec.tolist()
    if isinstance(spec, (list, tuple)):
        values = plain_data(list(spec), name)
    elif isinstance(spec, Mapping):
        if len(spec) != 1 or next(iter(spec)) not in ("range", "linspace", "geomspace"):
            raise InputError(f"`{name}` must be {forms}; got {describe(dict(spec))}.")
        kind, args = next(iter(spec.items()))
        if not isinstance(args, (list, tuple)):
            raise InputTypeError(f"`{name}.{kind}` must be a list of numbers; got {describe(args)}.")
        if kind == "range":
            if len(args) not in (2, 3):
                raise InputError(f"`{name}.range` must be [start, stop] or [start, stop, step]; got {describe(args)}.")
            args = [check_int(f"{name}.range", a) for a in args]
            if len(args) == 3 and args[2] == 0:
                raise InputError(f"`{name}.range` step must not be 0; got {args}.")
            values = list(range(*args))
        else:
            if len(args) != 3:
                raise InputError(f"`{name}.{kind}` must be [start, stop, num]; got {describe(args)}.")
            start, stop = (plain_data(a, f"{name}.{kind}") for a in args[:2])
            if not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in (start, stop)):
                raise InputTypeError(f"`{name}.{kind}` start and stop must be numbers; got {describe(args)}.")
            num = check_int(f"{name}.{kind}", args[2], low=1)
            if kind == "geomspace" and not (start > 0 and stop > 0):
                raise InputError(f"`{name}.geomspace` start and stop must be positive; got {describe(args)}.")
            fn = np.linspace if kind == "linspace" else np.geomspace
            values = fn(float(start), float(stop), num).tolist()
    else:
        raise InputTypeError(f"`{name}` must be {forms}; got {describe(spec)}.")
    if not values:
        raise InputError(f"`{name}` is empty: {what} needs at least one value.")
    return values


# --------------------------------------------------------------------------- the spec


@dataclasses.dataclass(frozen=True)
class Axis:
    """One dimension of a sweep: a grid axis (one parameter) or a zip (several, in lockstep).

    ``values[i]`` is the tuple of the parameters' values at position i."""

    dim: str
    params: tuple
    values: tuple

    def __len__(self):
        return len(self.values)


@dataclasses.dataclass(frozen=True)
class Point:
    """One run of a sweep: its position, its axis values, what to run and its hash."""

    index: tuple
    params: dict
    payload: dict
    hash: str

    @property
    def label(self) -> str:
        pos = "#" + ",".join(map(str, self.index)) if self.index else "#0"
        return f"{pos} ({params_label(self.params)})" if self.params else pos


@dataclasses.dataclass(frozen=True, eq=False)
class SweepSpec:
    """A validated sweep description (see the package docstring of ``oile_q.sweeps`` for the layout).

    Parameters
    ----------
    scenario : dict or str or Path
        The base scenario in the ``Scenario.from_dict`` layout, or a scenario TOML file.
    engine : str, optional
        The engine of every point; omit it when ``engine`` is an axis.
    run : dict
        ``oile_q.run`` keywords: ``steps`` or ``t_max``, ``times``, ``schedule``, ``seed``
        (default 0), ``p``.
    options : dict
        Engine options for every point.
    grid : dict
        Axis name -> values (list or range/linspace/geomspace table): an outer product.
    zip : dict
        Dimension name -> {axis name -> values}, lists of one length taken in lockstep.
    name, description : str
    """

    scenario: Any
    engine: str | None = None
    run: dict = dataclasses.field(default_factory=dict)
    options: dict = dataclasses.field(default_factory=dict)
    grid: dict = dataclasses.field(default_factory=dict)
    zip: dict = dataclasses.field(default_factory=dict)
    name: str = ""
    description: str = ""

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass
        for key in ("name", "description"):
            if not isinstance(getattr(self, key), str):
                raise InputTypeError(f"`{key}` must be a string; got {describe(getattr(self, key))}.")
        set_("scenario", _scenario_table(self.scenario, base=None))
        set_("run", _run_table(_table("run", self.run)))
        set_("options", plain_data(_table("options", self.options), "options"))
        grid = {}
        for name, vals in _table("grid", self.grid).items():
            grid[name] = axis_values(f"grid.{name}", vals)
        set_("grid", grid)
        zips = {}
        for dim, table in _table("zip", self.zip).items():
            table = _table(f"zip.{dim}", table)
            if not table:
                raise InputError(f"`zip.{dim}` is empty: a zip needs at least one parameter.")
            cols = {name: axis_values(f"zip.{dim}.{name}", vals) for name, vals in table.items()}
            lengths = {name: len(v) for name, v in cols.items()}
            if len(set(lengths.values())) != 1:
                raise InputError(f"`zip.{dim}` lists must have one length; got lengths {lengths}.")
            zips[dim] = cols
        set_("zip", zips)
        self._check()

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, data: Mapping, *, base_dir=None) -> SweepSpec:
        """A spec from the TOML layout; a ``scenario`` path is relative to ``base_dir``."""
        data = _table("spec", data)
        unknown = sorted(set(data) - set(_TOP_KEYS))
        if unknown:
            raise InputError(f"`spec` has unknown key {unknown[0]!r}; expected keys among {list(_TOP_KEYS)}.")
        if "scenario" not in data:
            raise InputError("`scenario` is required: a [scenario] table or the path of a scenario TOML file.")
        scenario = _scenario_table(data["scenario"], base=base_dir)
        return cls(scenario=scenario, **{k: v for k, v in data.items() if k != "scenario"})

    @classmethod
    def from_toml(cls, path) -> SweepSpec:
        """Read a spec file (TOML); a ``scenario`` path in it is relative to the file's folder."""
        path = Path(path)
        return cls.from_dict(read_toml(path, "spec"), base_dir=path.parent)

    def to_dict(self) -> dict:
        """The resolved spec as plain data (scenario inlined, axes expanded to lists)."""
        out = {
            "scenario": self.scenario,
            "engine": self.engine,
            "run": self.run,
            "options": self.options,
            "grid": self.grid,
            "zip": self.zip,
            "name": self.name,
            "description": self.description,
        }
        return copy.deepcopy(out)

    @property
    def hash(self) -> str:
        """Hash of everything that determines the points and their layout (not name/description)."""
        d = self.to_dict()
        d.pop("name")
        d.pop("description")
        d["layout"] = [[a.dim, list(a.params)] for a in self.axes]  # canonical JSON sorts keys
        return hashlib.sha256(canonical_json(d).encode()).hexdigest()[:HASH_CHARS]

    # ---------------------------------------------------------------- axes and points
    @property
    def axes(self) -> list[Axis]:
        axes = [Axis(name, (name,), tuple((v,) for v in vals)) for name, vals in self.grid.items()]
        for dim, cols in self.zip.items():
            names = tuple(cols)
            axes.append(Axis(dim, names, tuple(zip(*(cols[n] for n in names)))))
        return axes

    @property
    def dims(self) -> tuple:
        return tuple(a.dim for a in self.axes)

    @property
    def shape(self) -> tuple:
        return tuple(len(a) for a in self.axes)

    @property
    def engines(self) -> list[str]:
        if self.engine is not None:
            return [self.engine]
        for axis in self.axes:
            if "engine" in axis.params:
                k = axis.params.index("engine")
                return list(dict.fromkeys(v[k] for v in axis.values))
        return []

    def points(self) -> list[Point]:
        """Every point, in C order over the axes; InputError names a point that cannot be built."""
        axes = self.axes
        out = []
        for index in np.ndindex(*self.shape) if axes else [()]:
            params = {}
            for axis, i in zip(axes, index):
                params.update(zip(axis.params, axis.values[i]))
            try:
                payload = self._payload(params)
            except InputError as err:
                raise type(err)(f"point {Point(tuple(index), params, {}, '').label}: {err}") from err
            out.append(Point(tuple(int(i) for i in index), params, payload, point_hash(payload)))
        return out

    def _payload(self, params: Mapping) -> dict:
        """The resolved scenario dict, engine, run keywords and options of one point."""
        scen = copy.deepcopy(self.scenario)
        run = dict(self.run)
        engine = self.engine
        options = dict(self.options)
        n_total = None
        for name, value in params.items():
            if name in ("gamma", "mu", "theta"):
                scen[name] = value
            elif name == "scenario.seed":
                scen["seed"] = value
            elif name in ("seed", "schedule", "p"):
                run[name] = value
            elif name == "engine":
                engine = value
            elif name == "N":
                n_total = value
            elif name.startswith("options."):
                options[name[len("options.") :]] = value
            elif name.startswith("group."):
                gname, key = name[len("group.") :].rsplit(".", 1)
                group = scen["group"][group_names(scen["group"]).index(gname)]
                if key == "flavor":
                    group.pop("P", None)
                    group.pop("basis", None)
                elif key == "P":
                    group.pop("flavor", None)
                group[key] = value
            elif name.startswith("foreground."):
                scen["foreground"][name[len("foreground.") :]] = value
        if n_total is not None:
            n_total = check_int("N", n_total, low=2)
            counts = [g.get("count") for g in scen["group"]]
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in counts):
                raise InputError(f"`N` scales the group counts, which must be positive integers; got {counts}.")
            total = sum(counts)
            if any(c * n_total % total for c in counts):
                raise InputError(
                    f"`N` = {n_total} does not split the group counts {counts} in proportion "
                    f"(each count * N / {total} must be a whole number)."
                )
            for g, c in zip(scen["group"], counts):
                g["count"] = c * n_total // total
        if not isinstance(run.get("schedule", "matching"), str) or run.get("schedule", "matching") not in _SCHEDULES:
            raise InputError(
                f"`schedule` must be one of {list(_SCHEDULES)} in a sweep; got {describe(run.get('schedule'))}."
            )
        if not isinstance(engine, str):
            raise InputTypeError(f"`engine` must be an engine name; got {describe(engine)}.")
        eng = get_engine(engine)
        declared = {o.name for o in eng.options}
        options = {k: v for k, v in options.items() if k in declared}
        if "replay" not in eng.supports:
            run["seed"] = 0  # the engine does not follow the schedule: its seed cells share one point
        return {"scenario": scen, "engine": engine, "run": run, "options": options}

    def _check(self):
        """Structural checks that need no point: axis names, engines, options, run length."""
        axes = self.axes
        for axis in axes:
            if axis.dim in _RESERVED_DIMS:
                raise InputError(
                    f"`{axis.dim}` cannot name a sweep dimension (the results use it); choose another zip name."
                )
        params = [p for a in axes for p in a.params]
        for dim in self.zip:
            if dim in self.grid or (dim in params and dim not in self.zip[dim]):
                raise InputError(f"`zip.{dim}` is also the name of a swept parameter; choose another zip name.")
        dup = sorted({p for p in params if params.count(p) > 1})
        if dup:
            raise InputError(f"`{dup[0]}` is swept twice (in two axes); sweep each parameter once.")
        for p in params:
            self._check_param(p)
        if "N" in params and any(p.startswith("group.") and p.endswith(".count") for p in params):
            raise InputError("`N` and a `group.NAME.count` axis both set particle counts; sweep one of them.")
        if self.engine is None and "engine" not in params:
            raise InputError('`engine` is required: give `engine = "oile"` (or another engine) or an `engine` axis.')
        if self.engine is not None and "engine" in params:
            raise InputError("`engine` is given both as a fixed value and as an axis; keep one.")
        if self.engine is not None:
            get_engine(self.engine)
        engines = self.engines
        for e in engines:
            if not isinstance(e, str):
                raise InputTypeError(f"`engine` values must be engine names; got {describe(e)}.")
            get_engine(e)
        declared = set().union(*(_declared_options(e) for e in engines))
        for name in [*self.options, *(p[len("options.") :] for p in params if p.startswith("options."))]:
            if name not in declared:
                raise InputError(
                    f"`options.{name}` is not an option of engine(s) {engines}; expected among "
                    f"{sorted(declared) or 'none'}."
                )

    def _check_param(self, p):
        if not isinstance(p, str) or not p:
            raise InputTypeError(f"axis names must be non-empty strings; got {describe(p)}.")
        scen = self.scenario
        if p in _PLAIN or (p.startswith("options.") and len(p) > len("options.")):
            if p in ("scenario.seed", "N") and "group" not in scen:
                raise InputError(f"`{p}` applies to [[group]] scenarios only.")
            return
        parts = p.split(".")
        if parts[0] == "group" and len(parts) >= 3:
            gname, key = ".".join(parts[1:-1]), parts[-1]
            if "group" not in scen:
                raise InputError(
                    f"`{p}` needs a [[group]] scenario; this one has {sorted(set(scen) & {'foreground', 'particles'})}."
                )
            names = group_names(scen["group"])
            if gname not in names:
                raise InputError(f"`{p}`: the scenario has no group named {gname!r}; its groups are {names}.")
            if key not in _GROUP_KEYS:
                raise InputError(f"`{p}`: {key!r} is not a group field; expected one of {list(_GROUP_KEYS)}.")
            return
        if parts[0] == "foreground" and len(parts) == 2:
            if "foreground" not in scen:
                raise InputError(f"`{p}` needs a [foreground] scenario.")
            if parts[1] not in _FOREGROUND_KEYS:
                raise InputError(
                    f"`{p}`: {parts[1]!r} is not a foreground field; expected one of {list(_FOREGROUND_KEYS)}."
                )
            return
        raise InputError(f"`{p}` is not a sweep parameter; expected {PARAM_HELP}.")

    def validate(self):
        """Build every point's scenario and check its run (``oile_q.runner.prepare``: no work).

        Returns (points, estimated seconds per point or None). InputError names the point."""
        points = self.points()
        estimates = {}
        for pt in points:
            if pt.hash in estimates:
                continue
            pl = pt.payload
            try:
                sc = Scenario.from_dict(copy.deepcopy(pl["scenario"]))
                eng, req = prepare(sc, pl["engine"], **pl["run"], **pl["options"])
                cost = eng.estimate(req)
            except InputError as err:
                raise type(err)(f"point {pt.label}: {err}") from err
            estimates[pt.hash] = None if cost is None else cost.seconds
        return points, estimates


def _declared_options(engine) -> set:
    return {o.name for o in get_engine(engine).options}


def _scenario_table(value, *, base):
    """The base scenario as a plain dict (a path is read as TOML, relative to ``base``; the file's
    own ``[run]`` table is not used)."""
    if isinstance(value, (str, Path)):
        path = Path(value)
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        value = read_toml(path, "scenario")
    if not isinstance(value, Mapping):
        raise InputTypeError(f"`scenario` must be a table or the path of a scenario TOML file; got {describe(value)}.")
    value = plain_data(value, "scenario")
    value.pop("run", None)
    if "group" in value:
        if not isinstance(value["group"], list) or not all(isinstance(g, dict) for g in value["group"]):
            raise InputTypeError(f"`scenario.group` must be a list of group tables; got {describe(value['group'])}.")
        names = group_names(value["group"])
        if len(set(names)) != len(names):
            raise InputError(
                f"`scenario.group` names must be unique in a sweep (axes address groups by name); got {names}."
            )
    if "foreground" in value and not isinstance(value["foreground"], dict):
        raise InputTypeError(f"`scenario.foreground` must be a table; got {describe(value['foreground'])}.")
    return value


def _run_table(run):
    unknown = sorted(set(run) - set(_RUN_KEYS))
    if unknown:
        hint = (
            " (engine options go in [options])" if unknown[0] not in ("engine",) else " (`engine` is a top-level key)"
        )
        raise InputError(f"`run` has unknown key {unknown[0]!r}; expected keys among {list(_RUN_KEYS)}{hint}.")
    run = (
        plain_data(run, "run")
        if "times" not in run
        else {
            **plain_data({k: v for k, v in run.items() if k != "times"}, "run"),
            "times": axis_values("run.times", run["times"], what="a time grid"),
        }
    )
    if "steps" in run and "t_max" in run:
        raise InputError("`run` must give only one of `steps` or `t_max`; got both.")
    if not any(k in run for k in ("steps", "t_max", "times")):
        raise InputError("`run` needs the run length: `steps`, `t_max` or `times`.")
    run.setdefault("schedule", "matching")
    run.setdefault("seed", 0)
    return run


def load_spec(spec) -> SweepSpec:
    """A SweepSpec from a SweepSpec, a dict (TOML layout) or the path of a TOML file."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, (str, Path)):
        return SweepSpec.from_toml(spec)
    if isinstance(spec, Mapping):
        return SweepSpec.from_dict(spec)
    raise InputTypeError(f"`spec` must be a SweepSpec, a dict or the path of a TOML file; got {describe(spec)}.")
