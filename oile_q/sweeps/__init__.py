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

from .cli import cli_main
from .collect import collect, load_point
from .common import MANIFEST, point_hash
from .execute import TASK_SECONDS, SweepResult, sweep
from .spec import Axis, Point, SweepSpec, load_spec
from .store import Store
from .worker import run_batch, run_point

__all__ = [
    "SweepSpec",
    "Axis",
    "Point",
    "SweepResult",
    "Store",
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

# ``oile_q.sweep(spec, out_dir)`` with ``oile_q.sweep.collect(out_dir)`` and ``oile_q.sweep.load_point``.
sweep.collect = collect
sweep.load_point = load_point
