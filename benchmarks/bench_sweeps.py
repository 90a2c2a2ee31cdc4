"""Benchmark of sweeps on Dask (oile_q.sweeps): per-task overhead and a 64-seed ensemble.

    python benchmarks/bench_sweeps.py                 # everything (a few minutes on 2 cores)
    python benchmarks/bench_sweeps.py --seeds 16      # a smaller ensemble
    python benchmarks/bench_sweeps.py --repeat 5      # more repetitions on a busy machine

Measures, on this machine:

1. the Dask distributed scheduler's cost per task: K trivial tasks (``operator.neg``) submitted
   to a LocalCluster of 2 worker processes and gathered, wall time / K;
2. the sweep machinery's cost per point: a sweep of tiny points (N = 2, one step) with one
   point per task, against the same points computed in this process (run + netCDF write);
3. paper I Fig. 2 set-up (examples/sweeps/paper1_fig2_seeds.toml: N = 100, gamma = 0.01,
   mu t = 100, 501 recorded times, 64 schedule seeds): the sweep on a LocalCluster with 1 and
   with 2 worker processes (clusters started and warmed up first; their start-up is reported
   separately), and the same 64 points serially without Dask (``oile_q.run`` alone, and
   ``oile_q.run`` + ``oile_q.results.save`` = the work a sweep does per point). The variants run
   in turn ``--repeat`` times (min and median reported: the machine is shared). The Dask
   results are checked bit for bit against the serial runs.

The machine is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import copy
import logging
import operator
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import oile_q
from oile_q.results import load, save
from oile_q.sweeps import load_spec, sweep

HERE = Path(__file__).resolve().parent
SPEC = HERE.parent / "examples" / "sweeps" / "paper1_fig2_seeds.toml"


def load_avg():
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def start_cluster(n):
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    client = Client(cluster)
    t_start = time.perf_counter() - t0
    # warm up every worker (imports, numba kernels) with a tiny sweep through the machinery
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-warm-"))
    tiny = {
        "engine": "oile",
        "scenario": {"gamma": 0.1, "group": [{"name": "a", "count": 4, "flavor": "e", "omega": 0.1}]},
        "run": {"steps": 2},
        "grid": {"seed": list(range(4 * n))},
    }
    sweep(tiny, tmp, client=client, batch=1, progress=False)
    shutil.rmtree(tmp)
    return cluster, client, t_start, time.perf_counter() - t0


def task_overhead(client, k):
    t0 = time.perf_counter()
    futs = client.map(operator.neg, range(k), pure=False)
    out = client.gather(futs)
    wall = time.perf_counter() - t0
    assert out == [-i for i in range(k)]
    return wall / k


def point_overhead(client, npoints, work):
    spec = {
        "engine": "oile",
        "scenario": {"gamma": 0.1, "group": [{"name": "a", "count": 2, "flavor": "e", "omega": 0.1}]},
        "run": {"steps": 1},
        "grid": {"seed": list(range(npoints))},
    }
    pts = load_spec(spec).points()
    sc = oile_q.Scenario.from_dict(copy.deepcopy(pts[0].payload["scenario"]))
    save(oile_q.run(sc, "oile", **pts[0].payload["run"]), work / "warm.nc")  # imports, numba, h5py
    t0 = time.perf_counter()
    for pt in pts:
        sc = oile_q.Scenario.from_dict(copy.deepcopy(pt.payload["scenario"]))
        ds = oile_q.run(sc, "oile", **pt.payload["run"])
        save(ds, work / f"serial-{pt.hash}.nc")
    serial = (time.perf_counter() - t0) / npoints
    t0 = time.perf_counter()
    res = sweep(spec, work / "tiny", client=client, batch=1, progress=False)
    swept = (time.perf_counter() - t0) / npoints
    assert res.ok and res.computed == npoints
    return serial, swept


def ensemble(seeds, clusters, work, repeat):
    """Wall times of the ensemble, each variant run ``repeat`` times in turn (min, median)."""
    spec = load_spec(SPEC).to_dict()
    spec["grid"] = {"seed": list(range(seeds))}
    pts = load_spec(spec).points()
    serial = {}
    for pt in pts:  # the reference results (also warms this process up)
        sc = oile_q.Scenario.from_dict(copy.deepcopy(pt.payload["scenario"]))
        serial[pt.hash] = oile_q.run(sc, "oile", **pt.payload["run"])

    def run_only(r):
        for pt in pts:
            sc = oile_q.Scenario.from_dict(copy.deepcopy(pt.payload["scenario"]))
            oile_q.run(sc, "oile", **pt.payload["run"])

    def run_write(r):
        for pt in pts:
            sc = oile_q.Scenario.from_dict(copy.deepcopy(pt.payload["scenario"]))
            save(oile_q.run(sc, "oile", **pt.payload["run"]), work / f"serial-{r}-{pt.hash}.nc")

    def swept(client, name):
        def f(r):
            res = sweep(spec, work / f"{name}-{r}", client=client, progress=False)
            assert res.ok and res.computed == seeds
            for pt in pts:  # bit for bit against the serial runs
                got = load(work / f"{name}-{r}" / "points" / f"{pt.hash}.nc")
                assert np.array_equal(got.P.values, serial[pt.hash].P.values), pt.label

        return f

    variants = {
        "serial run only": run_only,
        "serial run + write": run_write,
        "sweep client='serial' (no Dask)": swept("serial", "serial"),
    }
    for n, client in clusters.items():
        variants[f"sweep, LocalCluster {n} worker{'s' if n > 1 else ''}"] = swept(client, f"dask{n}")
    times = {name: [] for name in variants}
    for r in range(repeat):
        for name, f in variants.items():
            t0 = time.perf_counter()
            f(r)
            times[name].append(time.perf_counter() - t0)
    return times, pts


def main():
    logging.getLogger("distributed").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=64)
    ap.add_argument("--tasks", type=int, default=2000, help="trivial tasks for the per-task overhead")
    ap.add_argument("--tiny", type=int, default=64, help="tiny points for the per-point overhead")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each ensemble variant (min and median)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sweeps-"))
    print(f"oile-q {oile_q.__version__}, {os.cpu_count()} cores, {load_avg()}")
    try:
        clusters, starts = {}, {}
        for n in (1, 2):
            cluster, client, t_start, t_warm = start_cluster(n)
            clusters[n] = (cluster, client)
            starts[n] = (t_start, t_warm)
            print(f"LocalCluster {n} worker(s): start {t_start:.2f} s, warm-up (imports, numba) {t_warm:.2f} s")
        client2 = clusters[2][1]
        per_task = task_overhead(client2, args.tasks)
        print(f"Dask task round trip (2 workers, {args.tasks} trivial tasks): {per_task * 1e3:.2f} ms per task")
        serial_pt, swept_pt = point_overhead(client2, args.tiny, work)
        print(
            f"tiny point (N = 2, 1 step) in this process, run + write: {serial_pt * 1e3:.1f} ms; "
            f"through sweep on 2 workers, one point per task: {swept_pt * 1e3:.1f} ms per point (wall)"
        )
        times, pts = ensemble(args.seeds, {n: c[1] for n, c in clusters.items()}, work, args.repeat)
        print(
            f"\nensemble: {SPEC.name}, {args.seeds} seeds (N = 100, gamma = 0.01, mu t = 100, "
            f"{len(load(work / 'dask2-0' / 'points' / f'{pts[0].hash}.nc').time)} recorded times); "
            f"each variant {args.repeat}x in turn"
        )
        print("| run | wall (s), min | median | per point (ms), min |")
        print("|---|---|---|---|")
        best = {}
        for name, ts in times.items():
            best[name] = min(ts)
            print(f"| {name} | {min(ts):.2f} | {np.median(ts):.2f} | {min(ts) / args.seeds * 1e3:.0f} |")
        t1 = best["sweep, LocalCluster 1 worker"]
        t2 = best["sweep, LocalCluster 2 workers"]
        print(
            f"\nspeed-up 2 workers / 1 worker (min times): {t1 / t2:.2f}; 2 workers vs serial run + write: "
            f"{best['serial run + write'] / t2:.2f}"
        )
        print(f"Dask results equal the serial runs bit for bit ({args.seeds} points, 1 and 2 workers)")
        print(load_avg())
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
