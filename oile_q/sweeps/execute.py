"""Running a sweep: validate everything, take the store's lock, skip what is finished, and compute
the rest in this process or as Dask tasks (points packed into tasks of ~TASK_SECONDS)."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError, InputTypeError, check_int, describe
from ..io import check_output_dir
from ..progress import Progress
from .collect import collect
from .common import FAILED, LOCK, LOG, MANIFEST, POINTS, one_line
from .spec import Point, SweepSpec, load_spec
from .store import Store
from .worker import run_batch, run_point

__all__ = ["sweep", "SweepResult", "SweepRun", "pack_tasks", "TASK_SECONDS", "WRITE_SECONDS", "TASKS_PER_WORKER"]

# Points are packed into Dask tasks of about this many (estimated) seconds: the distributed
# scheduler costs about a millisecond per task (dask #9437; benchmarks/bench_sweeps.py measures it).
TASK_SECONDS = 0.2
WRITE_SECONDS = 0.05  # writing one point file (netCDF via h5netcdf), added to the engine's estimate
TASKS_PER_WORKER = 4  # ... but at least this many tasks per worker, for load balance


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
        """True when no point failed."""
        return not self.failed

    def count_text(self) -> str:
        """``"64 points"`` (with the distinct count when cells share points)."""
        extra = f" ({self.unique} distinct)" if self.unique != self.total else ""
        return f"{self.total} points{extra}"

    def collect(self, **kwargs):
        """The collected Dataset of this sweep (``oile_q.sweep.collect(out_dir, **kwargs)``)."""
        return collect(self.out_dir, **kwargs)


def pack_tasks(todo: list, estimates: dict, nworkers: int, batch: int | None) -> list:
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


@dataclasses.dataclass
class SweepRun:
    """One call of ``sweep`` once the store is locked: the points, what the store already holds,
    what is left to compute, and the progress report.

    Build it with :meth:`open`; then :meth:`run_serial` or :meth:`run_dask`, and :meth:`result`.
    """

    spec: SweepSpec
    store: Store
    points: list
    estimates: dict
    unique: dict  # hash -> the first Point with that hash
    done: set  # hashes finished before this call
    failed_before: dict  # hash -> failure record, not retried
    todo: list  # Points to compute now
    run_id: str
    progress: Progress
    t0: float

    @classmethod
    def open(cls, spec, store, points, estimates, *, old, retry_failed, progress, t0) -> SweepRun:
        """Prepare the locked store (folders, stale partial files, manifest) and list the work."""
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
        prog = Progress(progress, "oile-q sweep", callback="counts", delay=0.0, leave=True)
        run_id = uuid.uuid4().hex[:12]
        return cls(spec, store, points, estimates, unique, done, failed_before, todo, run_id, prog, t0)

    def start_line(self, ntasks: int | None, where: str, dashboard: str | None) -> str:
        """The line that says what is about to be computed, where."""
        spec = self.spec
        shape = " x ".join(f"{d} {n}" for d, n in zip(spec.dims, spec.shape)) or "one point"
        tasks = f" in {ntasks} tasks" if ntasks is not None else ""
        dash = f"; dashboard {dashboard}" if dashboard else ""
        skipped = (
            f", {len(self.failed_before)} failed before (--retry-failed reruns them)" if self.failed_before else ""
        )
        total = math.prod(spec.shape)
        count = f"{total} points" + (f" ({len(self.unique)} distinct)" if len(self.unique) != total else "")
        return (
            f"oile-q sweep: {count} ({shape}) in {str(self.store.root)!r}: {len(self.done)} done{skipped}, "
            f"{len(self.todo)} to compute{tasks} on {where}{dash}"
        )

    def _begin(self, line: str) -> None:
        self.store.log(self.run_id, "run", points=len(self.unique), todo=len(self.todo), spec=self.spec.hash)
        self.progress.write(line)
        self.progress.start(len(self.todo), "point")

    def _report(self, statuses: list, new: list) -> None:
        statuses += new  # the progress keeps the running failure count: O(1) per finished task
        failed = self.progress.failed + sum(s["status"] == "failed" for s in new)
        self.progress.update(len(statuses), failed)

    def run_serial(self) -> list:
        """Compute every point in this process; returns their status dicts."""
        self._begin(self.start_line(None, "this process (no Dask)", None))
        statuses = []
        for pt in self.todo:
            self._report(statuses, [run_point(str(self.store.root), self.run_id, pt.hash, pt.params, pt.payload)])
        return statuses

    def run_dask(self, client, workers: int | None, batch: int | None) -> tuple[list, str | None]:
        """Compute every point as Dask tasks; returns (status dicts, dashboard link)."""
        from distributed import as_completed

        client, owned, nworkers, dashboard = _open_client(client, workers)
        try:
            tasks = pack_tasks(self.todo, self.estimates, nworkers, batch)
            self._begin(self.start_line(len(tasks), f"{nworkers} Dask worker{'s' if nworkers != 1 else ''}", dashboard))
            futures = {}
            for i, points in enumerate(tasks):
                items = [(pt.hash, pt.params, pt.payload) for pt in points]
                key = f"oile-q-sweep-{self.run_id}-{i}"
                fut = client.submit(run_batch, str(self.store.root), self.run_id, items, key=key, pure=False, retries=0)
                futures[fut] = points
            statuses = []
            for fut in as_completed(list(futures)):
                try:
                    new = fut.result()
                except Exception as err:  # the task itself died (worker lost, ...): its points failed
                    new = self._task_died(futures[fut], one_line(err))
                self._report(statuses, new)
                fut.release()
            return statuses, dashboard
        finally:
            for obj in owned:
                obj.close()

    def _task_died(self, points: list[Point], line: str) -> list:
        out = []
        for pt in points:
            if self.store.point_path(pt.hash).is_file():  # finished before the task died
                out.append({"hash": pt.hash, "status": "done", "seconds": float("nan")})
            else:
                out.append({"hash": pt.hash, "status": "failed", "error": line})
                self.store.record_failure(self.run_id, pt.hash, pt.params, line)
        return out

    def result(self, statuses: list, dashboard: str | None) -> SweepResult:
        """What was done: counts, failures (now and before) and the time taken."""
        failed_now = {s["hash"]: s["error"] for s in statuses if s["status"] == "failed"}
        failed = {}
        for h, pt in self.unique.items():
            if h in failed_now:
                failed[pt.label] = failed_now[h]
            elif h in self.failed_before:
                failed[pt.label] = self.failed_before[h].get("error", "unknown error")
        return SweepResult(
            out_dir=self.store.root,
            total=len(self.points),
            unique=len(self.unique),
            computed=len(statuses),
            reused=len(self.done),
            failed=failed,
            seconds=time.perf_counter() - self.t0,
            dashboard=dashboard,
        )


def _connect(client):
    """A Client for ``client`` (an address or a Client), checked before anything is written.
    Returns (client, owned): ``owned`` is True when we opened it (and close it)."""
    from distributed import Client

    if isinstance(client, str):
        try:
            return Client(client, timeout="10s"), True
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(f"`scheduler` cannot be reached at {client!r}: {one_line(err)}.") from err
    if not isinstance(client, Client):
        raise InputTypeError(
            f"`client` must be a distributed.Client, a scheduler address, 'serial' or None; got {describe(client)}."
        )
    return client, False


def _open_client(client, workers):
    """(client, resources to close, number of workers, dashboard link); client None starts
    the default LocalCluster (one worker process per core, or ``workers``)."""
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


def _check_arguments(client, workers, force, retry_failed, batch):
    """The keywords of ``sweep`` checked (workers and batch as ints)."""
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
    return workers, batch


def _previous_sweep(store: Store, spec: SweepSpec, force: bool):
    """The manifest already in the store (None for a new folder); refuses a different sweep
    (unless ``force``) and a folder holding other files."""
    old = store.read_manifest() if store.manifest.exists() else None
    if old is not None and old.get("spec_hash") != spec.hash and not force:
        raise InputError(
            f"`out_dir` {str(store.root)!r} holds a different sweep (spec {old.get('spec_hash')}, this one "
            f"{spec.hash}); use a new folder, or --force (force=True) to replace its manifest."
        )
    if old is None and store.root.is_dir():
        foreign = sorted(p.name for p in store.root.iterdir() if p.name not in (POINTS, FAILED, LOG, LOCK, MANIFEST))
        if foreign:
            raise InputError(
                f"`out_dir` {str(store.root)!r} holds no sweep but other files (e.g. {foreign[0]!r}); "
                "give a new or empty folder."
            )
    return old


def sweep(
    spec: SweepSpec | Mapping | str | Path,
    out_dir: str | Path,
    *,
    client: Any = None,
    workers: int | None = None,
    force: bool = False,
    retry_failed: bool = False,
    batch: int | None = None,
    progress: bool | Callable = True,
) -> SweepResult:
    """Run every point of a sweep on Dask, writing each to its own file in ``out_dir``.

    Parameters
    ----------
    spec : SweepSpec, dict or path
        The sweep (package docstring); validated completely, every point included, before
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

    Raises
    ------
    InputError
        Bad input, found before anything is written: the spec or one of its points, the
        arguments, an unreachable scheduler, a folder holding another sweep or other files, a
        folder in use by another sweep.

    Notes
    -----
    The default LocalCluster starts its workers as new processes (spawn), so a script that
    calls ``sweep`` without ``client`` needs the ``if __name__ == "__main__":`` guard.

    Examples
    --------
    >>> import tempfile, oile_q
    >>> spec = {"engine": "oile", "run": {"steps": 4},
    ...         "scenario": {"gamma": 0.1, "foreground": {"P": [0, 0, 1], "Q": [1, 0, 0]}},
    ...         "grid": {"gamma": [0.1, 0.2]}}
    >>> res = oile_q.sweep(spec, tempfile.mkdtemp() + "/s", client="serial", progress=False)
    >>> res.ok, res.computed
    (True, 2)
    >>> oile_q.sweep.collect(res.out_dir)["P"].dims
    ('gamma', 'time', 'particle', 'component')
    """
    t0 = time.perf_counter()
    spec = load_spec(spec)
    out_dir = check_output_dir(out_dir, "out_dir")
    workers, batch = _check_arguments(client, workers, force, retry_failed, batch)
    points, estimates = spec.validate()
    store = Store(out_dir)
    old = _previous_sweep(store, spec, force)
    owned = False
    if client is not None and client != "serial":
        client, owned = _connect(client)  # an unreachable scheduler is bad input: nothing written yet
    try:
        out_dir.mkdir(exist_ok=True)
        with store.lock():
            job = SweepRun.open(
                spec, store, points, estimates, old=old, retry_failed=retry_failed, progress=progress, t0=t0
            )
            statuses, dashboard = [], None
            try:
                if job.todo and client == "serial":
                    statuses = job.run_serial()
                elif job.todo:
                    statuses, dashboard = job.run_dask(client, workers, batch)
            finally:
                job.progress.close()
            result = job.result(statuses, dashboard)
    finally:
        if owned:
            client.close()
    if progress is True:
        print(
            f"oile-q sweep: {result.count_text()}: {result.computed} computed, {result.reused} already done, "
            f"{len(result.failed)} failed, {result.seconds:.1f} s; store {str(store.root)!r}",
            file=sys.stderr,
        )
    return result
