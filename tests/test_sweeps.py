"""Sweeps on Dask (oile_q.sweeps): spec and points, stable hashes, the store, crash and resume,
failures, collection and seed statistics. Real LocalCluster, real files, real subprocesses."""

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import oile_q
from oile_q.errors import InputError
from oile_q.results import group_means, load
from oile_q.sweeps import Store, cli_main, collect, load_spec, point_hash, sweep

ROOT = Path(__file__).resolve().parents[1]
GROUPS = [dict(name="nu_e", count=6, flavor="e", omega=0.1), dict(name="nu_x", count=4, flavor="x", omega=0.2)]
BASE = dict(
    engine="oile",
    scenario=dict(gamma=0.1, theta=1e-3, seed=1, group=GROUPS),
    run=dict(times=dict(linspace=[0.0, 2.0, 11])),
)

SPEC_TOML = """\
engine = "oile"
[scenario]
gamma = 0.1
theta = 1e-3
seed = 1
[[scenario.group]]
name = "nu_e"
count = 6
flavor = "e"
omega = 0.1
[[scenario.group]]
name = "nu_x"
count = 4
flavor = "x"
omega = 0.2
[run]
times = { linspace = [0.0, 2.0, 11] }
"""


def spec(**changes):
    d = copy.deepcopy(BASE)
    d.update(copy.deepcopy(changes))
    return d


def write(path, text):
    path.write_text(text)
    return path


def log_events(out):
    return [json.loads(line) for line in (Path(out) / "log.jsonl").read_text().splitlines()]


def direct(pt):
    """The point run serially with oile_q.run, as a user would."""
    pl = pt.payload
    sc = oile_q.Scenario.from_dict(copy.deepcopy(pl["scenario"]))
    return oile_q.run(sc, pl["engine"], **pl["run"], **pl["options"])


@pytest.fixture(scope="module")
def client():
    """One LocalCluster with 2 worker processes for every Dask test here (slow to start)."""
    import logging

    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    cl = Client(cluster)
    yield cl
    cl.close()
    cluster.close()


# --------------------------------------------------------------------------- spec and points


def test_axes_points_and_payloads():
    s = load_spec(
        spec(
            grid={"gamma": [0.1, 0.05], "seed": {"range": [0, 3]}},
            zip={"size": {"N": [10, 20], "group.nu_e.omega": [0.1, 0.3]}},
        )
    )
    assert s.dims == ("gamma", "seed", "size") and s.shape == (2, 3, 2)
    pts = s.points()
    assert len(pts) == 12 and len({p.hash for p in pts}) == 12
    last = pts[-1]
    assert last.index == (1, 2, 1)
    assert last.params == {"gamma": 0.05, "seed": 2, "N": 20, "group.nu_e.omega": 0.3}
    assert last.label == "#1,2,1 (gamma=0.05, seed=2, N=20, group.nu_e.omega=0.3)"
    sc = last.payload["scenario"]
    assert sc["gamma"] == 0.05 and [g["count"] for g in sc["group"]] == [12, 8]
    assert sc["group"][0]["omega"] == 0.3 and sc["group"][1]["omega"] == 0.2
    assert last.payload["run"] == {"times": np.linspace(0, 2, 11).tolist(), "schedule": "matching", "seed": 2}
    assert s.scenario["group"][0]["count"] == 6  # the base is not modified


def test_group_fields_engine_axis_and_options():
    s = load_spec(
        spec(
            engine=None,
            options={"rtol": 1e-8},
            grid={"engine": ["oile", "master"], "seed": [0, 1], "group.nu_x.P": [[0.0, 0.0, -1.0], [0.6, 0.0, -0.8]]},
        )
    )
    pts = s.points()
    oile_pt, master_pt = pts[0], pts[4]
    assert oile_pt.payload["engine"] == "oile" and oile_pt.payload["options"] == {}
    assert master_pt.payload["options"] == {"rtol": 1e-8}
    g = oile_pt.payload["scenario"]["group"][1]
    assert "flavor" not in g and g["P"] == [0.0, 0.0, -1.0]
    # master does not follow the schedule: its seed cells are one point (one file)
    assert pts[4].hash == pts[6].hash and pts[0].hash != pts[2].hash
    assert len({p.hash for p in pts}) == 6


def test_hash_is_stable_and_spelling_free():
    a = load_spec(spec(grid={"seed": {"range": [0, 3]}, "gamma": [0.1]}))
    b = load_spec(dict(reversed(list(spec(grid={"seed": [0, 1, 2], "gamma": [0.1]}).items()))))
    assert [p.hash for p in a.points()] == [p.hash for p in b.points()]
    assert a.hash == b.hash
    swapped = load_spec(spec(grid={"gamma": [0.1], "seed": [0, 1, 2]}))
    assert {p.hash for p in swapped.points()} == {p.hash for p in a.points()}  # the same points ...
    assert swapped.hash != a.hash  # ... in another layout: another sweep
    c = load_spec(spec(grid={"seed": [0, 1, 2], "gamma": [0.1000001]}))
    assert not {p.hash for p in a.points()} & {p.hash for p in c.points()}
    # A point named by a run of a same-parameter spec in another process/version keeps its
    # name: the hash is SHA-256 of canonical JSON, pinned here.
    assert point_hash({"engine": "oile", "run": {"seed": 0, "t_max": 1.0}}) == "8ab30dabba1478fe"
    assert point_hash({"run": {"t_max": 1.0, "seed": 0}, "engine": "oile"}) == "8ab30dabba1478fe"


def test_spec_from_toml_with_scenario_file(tmp_path):
    write(
        tmp_path / "gas.toml",
        'gamma = 0.1\nseed = 1\n[[group]]\nname = "a"\ncount = 4\nflavor = "e"\n[run]\nt_max = 99\n',
    )
    f = write(
        tmp_path / "s.toml",
        'engine = "oile"\nscenario = "gas.toml"\n[run]\nt_max = 1.0\n[grid]\n"scenario.seed" = [1, 2]\n',
    )
    s = load_spec(f)
    assert s.scenario["group"][0]["count"] == 4 and "run" not in s.scenario
    pts = s.points()
    assert [p.payload["scenario"]["seed"] for p in pts] == [1, 2]


def test_examples_are_valid():
    files = sorted((ROOT / "examples" / "sweeps").glob("*.toml"))
    assert files
    for f in files:
        points, est = load_spec(f).validate()
        assert points and all(v is None or v > 0 for v in est.values())


def test_public_entry_point():
    import oile_q.sweeps

    assert oile_q.sweep is oile_q.sweeps.sweep and oile_q.sweep.collect is oile_q.sweeps.collect


def test_import_oile_q_stays_light():
    code = (
        "import sys, oile_q, oile_q.sweeps; bad = [m for m in ('dask', 'distributed', 'xarray') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


# --------------------------------------------------------------------------- Dask vs serial


def test_localcluster_bit_identical_to_serial_runs(client, tmp_path):
    s = load_spec(spec(grid={"gamma": [0.1, 0.05], "seed": {"range": [0, 3]}}))
    res = sweep(s, tmp_path / "out", client=client, progress=False)
    assert res.ok and res.computed == 6 and res.reused == 0
    pts = s.points()
    runs = {(pt.params["gamma"], pt.params["seed"]): direct(pt) for pt in pts}
    for pt in pts:
        got = load(tmp_path / "out" / "points" / f"{pt.hash}.nc")
        want = runs[(pt.params["gamma"], pt.params["seed"])]
        assert np.array_equal(got.P.values, want.P.values), pt.label
        assert got.attrs["seed"] == pt.params["seed"] and got.attrs["sweep_hash"] == pt.hash

    import dask.array

    ds = collect(tmp_path / "out", basis="mass")
    assert ds.P.dims == ("gamma", "seed", "time", "particle", "component")
    assert isinstance(ds.P.data, dask.array.Array)  # lazy: nothing loaded yet
    assert list(ds.gamma.values) == [0.1, 0.05] and list(ds.seed.values) == [0, 1, 2]
    for (g, sd), want in runs.items():
        assert np.array_equal(ds.P.sel(gamma=g, seed=sd).values, want.P.values)
    # seed statistics against oile_q.results.group_means (an independent implementation)
    for g in (0.1, 0.05):
        gm = np.stack(
            [
                group_means(runs[(g, sd)], basis="mass")["mean"]
                .sel(group=["nu_e", "nu_x"])
                .transpose("time", "group", "component")
                .values
                for sd in range(3)
            ]
        )
        np.testing.assert_allclose(ds.group_mean.sel(gamma=g).values, gm, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ds.group_mean_mean.sel(gamma=g).values, gm.mean(0), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ds.group_mean_std.sel(gamma=g).values, gm.std(0, ddof=1), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(
            ds.group_mean_sem.sel(gamma=g).values, gm.std(0, ddof=1) / np.sqrt(3), rtol=1e-10, atol=1e-15
        )
    # running again computes nothing
    again = sweep(s, tmp_path / "out", client=client, progress=False)
    assert again.computed == 0 and again.reused == 6


def test_failing_point_named_others_complete_retry(client, tmp_path):
    f = write(tmp_path / "s.toml", SPEC_TOML + "[grid]\nseed = [0, 1, 2, 3]\n")
    out = tmp_path / "out"
    bad = load_spec(f).points()[1]
    (out / "points" / f"{bad.hash}.nc").mkdir(parents=True)  # its result cannot be written
    argv = [str(f), "-o", str(out), "--scheduler", client.scheduler.address, "--no-progress"]
    rc, err = run_cli(argv)
    assert rc == 1
    assert "1 of 4 distinct points failed" in err
    lines = [ln for ln in err.splitlines() if "point #1 (seed=1)" in ln]
    assert len(lines) == 1 and "InputError: `output`" in lines[0] and bad.hash in lines[0]
    assert len(Store(out).done()) == 3 and set(Store(out).failed()) == {bad.hash}
    # again: nothing recomputed, the failure reported again
    n_start = sum(e["event"] == "start" for e in log_events(out))
    rc, err = run_cli(argv)
    assert rc == 1 and "point #1 (seed=1)" in err
    assert sum(e["event"] == "start" for e in log_events(out)) == n_start
    # fixed, then --retry-failed computes exactly that point
    (out / "points" / f"{bad.hash}.nc").rmdir()
    rc, err = run_cli(argv + ["--retry-failed"])
    assert rc == 0, err
    starts = [e["hash"] for e in log_events(out) if e["event"] == "start"]
    assert len(starts) == n_start + 1 and starts[-1] == bad.hash
    assert not Store(out).failed() and len(Store(out).done()) == 4


def run_cli(argv):
    """cli_main in this process; returns (status, stderr text)."""
    import contextlib
    import io

    buf, outbuf = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(outbuf):
        rc = cli_main(argv)
    return rc, buf.getvalue()


# --------------------------------------------------------------------------- crash and resume


def crash_spec(tmp_path):
    # SPEC_TOML at N = 100 and gamma = 0.01, 5 x 10^5 encounters per point: a kill lands mid-sweep.
    text = (
        SPEC_TOML.replace("gamma = 0.1", "gamma = 0.01")
        .replace("count = 6", "count = 60")
        .replace("count = 4", "count = 40")
        .replace("[0.0, 2.0, 11]", "[0.0, 100.0, 11]")
    )
    text += "[grid]\nseed = { range = [0, 16] }\n"
    return write(tmp_path / "crash.toml", text)


def test_crash_kill9_and_resume(client, tmp_path):
    f = crash_spec(tmp_path)
    ref = sweep(f, tmp_path / "ref", client=client, progress=False)  # uninterrupted
    assert ref.ok and ref.computed == 16
    out = tmp_path / "out"
    # its own LocalCluster (one worker process: the test stays light on a shared machine)
    cmd = [
        sys.executable,
        "-m",
        "oile_q.cli",
        "sweep",
        str(f),
        "-o",
        str(out),
        "--workers",
        "1",
        "--batch",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    store = Store(out)
    deadline = time.monotonic() + 300
    while len(store.done()) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no point written in 300 s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the command and its worker processes, as in a crash
    proc.wait()
    time.sleep(1.0)
    before = store.done()
    assert 2 <= len(before) < 16, f"{len(before)} points were finished at the kill; expected a partial sweep"
    # A half-written file as a killed writer leaves it (named as oile_q.io writes them):
    partial = out / "points" / f".{'f' * 16}.nc.x1y2z3.part"
    partial.write_bytes(b"\x89HDF\r\n half a file")
    first_run = {e["run"] for e in log_events(out)}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    # no partial file left, none read
    assert not [p for p in (out / "points").iterdir() if not p.name.endswith(".nc")]
    assert len(store.done()) == 16
    # no point computed twice after the restart; the finished ones not at all
    events = [e for e in log_events(out) if e["run"] not in first_run]
    started = [e["hash"] for e in events if e["event"] == "start"]
    assert len(started) == len(set(started)) == 16 - len(before)
    assert not set(started) & before
    assert {e["hash"] for e in events if e["event"] == "done"} == set(started)
    # the collected result equals the uninterrupted run's
    import xarray as xr

    a, b = collect(out).compute(), collect(tmp_path / "ref").compute()
    assert np.array_equal(a.P.values, b.P.values)  # the runs: bit for bit
    a, b = a.drop_vars("engine_stats"), b.drop_vars("engine_stats")  # wall times differ, of course
    # derived statistics: numpy's SIMD reductions may differ in the last bit between processes
    xr.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


# --------------------------------------------------------------------------- store rules


def test_changed_spec_refused_then_force_reuses_points(tmp_path):
    out = tmp_path / "out"
    first = sweep(spec(grid={"seed": [0, 1]}), out, client="serial", progress=False)
    assert first.ok and first.computed == 2
    manifest = (out / "sweep.json").read_text()
    f = write(tmp_path / "s.toml", SPEC_TOML + "[grid]\nseed = [0, 1, 2]\n")
    rc, err = run_cli([str(f), "-o", str(out), "--serial", "--no-progress"])
    assert rc == 2 and err.count("\n") == 1 and "holds a different sweep" in err and "--force" in err
    assert (out / "sweep.json").read_text() == manifest
    rc, err = run_cli([str(f), "-o", str(out), "--serial", "--no-progress", "--force"])
    assert rc == 0, err
    starts = [e for e in log_events(out) if e["event"] == "start"]
    assert len(starts) == 3  # seeds 0 and 1 reused, only seed 2 computed
    assert json.loads((out / "sweep.json").read_text())["shape"] == [3]


def test_second_sweep_on_a_locked_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with Store(out).lock():
        with pytest.raises(InputError, match="in use by another oile-q sweep"):
            sweep(spec(), out, client="serial", progress=False)


def test_collect_incomplete_missing_and_cli_output(tmp_path):
    out = tmp_path / "out"
    s = load_spec(spec(grid={"seed": [0, 1, 2]}))
    sweep(s, out, client="serial", progress=False)
    gone = s.points()[2]
    (out / "points" / f"{gone.hash}.nc").unlink()
    with pytest.raises(InputError, match="incomplete: 1 of 3"):
        collect(out)
    ds = collect(out, allow_missing=True).compute()
    assert ds.done.values.tolist() == [True, True, False]
    assert np.isnan(ds.P.sel(seed=2).values).all() and not np.isnan(ds.P.sel(seed=1).values).any()
    want = (ds.group_mean.sel(seed=[0, 1]).std("seed", ddof=1) / np.sqrt(2)).values
    np.testing.assert_allclose(ds.group_mean_sem.values, want, rtol=1e-12, atol=1e-15)
    sweep(s, out, client="serial", progress=False)  # finish it
    rc, err = run_cli(["collect", str(out), "-o", str(tmp_path / "all.nc"), "--basis", "mass"])
    assert rc == 0, err
    import xarray as xr

    with xr.open_dataset(tmp_path / "all.nc", engine="h5netcdf") as back:
        xr.testing.assert_allclose(
            back.load().drop_vars("done"), collect(out, basis="mass").compute().drop_vars("done"), rtol=0, atol=0
        )
        assert back.attrs["group_basis"] == "mass"


def test_N_axis_pads_particles_and_keeps_group_observables(tmp_path):
    out = tmp_path / "out"
    s = load_spec(spec(zip={"size": {"N": [10, 20], "scenario.seed": [3, 4]}}))
    sweep(s, out, client="serial", progress=False)
    ds = collect(out).compute()
    assert ds.P.dims == ("size", "time", "particle", "component") and ds.sizes["particle"] == 20
    assert np.isnan(ds.P.isel(size=0, particle=slice(10, None))).all()
    assert ds.N.values.tolist() == [10, 20] and ds["scenario.seed"].values.tolist() == [3, 4]
    # per-particle coordinates: one row per size (N and the velocity seed move them), padded
    assert ds.velocity.dims == ("size", "particle", "component") and ds.group.dims == ("size", "particle")
    for i, pt in enumerate(s.points()):
        want = direct(pt)
        gm = group_means(want)["mean"].sel(group=["nu_e", "nu_x"]).transpose("time", "group", "component")
        np.testing.assert_allclose(ds.group_mean.isel(size=i).values, gm.values, rtol=1e-12, atol=1e-15)
        n = want.sizes["particle"]
        assert np.array_equal(ds.velocity.isel(size=i, particle=slice(0, n)).values, want.velocity.values)
        assert np.array_equal(ds.omega.isel(size=i, particle=slice(0, n)).values, want.omega.values)
        assert ds.group.isel(size=i).values.tolist() == [str(g) for g in want.group.values] + [""] * (20 - n)
        assert np.isnan(ds.velocity.isel(size=i, particle=slice(n, None)).values).all()
    assert "group_mean_sem" not in ds  # no seed dimension, no seed statistics


def test_load_point_returns_the_runs_own_dataset(tmp_path):
    from oile_q.sweeps import load_point

    out = tmp_path / "out"
    s = load_spec(spec(grid={"gamma": [0.1, 0.05], "seed": [0, 1]}))
    sweep(s, out, client="serial", progress=False)
    pt = next(p for p in s.points() if p.params["gamma"] == 0.05 and p.params["seed"] == 1)
    got = oile_q.sweep.load_point(out, gamma=0.05, seed=1)
    assert np.array_equal(got.P.values, direct(pt).P.values) and got.attrs["sweep_hash"] == pt.hash
    for kw, words in (({"gamma": 0.05}, "2 points"), ({"gamma": 0.2}, "no point"), ({"mu": 1.0}, "no point")):
        with pytest.raises(InputError, match=words):
            load_point(out, **kw)
    with pytest.raises(InputError, match="no sweep"):
        load_point(tmp_path, gamma=0.1)


def test_collect_mixed_engines_and_step_ends_one_chunk_per_point(tmp_path):
    """Engines with different variables, and gammas whose step ends differ: each cell holds its
    own run on its own times (NaN at the others' times), each point is one chunk (the union of
    times is made inside the point's read task, not by splitting dask chunks), and each point's
    run statistics are kept."""
    import json

    out = tmp_path / "out"
    s = load_spec(
        spec(
            engine=None,
            options={"rtol": 1e-9, "atol": 1e-11},
            run={"times": {"linspace": [0.0, 1.0, 6]}},
            grid={"seed": [0, 1]},
            zip={"model": {"engine": ["oile", "oile", "master"], "gamma": [0.1, 0.03, 0.1]}},
        )
    )
    res = sweep(s, out, client="serial", progress=False)
    assert res.ok and res.total == 6 and res.unique == 5  # master ignores the schedule seed
    ds = collect(out)
    assert ds.P.dims == ("seed", "model", "time", "particle", "component")
    assert ds.P.data.numblocks == (2, 3, 1, 1, 1) and ds.group_mean.data.numblocks[2] == 1
    assert len(ds.P.data.__dask_graph__()) < 10 * 6
    ds = ds.compute()
    own = set()
    for pt in s.points():
        want = direct(pt)
        own |= set(want.time.values.tolist())
        cell = ds.isel(seed=pt.index[0], model=pt.index[1])
        got = cell.P.dropna("time", how="all")
        assert np.array_equal(got.time.values, want.time.values), pt.label
        assert np.array_equal(got.values, want.P.values), pt.label
        gm = group_means(want)["mean"].sel(group=["nu_e", "nu_x"]).transpose("time", "group", "component")
        np.testing.assert_allclose(cell.group_mean.sel(time=want.time.values).values, gm.values, rtol=1e-12, atol=1e-15)
        stats = json.loads(str(cell.engine_stats.values))
        assert "wall_s" in stats and set(stats) == set(json.loads(want.attrs["engine_stats"])), pt.label
    assert ds.time.values.tolist() == sorted(own) and len(own) > 6  # the union: 0.03's step ends differ
    assert ds.group.dims == ("particle",) and ds.velocity.dims == ("particle", "component")


# --------------------------------------------------------------------------- bad input

# (id, spec TOML text (None: no file), expected words). Every case: one line, exit 2, no folder.
BAD = [
    ("unknown_top_key", SPEC_TOML + "colour = 1\n", "colour"),
    ("unknown_axis", SPEC_TOML + "[grid]\ngama = [0.1]\n", "`gama` is not a sweep parameter"),
    ("empty_axis", SPEC_TOML + "[grid]\nseed = []\n", "`grid.seed` is empty"),
    ("empty_range", SPEC_TOML + "[grid]\nseed = { range = [5, 5] }\n", "`grid.seed` is empty"),
    ("axis_not_list", SPEC_TOML + "[grid]\ngamma = 0.1\n", "`grid.gamma` must be"),
    ("zip_lengths", SPEC_TOML + "[zip.z]\ngamma = [0.1, 0.2]\nseed = [1]\n", "one length"),
    ("point_invalid", SPEC_TOML + "[grid]\ngamma = [0.1, -0.1]\n", "point #1 (gamma=-0.1): `gamma` must be positive"),
    ("point_bad_seed", SPEC_TOML + "[grid]\nseed = [1, 2.5]\n", "point #1 (seed=2.5): `seed` must be an integer"),
    ("unknown_group", SPEC_TOML + '[grid]\n"group.nu_mu.count" = [2]\n', "no group named 'nu_mu'"),
    ("unknown_group_field", SPEC_TOML + '[grid]\n"group.nu_e.colour" = [2]\n', "not a group field"),
    ("odd_count", SPEC_TOML + '[grid]\n"group.nu_e.count" = [6, 5]\n', "point #1 (group.nu_e.count=5)"),
    ("N_not_proportional", SPEC_TOML + "[grid]\nN = [10, 7]\n", "point #1 (N=7): `N` = 7 does not split"),
    ("unknown_engine", SPEC_TOML.replace('"oile"', '"quantum"'), "`engine` must be one of"),
    ("unknown_option", SPEC_TOML + "[options]\nrtol = 1e-9\n", "`options.rtol` is not an option"),
    ("option_axis_bad_value", SPEC_TOML + '[grid]\n"options.propagator" = ["fast"]\n', "`propagator` must be one of"),
    (
        "steps_and_t_max",
        SPEC_TOML.replace("[run]\n", "[run]\nsteps = 3\nt_max = 1.0\n"),
        "only one of `steps` or `t_max`",
    ),
    ("no_run_length", SPEC_TOML.replace("times = { linspace = [0.0, 2.0, 11] }\n", ""), "run length"),
    ("swept_twice", SPEC_TOML + "[grid]\nseed = [1]\n[zip.z]\nseed = [2]\n", "`seed` is swept twice"),
    ("engine_twice", SPEC_TOML + '[grid]\nengine = ["oile"]\n', "both as a fixed value and as an axis"),
    ("no_scenario", 'engine = "oile"\n[run]\nt_max = 1.0\n', "`scenario` is required"),
    ("scenario_file_missing", 'engine = "oile"\nscenario = "nope.toml"\n[run]\nt_max = 1.0\n', "nope.toml"),
    ("not_toml", "engine = = 3\n", "not valid TOML"),
    ("spec_missing", None, "`spec` file not found"),
    ("reserved_dim", SPEC_TOML + "[zip.time]\nseed = [1, 2]\n", "`time` cannot name a sweep dimension"),
    ("explicit_schedule", SPEC_TOML.replace("[run]\n", "[run]\nschedule = [[[0, 1]]]\n"), "`schedule` must be one of"),
]


@pytest.mark.parametrize("text, words", [pytest.param(t, w, id=i) for i, t, w in BAD])
def test_malformed_spec_one_line_exit_2_nothing_written(tmp_path, text, words):
    f = tmp_path / "spec.toml"
    if text is not None:
        f.write_text(text)
    out = tmp_path / "out"
    rc, err = run_cli([str(f), "-o", str(out), "--serial"])
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("oile-q sweep: error: "), err
    assert words in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        pytest.param(["-o", "X"], "spec", id="no_spec"),
        pytest.param(["{spec}"], "-o/--output", id="no_output"),
        pytest.param(
            ["{spec}", "-o", "{tmp}/out", "--workers", "0"], "`workers` must be an integer >= 1", id="workers_0"
        ),
        pytest.param(["{spec}", "-o", "{tmp}/out", "--batch", "0"], "`batch`", id="batch_0"),
        pytest.param(
            ["{spec}", "-o", "{tmp}/out", "--scheduler", "localhost"],
            "`scheduler` must be an address",
            id="scheduler_not_address",
        ),
        pytest.param(
            ["{spec}", "-o", "{tmp}/out", "--scheduler", "tcp://127.0.0.1:9"],
            "`scheduler` cannot be reached",
            id="scheduler_unreachable",
        ),
        pytest.param(["{spec}", "-o", "{tmp}/no/such/out"], "does not exist", id="out_parent_missing"),
        pytest.param(["{spec}", "-o", "{spec}"], "must be a folder", id="out_is_file"),
        pytest.param(["{spec}", "-o", "{tmp}"], "holds no sweep but other files", id="out_is_foreign_folder"),
        pytest.param(["collect", "{tmp}"], "holds no sweep", id="collect_not_a_sweep"),
        pytest.param(["collect", "{tmp}/nope"], "not a folder", id="collect_missing"),
    ],
)
def test_bad_command_line(tmp_path, argv, words):
    f = write(tmp_path / "spec.toml", SPEC_TOML)
    argv = [a.format(spec=f, tmp=tmp_path) for a in argv]
    before = sorted(tmp_path.rglob("*"))
    rc, err = run_cli(argv)
    assert rc == 2 and err.count("\n") == 1 and words in err, err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_cli_entry_point_subcommand(tmp_path):
    """`oile-q sweep` and `oile-q sweep collect` through the real console entry point."""
    f = write(tmp_path / "s.toml", SPEC_TOML + "[grid]\nseed = [0, 1]\n")
    exe = Path(sys.executable).with_name("oile-q")
    res = subprocess.run(
        [str(exe), "sweep", str(f), "-o", str(tmp_path / "out"), "--serial", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [str(exe), "sweep", "collect", str(tmp_path / "out")], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0 and "group_mean_sem" in res.stdout, res.stderr
    res = subprocess.run([str(exe), "sweep", str(f)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stderr.startswith("oile-q sweep: error:") and res.stderr.count("\n") == 1
