"""Sweeps and seed ensembles on Dask: many runs of one set-up, resumable after a crash.

A *sweep* is a base scenario, an engine, a run length and a set of *axes*; every combination
of axis values is one *point*, i.e. one ``oile_q.run``. Points run as Dask tasks (a
``LocalCluster`` with one worker process per core by default, an existing scheduler, or a
``dask-jobqueue`` cluster), each finished point is written atomically to its own netCDF file
named by a hash of its parameters, and ``collect`` combines the files lazily into one Dataset
with the axes as dimensions, e.g. ``P(gamma, seed, time, particle, component)``, plus group
observables and their statistics over schedule seeds.

The spec (TOML, or the same layout as a dict)
---------------------------------------------
::

    name = "paper1_fig2_seeds"          # optional, with `description`
    engine = "oile"                     # or an `engine` axis

    [scenario]                          # Scenario.from_dict layout (gamma, theta, mu, seed and
    gamma = 0.01                        # [[scenario.group]] / [scenario.foreground] /
    theta = 1e-3                        # [scenario.particles]); or, instead of the table,
    seed = 1                            # scenario = "file.toml" (relative to the spec file;
    [[scenario.group]]                  # that file's own [run] table is not used)
    name = "nu_e"
    count = 60
    flavor = "e"
    omega = 0.1
    [[scenario.group]]
    name = "nu_x"
    count = 40
    flavor = "x"
    omega = 0.2

    [run]                               # as oile_q.run: steps | t_max, times, schedule, seed, p
    times = { linspace = [0.0, 100.0, 501] }
    schedule = "matching"               # seed defaults to 0: a sweep is fully reproducible

    [options]                           # engine options for every point (each goes to the
    propagator = "exact"                # engines that declare it)

    [grid]                              # outer product, one dimension per axis, in this order
    gamma = [0.1, 0.01]
    seed = { range = [0, 64] }

    [zip.size]                          # zipped lists: one dimension "size" for all of them
    "group.nu_e.count" = [6, 12, 30]
    "group.nu_x.count" = [4, 8, 20]

An axis takes a non-empty list, or ``{range = [start, stop(, step)]}`` (integers),
``{linspace = [start, stop, num]}`` or ``{geomspace = [start, stop, num]}``; ``times`` takes a
list or ``linspace``/``geomspace``. The dimensions are the grid axes in order, then the zips.

Parameter (axis) names
----------------------
``gamma``, ``mu``, ``theta``
    the scenario's impact parameter, interaction strength and mixing angle
``scenario.seed``
    the velocity seed of a ``[[group]]`` scenario (isotropic velocities)
``group.NAME.KEY``
    a field of the group named NAME: ``count``, ``omega``, ``flavor``, ``P``, ``basis``,
    ``velocity`` (setting ``flavor`` drops the group's ``P``/``basis`` and vice versa)
``foreground.KEY``
    a field of a foreground scenario: ``P``, ``Q``, ``vdotu``, ``omega``
``N``
    the total particle count: every group count scaled by N / sum(counts) (each must come
    out a whole number; not combined with count axes)
``seed``
    the schedule seed (ensembles over random matchings; engines that do not follow the
    schedule, such as ``master``, run with seed 0, so their seed cells share one point file)
``schedule``, ``p``
    the schedule kind, the Poisson encounter probability
``engine``
    the engine
``options.NAME``
    an engine option (passed to the engines that declare it)

The store
---------
::

    DIR/sweep.json          manifest: the resolved spec (scenario inlined), its hash, the
                            dimensions and every point (index, parameters, hash)
    DIR/points/HASH.nc      one finished point: the Dataset of ``oile_q.run`` (attrs
                            ``sweep_hash``, ``sweep_params`` added), written atomically
    DIR/failed/HASH.json    a point that raised: its one-line error
    DIR/log.jsonl           one line per event (run started; point start/done/failed/skip),
                            with the run id, process id and host
    DIR/.lock               held by the running sweep (a second one on DIR is refused)

HASH is the first 16 hex digits of the SHA-256 of the point's fully resolved parameters
(scenario, engine, run keywords, options) in canonical JSON, so it does not depend on how the
spec spells them or on which axis they come from. Running the same spec again skips finished
points (after a crash, a ``kill -9`` or an interrupt) and removes partial ``*.part`` files left
by a killed writer; a different spec in the same folder is refused unless ``force=True``
(``--force``), which replaces the manifest and still reuses every point whose parameters are
unchanged. Failed points are skipped too (and reported again) until ``retry_failed=True``.
The folder must be visible to every worker (a shared file system on a cluster).

Python::

    import oile_q
    res = oile_q.sweep("examples/sweeps/paper1_fig2_seeds.toml", "out/fig2_seeds")
    ds = oile_q.sweep.collect("out/fig2_seeds", basis="mass")
    ds.group_mean_mean, ds.group_mean_sem        # over the 64 schedule seeds

Command line::

    oile-q sweep SPEC.toml -o DIR [--scheduler ADDRESS | --workers N | --serial]
                 [--force] [--retry-failed] [--batch K] [--no-progress]
    oile-q sweep collect DIR [-o OUT.nc] [--basis flavor|mass]

On a Slurm cluster (``pip install dask-jobqueue``)::

    from dask_jobqueue import SLURMCluster
    from distributed import Client
    # one Slurm job per node: 32 single-threaded worker processes (the OILE kernels are serial)
    cluster = SLURMCluster(cores=32, processes=32, memory="64GB", walltime="02:00:00",
                           account="myproject", queue="normal")
    cluster.scale(jobs=4)                          # 128 workers
    res = oile_q.sweep("spec.toml", "/scratch/me/sweep", client=Client(cluster))

(the store must be on a file system the compute nodes share; if the allocation ends, run the
same line again: finished points are kept)

or start ``dask scheduler`` / ``dask worker`` yourself and pass ``--scheduler tcp://HOST:8786``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import numbers
import os
import socket
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, InputTypeError, check_int, describe

__all__ = [
    "SweepSpec",
    "Axis",
    "Point",
    "SweepResult",
    "load_spec",
    "sweep",
    "collect",
    "load_point",
    "cli_main",
    "point_hash",
    "run_batch",
    "run_point",
    "MANIFEST",
    "TASK_SECONDS",
]

MANIFEST = "sweep.json"
POINTS = "points"
FAILED = "failed"
LOG = "log.jsonl"
LOCK = ".lock"
FORMAT = "oile-q sweep 1"
HASH_CHARS = 16
# Points are packed into Dask tasks of about this many (estimated) seconds: the distributed
# scheduler costs ~1 ms per task (dask #9437; benchmarks/bench_sweeps.py measures it here).
TASK_SECONDS = 0.2
WRITE_SECONDS = 0.05  # writing one point file (netCDF via h5netcdf), added to the engine's estimate
TASKS_PER_WORKER = 4  # ... but at least this many tasks per worker, for load balance

_TOP_KEYS = ("name", "description", "scenario", "engine", "run", "options", "grid", "zip")
_RUN_KEYS = ("steps", "t_max", "times", "schedule", "seed", "p")
_SCHEDULES = ("matching", "round-robin", "poisson")
_GROUP_KEYS = ("count", "flavor", "P", "basis", "omega", "velocity")
_FOREGROUND_KEYS = ("P", "Q", "vdotu", "omega")
_PLAIN = ("gamma", "mu", "theta", "scenario.seed", "N", "seed", "schedule", "p", "engine")
_RESERVED_DIMS = ("time", "particle", "component", "group_name", "step", "slot", "end")
_PARAM_HELP = (
    "gamma, mu, theta, scenario.seed, N, seed, schedule, p, engine, group.NAME.KEY "
    f"(KEY among {', '.join(_GROUP_KEYS)}), foreground.KEY or options.NAME"
)


# --------------------------------------------------------------------------- small helpers


def _plain(value, name):
    """``value`` as plain JSON data (numpy scalars and arrays converted); InputTypeError if not."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise InputError(f"`{name}` must be finite; got {value}.")
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, name) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputTypeError(f"`{name}` keys must be strings; got {describe(k)}.")
            out[k] = _plain(v, f"{name}.{k}")
        return out
    raise InputTypeError(
        f"`{name}` must be plain data (numbers, strings, booleans, lists, tables); got {describe(value)}."
    )


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def point_hash(payload: Mapping) -> str:
    """The stable name of a point: the first 16 hex digits of the SHA-256 of its resolved
    parameters (scenario, engine, run keywords, options) in canonical JSON."""
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()[:HASH_CHARS]


def _table(name, value):
    if not isinstance(value, Mapping):
        raise InputTypeError(f"`{name}` must be a table; got {describe(value)}.")
    return dict(value)


def _values(name, spec, *, what="an axis"):
    """Expand an axis (or ``times``) given as a list or a range/linspace/geomspace table."""
    forms = (
        "a non-empty list or a table {range = [start, stop]}, {linspace = [start, stop, num]} or "
        "{geomspace = [start, stop, num]}"
    )
    if isinstance(spec, np.ndarray):
        spec = spec.tolist()
    if isinstance(spec, (list, tuple)):
        values = _plain(list(spec), name)
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
            start, stop = (_plain(a, f"{name}.{kind}") for a in args[:2])
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


def _label(params: Mapping) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(value):
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    name = type(err).__name__
    line = f"{name}: {text}" if text else name
    return line if len(line) <= 400 else line[:397] + "..."


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
        return f"{pos} ({_label(self.params)})" if self.params else pos


@dataclasses.dataclass(frozen=True, eq=False)
class SweepSpec:
    """A validated sweep description (see the module docstring for the layout).

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
        set_("options", _plain(_table("options", self.options), "options"))
        grid = {}
        for name, vals in _table("grid", self.grid).items():
            grid[name] = _values(f"grid.{name}", vals)
        set_("grid", grid)
        zips = {}
        for dim, table in _table("zip", self.zip).items():
            table = _table(f"zip.{dim}", table)
            if not table:
                raise InputError(f"`zip.{dim}` is empty: a zip needs at least one parameter.")
            cols = {name: _values(f"zip.{dim}.{name}", vals) for name, vals in table.items()}
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
        """Read a spec file (TOML)."""
        import tomllib

        path = Path(path)
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as err:
            raise InputError(f"`spec` file not found: {str(path)!r}.") from err
        except IsADirectoryError as err:
            raise InputError(f"`spec` must be a TOML file; got the folder {str(path)!r}.") from err
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"`spec` file {str(path)!r} is not valid TOML: {err}.") from err
        return cls.from_dict(data, base_dir=path.parent)

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
        return hashlib.sha256(_canonical(d).encode()).hexdigest()[:HASH_CHARS]

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
                group = scen["group"][_group_names(scen["group"]).index(gname)]
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
        from .engine import get_engine

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
        from .engine import get_engine

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
            names = _group_names(scen["group"])
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
        raise InputError(f"`{p}` is not a sweep parameter; expected {_PARAM_HELP}.")

    def validate(self):
        """Build every point's scenario and check its run (``oile_q.runner.prepare``: no work).

        Returns (points, estimated seconds per point or None). InputError names the point."""
        from .runner import prepare
        from .scenario import Scenario

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


def _group_names(groups) -> list:
    """Group names as Scenario.from_groups gives them (unnamed: "group<i>")."""
    return [g.get("name", f"group{i}") for i, g in enumerate(groups)]


def _declared_options(engine) -> set:
    from .engine import get_engine

    return {o.name for o in get_engine(engine).options}


def _scenario_table(value, *, base):
    """The base scenario as a plain dict (a path is read as TOML, relative to ``base``)."""
    import tomllib

    if isinstance(value, (str, Path)):
        path = Path(value)
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        try:
            with open(path, "rb") as fh:
                value = tomllib.load(fh)
        except (FileNotFoundError, IsADirectoryError) as err:
            raise InputError(f"`scenario` file not found: {str(path)!r}.") from err
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"`scenario` file {str(path)!r} is not valid TOML: {err}.") from err
        value.pop("run", None)
    if not isinstance(value, Mapping):
        raise InputTypeError(f"`scenario` must be a table or the path of a scenario TOML file; got {describe(value)}.")
    value = _plain(value, "scenario")
    value.pop("run", None)
    if "group" in value:
        if not isinstance(value["group"], list) or not all(isinstance(g, dict) for g in value["group"]):
            raise InputTypeError(f"`scenario.group` must be a list of group tables; got {describe(value['group'])}.")
        names = _group_names(value["group"])
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
        _plain(run, "run")
        if "times" not in run
        else {
            **_plain({k: v for k, v in run.items() if k != "times"}, "run"),
            "times": _values("run.times", run["times"], what="a time grid"),
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


# --------------------------------------------------------------------------- the store


class _Store:
    """The on-disk layout of one sweep folder (see the module docstring)."""

    def __init__(self, root):
        self.root = Path(root)
        self.points = self.root / POINTS
        self.failed_dir = self.root / FAILED
        self.manifest = self.root / MANIFEST
        self.log = self.root / LOG

    def point_path(self, h) -> Path:
        return self.points / f"{h}.nc"

    def failed_path(self, h) -> Path:
        return self.failed_dir / f"{h}.json"

    def done(self) -> set:
        if not self.points.is_dir():
            return set()
        return {
            p.name[:-3]
            for p in self.points.iterdir()
            if p.name.endswith(".nc") and len(p.name) == HASH_CHARS + 3 and p.is_file()
        }

    def failed(self) -> dict:
        if not self.failed_dir.is_dir():
            return {}
        out = {}
        for p in self.failed_dir.glob("*.json"):
            try:
                out[p.stem] = json.loads(p.read_text())
            except (OSError, ValueError):  # unreadable record: treat as failed, unknown error
                out[p.stem] = {"error": "unreadable failure record"}
        return out

    def partials(self) -> list:
        found = []
        for folder in (self.root, self.points, self.failed_dir):
            if folder.is_dir():
                found += [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".part")]
        return found

    def read_manifest(self):
        if not self.manifest.exists():
            return None
        try:
            data = json.loads(self.manifest.read_text())
        except ValueError as err:
            raise InputError(f"`out_dir` manifest {str(self.manifest)!r} is not valid JSON: {err}.") from err
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"`out_dir` {str(self.root)!r} holds no oile-q sweep manifest of format {FORMAT!r}.")
        return data

    def write_manifest(self, spec: SweepSpec, points):
        from ._version import __version__
        from .io import atomic_write

        data = {
            "format": FORMAT,
            "version": __version__,
            "spec_hash": spec.hash,
            "spec": spec.to_dict(),
            "dims": list(spec.dims),
            "shape": list(spec.shape),
            "coords": {a.dim: {p: [v[k] for v in a.values] for k, p in enumerate(a.params)} for a in spec.axes},
            "points": [
                {
                    "index": list(pt.index),
                    "hash": pt.hash,
                    "params": pt.params,
                    "theta": float(pt.payload["scenario"].get("theta", 0.0)),
                    "groups": _labels_of(pt.payload),
                }
                for pt in points
            ],
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write(self.manifest, lambda fh: json.dump(data, fh, indent=1))

    @contextlib.contextmanager
    def lock(self):
        """Hold ``DIR/.lock`` (released by the kernel if the process dies)."""
        import fcntl

        fh = open(self.root / LOCK, "a")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as err:
                raise InputError(
                    f"`out_dir` {str(self.root)!r} is in use by another oile-q sweep "
                    f"(it holds {str(self.root / LOCK)!r})."
                ) from err
            yield
        finally:
            fh.close()


def _log(root, run_id, event, **fields):
    """Append one JSON line to DIR/log.jsonl (one write call with O_APPEND)."""
    line = (
        json.dumps(
            {
                "run": run_id,
                "event": event,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "t": round(time.time(), 3),
                **fields,
            },
            sort_keys=True,
        )
        + "\n"
    )
    fd = os.open(Path(root) / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- worker side


def run_point(out_dir, run_id, h, params, payload) -> dict:
    """Compute one point and write it to ``DIR/points/HASH.nc`` (or its error to
    ``DIR/failed/HASH.json``). Runs on a Dask worker; returns a small status dict."""
    from . import run
    from .io import atomic_write
    from .results import save
    from .scenario import Scenario

    store = _Store(out_dir)
    path = store.point_path(h)
    if path.is_file():  # finished meanwhile (e.g. by a duplicate cell of the grid)
        _log(out_dir, run_id, "skip", hash=h)
        return {"hash": h, "status": "done", "seconds": 0.0}
    _log(out_dir, run_id, "start", hash=h)
    t0 = time.perf_counter()
    try:
        sc = Scenario.from_dict(copy.deepcopy(payload["scenario"]))
        ds = run(sc, payload["engine"], **payload["run"], **payload["options"])
        ds.attrs["sweep_hash"] = h
        ds.attrs["sweep_params"] = json.dumps(params, sort_keys=True)
        save(ds, path)
    except Exception as err:  # a failing point is recorded; the others go on
        line = _one_line(err)
        record = {
            "hash": h,
            "params": params,
            "error": line,
            "run": run_id,
            "host": socket.gethostname(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write(store.failed_path(h), lambda fh: json.dump(record, fh))
        _log(out_dir, run_id, "failed", hash=h, error=line)
        return {"hash": h, "status": "failed", "error": line, "seconds": time.perf_counter() - t0}
    seconds = time.perf_counter() - t0
    _log(out_dir, run_id, "done", hash=h, seconds=round(seconds, 4))
    return {"hash": h, "status": "done", "seconds": seconds}


def run_batch(out_dir, run_id, items) -> list:
    """Run several points in one task: ``items`` is a list of (hash, params, payload)."""
    return [run_point(out_dir, run_id, h, params, payload) for h, params, payload in items]


# --------------------------------------------------------------------------- execution


@dataclasses.dataclass
class SweepResult:
    """What ``sweep`` did.

    Attributes
    ----------
    out_dir : Path
    total : int
        Points of the sweep (cells of the grid).
    unique : int
        Distinct points (cells with identical parameters share one file).
    computed : int
        Points computed by this call (including those that failed now).
    reused : int
        Points found finished in the store.
    failed : dict
        Point label -> one-line error, for every failed point (now or before).
    seconds : float
    dashboard : str or None
        The Dask dashboard link, when the cluster has one.
    """

    out_dir: Path
    total: int
    unique: int
    computed: int
    reused: int
    failed: dict
    seconds: float
    dashboard: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    def count_text(self) -> str:
        extra = f" ({self.unique} distinct)" if self.unique != self.total else ""
        return f"{self.total} points{extra}"

    def collect(self, **kwargs):
        return collect(self.out_dir, **kwargs)


def _batches(todo, estimates, nworkers, batch):
    """Pack points into tasks: ``batch`` points each, or (batch=None) greedily up to
    TASK_SECONDS of estimated work, keeping at least TASKS_PER_WORKER tasks per worker."""
    if batch is not None:
        return [todo[i : i + batch] for i in range(0, len(todo), batch)]
    cap = max(1, len(todo) // max(1, TASKS_PER_WORKER * nworkers))
    out, cur, cur_s = [], [], 0.0
    for pt in todo:
        est = estimates.get(pt.hash)
        est = None if est is None else est + WRITE_SECONDS
        if est is None or est >= TASK_SECONDS:
            out.append([pt])
            continue
        cur.append(pt)
        cur_s += est
        if cur_s >= TASK_SECONDS or len(cur) >= cap:
            out.append(cur)
            cur, cur_s = [], 0.0
    if cur:
        out.append(cur)
    return out


class _Progress:
    """Points done / total, failures and ETA on stderr (tqdm), or a callable f(done, failed, total)."""

    def __init__(self, spec, total):
        if not (isinstance(spec, bool) or callable(spec)):
            raise InputTypeError(
                f"`progress` must be True, False or a callable f(done, failed, total); got {describe(spec)}."
            )
        self.spec, self.total, self.done, self.failed = spec, total, 0, 0
        self.bar = None

    def _start(self):
        if self.spec is True and self.total and self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total,
                desc="oile-q sweep",
                unit="point",
                file=sys.stderr,
                mininterval=0.5,
                dynamic_ncols=True,
            )
            self.bar.set_postfix(failed=0, refresh=False)

    def say(self, text):
        """A line on stderr (before the bar starts)."""
        if self.spec is True:
            (self.bar.write if self.bar is not None else lambda s: print(s, file=sys.stderr))(text)
        self._start()

    def update(self, statuses):
        self._start()
        n = len(statuses)
        nf = sum(s["status"] == "failed" for s in statuses)
        self.done += n
        self.failed += nf
        if self.bar is not None:
            if nf:
                self.bar.set_postfix(failed=self.failed, refresh=False)
            self.bar.update(n)
        elif callable(self.spec):
            self.spec(self.done, self.failed, self.total)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _connect(client):
    """A Client for ``client`` (an address or a Client), checked before anything is written.
    Returns (client, owned): ``owned`` is True when we opened it (and close it)."""
    from distributed import Client

    if isinstance(client, str):
        try:
            return Client(client, timeout="10s"), True
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(f"`scheduler` cannot be reached at {client!r}: {_one_line(err)}.") from err
    if not isinstance(client, Client):
        raise InputTypeError(
            f"`client` must be a distributed.Client, a scheduler address, 'serial' or None; got {describe(client)}."
        )
    return client, False


def _open_client(client, workers):
    """(client, resources to close, number of workers, dashboard link); client None starts
    the default LocalCluster (one worker process per core, or ``workers``)."""
    import logging

    from distributed import Client, LocalCluster

    owned = []
    if client is None:
        n = workers if workers is not None else (os.cpu_count() or 1)
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        )
        client = Client(cluster)
        owned = [client, cluster]
    info = client.scheduler_info()
    nworkers = max(1, len(info.get("workers", {})))
    dashboard = None
    if "dashboard" in info.get("services", {}):
        try:
            dashboard = client.dashboard_link
        except Exception:  # noqa: BLE001 - a missing link is not an error
            dashboard = None
    return client, owned, nworkers, dashboard


def sweep(
    spec, out_dir, *, client=None, workers=None, force=False, retry_failed=False, batch=None, progress=True
) -> SweepResult:
    """Run every point of a sweep on Dask, writing each to its own file in ``out_dir``.

    Parameters
    ----------
    spec : SweepSpec, dict or path
        The sweep (module docstring); validated completely, every point included, before
        anything is written.
    out_dir : path
        The store (created if missing). Points already finished there are skipped.
    client : distributed.Client, str or None
        None: a ``LocalCluster`` with ``workers`` processes (default one per core), closed at
        the end; a scheduler address ("tcp://host:8786"); a Client (left open); or "serial"
        to compute in this process without Dask (debugging).
    workers : int, optional
        Worker processes of the default LocalCluster.
    force : bool
        Replace the manifest of a different sweep in ``out_dir`` (points with unchanged
        parameters are still reused).
    retry_failed : bool
        Recompute points that failed before (otherwise they are reported again).
    batch : int, optional
        Points per Dask task (default: packed to ~TASK_SECONDS of estimated work).
    progress : bool or callable
        A progress bar with the ETA and the dashboard link on stderr, or f(done, failed, total).

    Returns
    -------
    SweepResult
        ``.ok`` is False when some point failed (``.failed`` maps point labels to errors).

    Notes
    -----
    The default LocalCluster starts its workers as new processes (spawn), so a script that
    calls ``sweep`` without ``client`` needs the ``if __name__ == "__main__":`` guard.
    """
    from .io import check_output_dir

    t0 = time.perf_counter()
    spec = load_spec(spec)
    out_dir = check_output_dir(out_dir, "out_dir")
    for name, flag in (("force", force), ("retry_failed", retry_failed)):
        if not isinstance(flag, bool):
            raise InputTypeError(f"`{name}` must be True or False; got {describe(flag)}.")
    if workers is not None:
        workers = check_int("workers", workers, low=1)
        if client is not None:
            raise InputError("`workers` sizes the default LocalCluster; it cannot be combined with `client`.")
    if batch is not None:
        batch = check_int("batch", batch, low=1)
    if isinstance(client, str) and client != "serial" and "://" not in client:
        raise InputError(f"`scheduler` must be an address such as 'tcp://host:8786' (or 'serial'); got {client!r}.")
    points, estimates = spec.validate()
    store = _Store(out_dir)
    old = store.read_manifest() if store.manifest.exists() else None
    if old is not None and old.get("spec_hash") != spec.hash and not force:
        raise InputError(
            f"`out_dir` {str(out_dir)!r} holds a different sweep (spec {old.get('spec_hash')}, this one {spec.hash}); "
            "use a new folder, or --force (force=True) to replace its manifest."
        )
    if old is None and out_dir.is_dir():
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in (POINTS, FAILED, LOG, LOCK, MANIFEST))
        if foreign:
            raise InputError(
                f"`out_dir` {str(out_dir)!r} holds no sweep but other files (e.g. {foreign[0]!r}); "
                "give a new or empty folder."
            )
    owned = False
    if client is not None and client != "serial":
        client, owned = _connect(client)  # an unreachable scheduler is bad input: nothing written yet
    try:
        out_dir.mkdir(exist_ok=True)
        with store.lock():
            return _sweep_locked(
                spec,
                store,
                points,
                estimates,
                old,
                client=client,
                workers=workers,
                retry_failed=retry_failed,
                batch=batch,
                progress=progress,
                t0=t0,
            )
    finally:
        if owned:
            client.close()


def _sweep_locked(spec, store, points, estimates, old, *, client, workers, retry_failed, batch, progress, t0):
    store.points.mkdir(exist_ok=True)
    store.failed_dir.mkdir(exist_ok=True)
    for part in store.partials():  # left by a writer killed mid-write; we hold the lock
        part.unlink(missing_ok=True)
    if old is None or old.get("spec_hash") != spec.hash:
        store.write_manifest(spec, points)
    unique = {}
    for pt in points:
        unique.setdefault(pt.hash, pt)
    done = store.done() & set(unique)
    failed_before = {h: rec for h, rec in store.failed().items() if h in unique and h not in done}
    if retry_failed:
        for h in failed_before:
            store.failed_path(h).unlink(missing_ok=True)
        failed_before = {}
    todo = [pt for h, pt in unique.items() if h not in done and h not in failed_before]
    run_id = uuid.uuid4().hex[:12]
    prog = _Progress(progress, len(todo))
    statuses, dashboard = [], None
    if todo:
        _log(store.root, run_id, "run", points=len(unique), todo=len(todo), spec=spec.hash)
    try:
        if todo and client == "serial":
            prog.say(_start_line(spec, store, unique, done, failed_before, todo, None, "this process (no Dask)", None))
            for pt in todo:
                st = run_point(str(store.root), run_id, pt.hash, pt.params, pt.payload)
                statuses.append(st)
                prog.update([st])
        elif todo:
            statuses, dashboard = _run_dask(
                spec, store, todo, estimates, client, workers, batch, prog, run_id, unique, done, failed_before
            )
    finally:
        prog.close()
    failed_now = {s["hash"]: s["error"] for s in statuses if s["status"] == "failed"}
    failed = {}
    for h, pt in unique.items():
        if h in failed_now:
            failed[pt.label] = failed_now[h]
        elif h in failed_before:
            failed[pt.label] = failed_before[h].get("error", "unknown error")
    result = SweepResult(
        out_dir=store.root,
        total=len(points),
        unique=len(unique),
        computed=len(statuses),
        reused=len(done),
        failed=failed,
        seconds=time.perf_counter() - t0,
        dashboard=dashboard,
    )
    if progress is True:
        print(
            f"oile-q sweep: {result.count_text()}: {result.computed} computed, {result.reused} already done, "
            f"{len(failed)} failed, {result.seconds:.1f} s; store {str(store.root)!r}",
            file=sys.stderr,
        )
    return result


def _start_line(spec, store, unique, done, failed_before, todo, ntasks, where, dashboard):
    shape = " x ".join(f"{d} {n}" for d, n in zip(spec.dims, spec.shape)) or "one point"
    tasks = f" in {ntasks} tasks" if ntasks is not None else ""
    dash = f"; dashboard {dashboard}" if dashboard else ""
    skipped = f", {len(failed_before)} failed before (--retry-failed reruns them)" if failed_before else ""
    total = math.prod(spec.shape)
    count = f"{total} points" + (f" ({len(unique)} distinct)" if len(unique) != total else "")
    return (
        f"oile-q sweep: {count} ({shape}) in {str(store.root)!r}: {len(done)} done{skipped}, "
        f"{len(todo)} to compute{tasks} on {where}{dash}"
    )


def _run_dask(spec, store, todo, estimates, client, workers, batch, prog, run_id, unique, done, failed_before):
    from distributed import as_completed

    client, owned, nworkers, dashboard = _open_client(client, workers)
    try:
        batches = _batches(todo, estimates, nworkers, batch)
        where = f"{nworkers} Dask worker{'s' if nworkers != 1 else ''}"
        prog.say(_start_line(spec, store, unique, done, failed_before, todo, len(batches), where, dashboard))
        futures = [
            client.submit(
                run_batch,
                str(store.root),
                run_id,
                [(pt.hash, pt.params, pt.payload) for pt in b],
                key=f"oile-q-sweep-{run_id}-{i}",
                pure=False,
                retries=0,
            )
            for i, b in enumerate(batches)
        ]
        statuses = []
        for fut in as_completed(futures):
            try:
                res = fut.result()
            except Exception as err:  # the task itself died (worker lost, ...): its points failed
                res = []
                i = futures.index(fut)
                line = _one_line(err)
                for pt in batches[i]:
                    if store.point_path(pt.hash).is_file():  # finished before the task died
                        res.append({"hash": pt.hash, "status": "done", "seconds": float("nan")})
                    else:
                        res.append({"hash": pt.hash, "status": "failed", "error": line})
                        _record_failure(store, run_id, pt, line)
            statuses += res
            prog.update(res)
            fut.release()
        return statuses, dashboard
    finally:
        for obj in owned:
            obj.close()


def _record_failure(store, run_id, pt, line):
    from .io import atomic_write

    record = {
        "hash": pt.hash,
        "params": pt.params,
        "error": line,
        "run": run_id,
        "host": socket.gethostname(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write(store.failed_path(pt.hash), lambda fh: json.dump(record, fh))
    _log(store.root, run_id, "failed", hash=pt.hash, error=line)


# --------------------------------------------------------------------------- collection


def _labels_of(payload) -> list:
    """Group labels of a point's particles, run-length encoded: [[label, count], ...]."""
    sc = payload["scenario"]
    if "foreground" in sc:
        return [["foreground", 1]]
    if "group" in sc:
        return [[name, g["count"]] for name, g in zip(_group_names(sc["group"]), sc["group"])]
    labels = sc["particles"].get("group") or ["all"] * len(sc["particles"]["P0"])
    out = []
    for g in labels:
        if out and out[-1][0] == g:
            out[-1][1] += 1
        else:
            out.append([g, 1])
    return out


def _observables(P, labels, theta, basis):
    """The group observables of Bloch vectors ``P`` (..., particle, component), lazily.

    ``labels``: the group label of each particle, a 1-D array (every point has the same
    particles) or a DataArray over some sweep dimensions and ``particle`` ("" pads a point with
    fewer particles); ``theta``: the mixing angle (a number, or a DataArray over sweep
    dimensions) for the mass basis, where P_mass = R_y(2 theta) P.
    Returns ``group_mean`` <P>_g (..., group_name, component), ``group_abs_mean`` |<P>_g| and
    ``group_mean_abs`` <|P|>_g (..., group_name)."""
    import xarray as xr

    from .results import COMPONENTS

    dims = P.dims
    P = P.reset_coords(drop=True)
    if basis == "mass":
        c, s = np.cos(2 * theta), np.sin(2 * theta)
        x, y, z = (P.sel(component=k, drop=True) for k in COMPONENTS)
        P = (
            xr.concat(
                [c * x + s * z, y, c * z - s * x], dim="component", coords="minimal", compat="override", join="exact"
            )
            .assign_coords(component=COMPONENTS)
            .transpose(*dims)
        )
    means, mean_abs = [], []
    if isinstance(labels, xr.DataArray):
        # Particles differ between points (N or count axes): one mask per group over the sweep
        # dimensions it depends on. Sums with skipna=False keep a time a point did not record NaN.
        names = [g for g in dict.fromkeys(np.asarray(labels).ravel().tolist()) if g != ""]
        length = np.sqrt((P**2).sum("component", skipna=False))
        for g in names:
            mask = labels == g
            n = mask.sum("particle")
            n = n.where(n > 0)
            means.append(P.where(mask, 0.0).sum("particle", skipna=False) / n)
            mean_abs.append(length.where(mask, 0.0).sum("particle", skipna=False) / n)
    else:
        labels = np.asarray(labels).astype(str)
        names = list(dict.fromkeys(labels.tolist()))
        for g in names:
            Pg = P.isel(particle=np.flatnonzero(labels == g))
            means.append(Pg.mean("particle"))
            mean_abs.append(np.sqrt((Pg**2).sum("component")).mean("particle"))
    idx = {"group_name": names}
    gm = xr.concat(means, dim="group_name", coords="minimal", compat="override").assign_coords(idx)
    ga = xr.concat(mean_abs, dim="group_name", coords="minimal", compat="override").assign_coords(idx)
    rest = [d for d in dims if d not in ("particle", "component")]
    out = xr.Dataset(
        {
            "group_mean": gm.transpose(*rest, "group_name", "component"),
            "group_abs_mean": np.sqrt((gm**2).sum("component")).transpose(*rest, "group_name"),
            "group_mean_abs": ga.transpose(*rest, "group_name"),
        }
    )
    out["group_mean"].attrs["long_name"] = f"group mean Bloch vector <P>_g ({basis} basis)"
    out["group_abs_mean"].attrs["long_name"] = "length of the group mean |<P>_g|"
    out["group_mean_abs"].attrs["long_name"] = "group mean length <|P|>_g"
    return out


# The per-particle coordinates of a result, and the sweep parameters that can change them; the
# others (gamma, mu, theta, seed, schedule, p, engine, options, group flavor/P/basis) leave them.
_PARTICLE_COORDS = ("group", "omega", "velocity")


def _moves_particles(param: str) -> bool:
    """True if sweeping ``param`` can change the particles' labels, omegas or velocities."""
    return (
        param in ("N", "scenario.seed")
        or param.startswith("foreground.")
        or (param.startswith("group.") and param.rsplit(".", 1)[-1] in ("count", "omega", "velocity"))
    )


def _drop_particle_coords(ds):
    """One point file's Dataset without its per-particle coordinates, which ``collect`` sets
    once (combining them file by file would load and compare every one of them), and with the
    point's run statistics (attribute ``engine_stats``, JSON) as a variable."""
    ds = ds.drop_vars([c for c in _PARTICLE_COORDS if c in ds.variables])
    return ds.assign(engine_stats=((), np.array(str(ds.attrs.get("engine_stats", "{}")), dtype=object)))


def _lazy_dtype(dtype, padded):
    """The dtype of a variable in the collected Dataset: strings as objects, and NaN-capable
    where the variable is padded onto a larger index (outer join)."""
    if dtype.kind in "fc":
        return dtype
    if dtype.kind in "iu" and padded:
        return np.dtype(float)
    if dtype.kind in "iub" and not padded:
        return dtype
    return np.dtype(object)


def _read_point(path, union, names, dtypes):
    """Dask task: one point file, loaded, reindexed onto ``union`` (NaN where it has no such
    time or particle); returns the variables ``names`` as numpy arrays of ``dtypes``."""
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = _drop_particle_coords(ds).load()
    ds = ds.reindex({d: v for d, v in union.items() if d in ds.dims})
    return tuple(np.asarray(ds[n].values).astype(t, copy=False) for n, t in zip(names, dtypes))


def _lazy_points(store, hashes):
    """{hash: lazy Dataset} for finished points, all on one index per dimension (the sorted
    union over the points, e.g. of their recorded times and particles).

    A point already on the union is the file opened lazily (one chunk per variable, the file
    kept open as by ``open_mfdataset``); any other point is one dask task that reads its file
    and reindexes it in memory, again one chunk per variable. So the graph has a few tasks per
    point however the indexes differ (reindexing the file's dask arrays instead would split them
    into a chunk per run of present indices, and concatenation into the finest common chunking)."""
    import dask
    import dask.array as da
    import xarray as xr

    heads = {}
    for h in hashes:  # lazily: metadata and index values are read, the data stay on disk
        heads[h] = _drop_particle_coords(xr.open_dataset(store.point_path(h), engine="h5netcdf", chunks={}))
    values = {}
    for head in heads.values():
        for d, idx in head.indexes.items():
            values.setdefault(d, []).append(np.asarray(idx.values))
    union = {}
    for d, vals in values.items():
        same = all(len(v) == len(vals[0]) and np.array_equal(v, vals[0]) for v in vals[1:])
        union[d] = vals[0] if same else np.unique(np.concatenate(vals))
    out = {}
    for h, head in heads.items():
        mine = {d: union[d] for d in head.dims if d in union and not np.array_equal(head.indexes[d].values, union[d])}
        if not mine:
            out[h] = head
            continue
        head.close()
        names = [n for n in head.data_vars if n != "engine_stats"]  # that one is in memory already
        dtypes = [_lazy_dtype(head[n].dtype, any(d in mine for d in head[n].dims)) for n in names]
        task = dask.delayed(_read_point, pure=True, nout=len(names))(
            str(store.point_path(h)), mine, names, dtypes, dask_key_name=f"oile-q-point-{h}"
        )
        data = {}
        for i, (n, t) in enumerate(zip(names, dtypes)):
            var = head[n]
            shape = tuple(len(union[d]) if d in union else head.sizes[d] for d in var.dims)
            data[n] = xr.Variable(var.dims, da.from_delayed(task[i], shape=shape, dtype=t), var.attrs)
        data["engine_stats"] = head["engine_stats"].variable
        coords = {d: union.get(d, head.indexes[d].values) for d in head.dims if d in head.indexes}
        out[h] = xr.Dataset(data, coords=coords, attrs=head.attrs)
    return out


def _blank_like(ds):
    """A lazy all-NaN ("" for text) Dataset shaped as ``ds``: the cell of a missing point."""
    import dask.array as da
    import xarray as xr

    data = {"engine_stats": xr.Variable((), np.array("", dtype=object))}
    for n, v in ds.data_vars.items():
        if n != "engine_stats":
            fill, dtype = (np.nan, float) if v.dtype.kind in "iufcb" else ("", object)
            data[n] = xr.Variable(v.dims, da.full(v.shape, fill, dtype=dtype), v.attrs)
    return xr.Dataset(data, coords=ds.coords)


def _labels_array(groups, n):
    """Run-length encoded group labels as an array of ``n`` strings ("" pads)."""
    out = np.full(n, "", dtype=object)
    out[: sum(c for _, c in groups)] = np.repeat([g for g, _ in groups], [c for _, c in groups])
    return out.astype(str)


def _particle_coords(store, manifest, done, particles):
    """The per-particle coordinates and the group labels of a collected sweep.

    Reads ``group``, ``omega`` and ``velocity`` from one finished point per cell of the
    dimensions whose axes can change the particles (``_moves_particles``); a coordinate equal in
    every cell is 1-D over ``particle``, otherwise it spans those dimensions too (padded with
    "" / NaN where a point has fewer particles or none is finished). Returns (coords, labels):
    ``labels`` is a 1-D array when every point has the same groups, otherwise a DataArray over
    the moving dimensions and ``particle`` (from the manifest, finished or not)."""
    import xarray as xr

    dims, shape, entries = list(manifest["dims"]), tuple(manifest["shape"]), manifest["points"]
    moving = [d for d in dims if any(_moves_particles(p) for p in manifest["coords"][d])]
    kpos = [dims.index(d) for d in moving]
    kshape = tuple(shape[k] for k in kpos)
    npart = len(particles)
    first = {}  # cell of the moving dims -> its first entry / first finished entry
    rep = {}
    for e in entries:
        cell = tuple(e["index"][k] for k in kpos)
        first.setdefault(cell, e)
        if e["hash"] in done:
            rep.setdefault(cell, e)
    # group labels from the manifest
    lab = np.empty(kshape + (npart,), dtype=object)
    for cell in np.ndindex(*kshape):
        lab[cell] = _labels_array(first[cell]["groups"], npart)
    lab = lab.astype(str)
    same = all(e["groups"] == entries[0]["groups"] for e in entries)
    labels = lab.reshape(-1, npart)[0] if same else xr.DataArray(lab, dims=tuple(moving) + ("particle",))
    # omega, velocity (and group) from one file per distinct representative
    loaded = {}
    for e in rep.values():
        if e["hash"] not in loaded:
            with xr.open_dataset(store.point_path(e["hash"]), engine="h5netcdf") as one:
                one = one.reset_coords()
                loaded[e["hash"]] = {
                    n: (one[n].dims, np.asarray(one[n].values), np.asarray(one["particle"].values))
                    for n in _PARTICLE_COORDS
                    if n in one.variables
                }
    coords = {}
    for name in _PARTICLE_COORDS:
        sample = next((v[name] for v in loaded.values() if name in v), None)
        if sample is None:
            continue
        vdims, values, _ = sample
        if vdims[0] != "particle":
            continue
        text = values.dtype.kind in "USO"
        arr = np.full(kshape + (npart,) + values.shape[1:], "" if text else np.nan, dtype=object if text else float)
        for cell in np.ndindex(*kshape):
            e = rep.get(cell)
            if e is None or name not in loaded[e["hash"]]:
                continue
            _, v, parts = loaded[e["hash"]][name]
            arr[cell][np.searchsorted(particles, parts)] = v
        if text:
            arr = arr.astype(str)
        flat = arr.reshape((-1,) + arr.shape[len(kshape) :])
        if all(np.array_equal(flat[0], f, equal_nan=not text) for f in flat[1:]):
            coords[name] = (vdims, flat[0])
        else:
            coords[name] = (tuple(moving) + vdims, arr)
    return coords, labels


def collect(out_dir, *, basis="flavor", over="seed", allow_missing=False):
    """One lazy Dataset of a sweep: the sweep axes as dimensions, group observables and their
    statistics over an ensemble dimension.

    Parameters
    ----------
    out_dir : path
        A sweep folder (its manifest says what the points are).
    basis : {"flavor", "mass"}
        Basis of the group observables (``P`` itself stays in the flavor basis).
    over : str
        The ensemble dimension for the statistics (default "seed", the schedule seeds).
    allow_missing : bool
        Fill points not (yet) finished with NaN instead of refusing.

    Returns
    -------
    xarray.Dataset
        Backed by dask arrays over the point files (one task per file; nothing is loaded until
        asked): ``P`` (*dims, time, particle, component) and the other variables of each run
        (time and particle joined outer: NaN where a point has no such time or particle; a
        variable some engines do not record is NaN at their points), ``group_mean`` (*dims,
        time, group_name, component), ``group_abs_mean`` and ``group_mean_abs`` (*dims, time,
        group_name), ``done`` (*dims) and, when ``over`` is a dimension, for each group
        observable X: ``X_mean``, ``X_std`` (ddof = 1) and ``X_sem`` = std / sqrt(n) over
        ``over`` (n counts the finite values: finished points that recorded that time). Axis
        values are coordinates (vector values as JSON strings); the per-particle coordinates
        ``group``, ``omega``, ``velocity`` are 1-D when every point has the same particles, and
        otherwise also span the dimensions that change them (N, counts, velocity seed, ...);
        ``engine_stats`` (*dims): each point's run statistics as JSON (wall time ``wall_s``,
        steps, engine counters; "" for a missing point); attrs ``sweep_spec``, ``sweep_dims``.

    Notes
    -----
    Each distinct point file is opened once for its metadata (about 0.05-0.1 s per file here,
    h5netcdf) and read again, whole, by one dask task when data are asked for; points with
    different times or particles are put on the union of them inside that task, so the graph
    stays a few tasks per point. The per-particle coordinates are read from one file per
    distinct particle set, and the group observables are a few dask operations on the
    combined ``P``.
    """
    import xarray as xr

    if basis not in ("flavor", "mass"):
        raise InputError(f"`basis` must be 'flavor' or 'mass'; got {describe(basis)}.")
    if not isinstance(over, str):
        raise InputTypeError(f"`over` must be a dimension name; got {describe(over)}.")
    store = _Store(out_dir)
    if not store.root.is_dir():
        raise InputError(f"`out_dir` is not a folder: {str(store.root)!r}.")
    manifest = store.read_manifest()
    if manifest is None:
        raise InputError(f"`out_dir` {str(store.root)!r} holds no sweep (no {MANIFEST}).")
    dims, shape = list(manifest["dims"]), tuple(manifest["shape"])
    entries = manifest["points"]
    done = store.done()
    ok = np.array([e["hash"] in done for e in entries], dtype=bool)
    if not ok.any():
        raise InputError(f"`out_dir` {str(store.root)!r} has no finished point yet.")
    if not ok.all() and not allow_missing:
        missing = [e for e, k in zip(entries, ok) if not k]
        raise InputError(
            f"the sweep in {str(store.root)!r} is incomplete: {len(missing)} of {len(entries)} points "
            f"missing (first: {_label(missing[0]['params'])}); run the sweep again to finish it, or "
            "collect(..., allow_missing=True)."
        )
    # One lazy Dataset per distinct finished point, every one on the same indexes; the
    # per-particle coordinates are set once below, so nothing is compared (loaded) cell by cell.
    hashes = list(dict.fromkeys(e["hash"] for e, k in zip(entries, ok) if k))
    lazy = _lazy_points(store, hashes)
    if not dims:
        ds = lazy[entries[0]["hash"]]
    else:
        blank = _blank_like(lazy[hashes[0]])
        cells = np.empty(len(entries), dtype=object)
        for i, (e, k) in enumerate(zip(entries, ok)):
            cells[i] = lazy[e["hash"]] if k else blank
        ds = xr.combine_nested(
            cells.reshape(shape).tolist(),
            concat_dim=dims,
            data_vars="all",
            coords="minimal",
            compat="override",
            join="outer",
            combine_attrs="drop_conflicts",
        )
    ds = ds.transpose(*dims, ...)
    coords, labels = _particle_coords(store, manifest, done, ds["particle"].values)
    ds = ds.assign_coords(coords)
    theta = xr.DataArray(np.reshape([e["theta"] for e in entries], shape), dims=dims) if dims else entries[0]["theta"]
    ds = ds.assign(_observables(ds["P"], labels, theta, basis).data_vars)
    coords = {}
    for dim, cols in manifest["coords"].items():
        for name, values in cols.items():
            vals = [json.dumps(v) if isinstance(v, (list, dict)) else v for v in values]
            coords[name] = (dim, vals)
    ds = ds.assign_coords(coords)
    ds["done"] = (tuple(dims), ok.reshape(shape))
    ds["done"].attrs["long_name"] = "point finished (False: NaN placeholder)"
    if over in ds.dims and over in dims:
        for name in ("group_mean", "group_abs_mean", "group_mean_abs"):
            x = ds[name]
            # n counts finite values (missing points, times a point did not record are NaN);
            # dividing by NaN where n is too small gives NaN without 0/0 warnings.
            n = x.count(over)
            mean = x.sum(over) / n.where(n > 0)
            std = np.sqrt(((x - mean) ** 2).sum(over) / (n - 1).where(n > 1))
            ds[f"{name}_mean"] = mean
            ds[f"{name}_std"] = std
            ds[f"{name}_sem"] = std / np.sqrt(n.where(n > 1))
            for stat, what in (
                ("mean", "mean"),
                ("std", "standard deviation (ddof=1)"),
                ("sem", "standard error of the mean"),
            ):
                ds[f"{name}_{stat}"].attrs["long_name"] = f"{what} of {name} over {over}"
    ds.attrs.update(
        {
            "sweep_spec": json.dumps(manifest["spec"], sort_keys=True),
            "sweep_spec_hash": manifest["spec_hash"],
            "sweep_dims": json.dumps(dims),
            "group_basis": basis,
            "ensemble_dim": over if over in dims else "",
        }
    )
    return ds


def load_point(out_dir, **params):
    """One finished point of a sweep, as the engine's own Dataset (attrs included, loaded into
    memory): the only point whose parameters include every ``params`` item, e.g.
    ``load_point(DIR, N=4096, engine="exact")`` or ``load_point(DIR, gamma=0.01, seed=3)``.
    A point that is not finished, or parameters that match no point or several, are one
    ``InputError`` line."""
    from .results import load

    store = _Store(out_dir)
    manifest = store.read_manifest()
    if manifest is None:
        raise InputError(f"`out_dir` {str(store.root)!r} holds no sweep (no {MANIFEST}).")
    found = [p for p in manifest["points"] if all(k in p["params"] and p["params"][k] == v for k, v in params.items())]
    hashes = sorted({p["hash"] for p in found})
    want = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
    if not hashes:
        raise InputError(f"no point of the sweep in {str(store.root)!r} has {want}.")
    if len(hashes) > 1:
        raise InputError(
            f"{len(found)} points of the sweep in {str(store.root)!r} have {want}; "
            f"give more parameters (the axes are {', '.join(manifest['dims'])})."
        )
    path = store.point_path(hashes[0])
    if not path.exists():
        raise InputError(f"the point with {want} in {str(store.root)!r} is not finished; run the sweep again.")
    return load(path)


sweep.collect = collect
sweep.load_point = load_point


# --------------------------------------------------------------------------- command line


def _parser(collect_mode):
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise InputError(message)

    if collect_mode:
        p = Parser(
            prog="oile-q sweep collect",
            description="Combine a sweep's point files into one Dataset (sweep axes as dimensions, "
            "group observables and their statistics over seeds).",
        )
        p.add_argument("dir", help="the sweep folder")
        p.add_argument("-o", "--output", help="write the collected Dataset to this netCDF file")
        p.add_argument("--basis", choices=["flavor", "mass"], default="flavor", help="basis of the group observables")
        p.add_argument("--over", default="seed", help="ensemble dimension of the statistics (default seed)")
        p.add_argument("--allow-missing", action="store_true", help="NaN for points not finished")
        return p
    p = Parser(
        prog="oile-q sweep",
        description="Run every point of a sweep spec (TOML) on Dask; resumable: finished points are "
        "skipped. `oile-q sweep collect DIR` combines the results.",
        epilog="The spec layout and the axis names are documented in `python -m pydoc oile_q.sweeps`.",
    )
    p.add_argument("spec", help="sweep spec (TOML)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the store folder")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="attach to a running Dask scheduler (tcp://host:8786)")
    where.add_argument("--workers", type=int, metavar="N", help="worker processes of the LocalCluster (default: cores)")
    where.add_argument("--serial", action="store_true", help="compute in this process without Dask")
    p.add_argument("--force", action="store_true", help="replace the manifest of a different sweep in DIR")
    p.add_argument("--retry-failed", action="store_true", help="recompute points that failed before")
    p.add_argument("--batch", type=int, metavar="K", help="points per Dask task (default: ~0.2 s of work per task)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _cli_run(argv):
    from .io import check_output_dir

    args = _parser(False).parse_args(argv)
    check_output_dir(args.output, "--output")
    client = "serial" if args.serial else args.scheduler
    res = sweep(
        args.spec,
        args.output,
        client=client,
        workers=args.workers,
        force=args.force,
        retry_failed=args.retry_failed,
        batch=args.batch,
        progress=not args.no_progress,
    )
    if res.failed:
        print(
            f"oile-q sweep: {len(res.failed)} of {res.unique} distinct points failed "
            "(rerun with --retry-failed to compute them again):",
            file=sys.stderr,
        )
        for label, err in res.failed.items():
            print(f"  point {label}: {err}", file=sys.stderr)
        return 1
    if args.no_progress:
        print(
            f"oile-q sweep: {res.count_text()} done ({res.computed} computed, {res.reused} already done) "
            f"in {str(res.out_dir)!r}"
        )
    return 0


def _cli_collect(argv):
    from .io import check_output_file
    from .results import save

    args = _parser(True).parse_args(argv)
    if args.output:
        check_output_file(args.output, "--output")
    ds = collect(args.dir, basis=args.basis, over=args.over, allow_missing=args.allow_missing)
    if args.output:
        save(ds, args.output)
        print(f"wrote {args.output} ({', '.join(f'{d} {n}' for d, n in ds.sizes.items())})")
    else:
        dims = json.loads(ds.attrs["sweep_dims"])
        done = int(ds["done"].sum())
        print(
            f"sweep {args.dir!r}: {ds['done'].size} points ({', '.join(f'{d} {ds.sizes[d]}' for d in dims) or 'one'}), "
            f"{done} finished"
        )
        print("dimensions: " + ", ".join(f"{d} {n}" for d, n in ds.sizes.items()))
        print("variables:")
        for name, var in ds.data_vars.items():
            print(f"  {name}({', '.join(var.dims)})")
        print("write it with -o OUT.nc; in Python: oile_q.sweep.collect(DIR)")
    return 0


def cli_main(argv) -> int:
    """``oile-q sweep SPEC.toml -o DIR ...`` and ``oile-q sweep collect DIR [-o OUT.nc]``.

    Bad input: one line ``oile-q sweep: error: ...`` on stderr, exit status 2, nothing written.
    Failed points: listed on stderr, exit status 1. Other exceptions are bugs and propagate."""
    argv = list(argv)
    try:
        if argv[:1] == ["collect"]:
            return _cli_collect(argv[1:])
        return _cli_run(argv)
    except InputError as err:
        print(f"oile-q sweep: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print("oile-q sweep: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
