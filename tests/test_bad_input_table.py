"""Bad input of every size and kind, through the command line and the API: one line naming the
parameter, exit status 2 (CLI) or ValueError/TypeError (API), no traceback, and no output file
created or changed. Complements tests/test_bad_input.py (scenario-file mistakes)."""

import os
import time

import numpy as np
import pytest
from conftest import groups_toml

import oile_q
from oile_q import Scenario
from oile_q.cli import main

ENSEMBLE = groups_toml(("e", 2, "e", 0.1), ("x", 2, "x", 0.2))
FOREGROUND = "gamma = 0.1\n[foreground]\nP = [0, 0, 1]\nQ = [1, 0, 0]\nomega = 0.2\n"
HUGE_N = 'gamma = 0.1\n[[group]]\nname = "e"\ncount = 1000000000000\nflavor = "e"\n'
README_GAS = groups_toml(("nu_e", 60, "e", 0.1), ("nu_x", 40, "x", 0.2), gamma=0.01, theta=1e-3)
BIG = "1000000000000000"

# (id, scenario: TOML text | "BINARY" | "DIR" | None (missing), argv after the scenario, words in the line)
CLI = [
    ("exact_steps_1e15", ENSEMBLE, ["--engine", "exact", "--steps", BIG], "`--budget`"),
    ("closed_steps_1e15", ENSEMBLE, ["--engine", "closed", "--steps", BIG], "`--budget`"),
    ("circuit_steps_1e15", ENSEMBLE, ["--engine", "circuit", "--steps", BIG], "`steps`"),
    ("oile_steps_1e15", ENSEMBLE, ["--steps", BIG], "`--budget`"),
    ("steps_beyond_int64", ENSEMBLE, ["--steps", "100000000000000000000"], "`steps`"),
    ("master_t_max_1e300", ENSEMBLE, ["--engine", "master", "--t-max", "1e300"], "`t_max`"),
    ("meanfield_t_max_1e300", ENSEMBLE, ["--engine", "meanfield", "--t-max", "1e300"], "`t_max`"),
    ("t_max_inf", ENSEMBLE, ["--t-max", "inf"], "`t_max`"),
    ("t_max_nan", ENSEMBLE, ["--t-max", "nan"], "`t_max`"),
    ("N_1e12_in_toml", HUGE_N, [], "`group[0].count`"),
    ("scenario_binary", "BINARY", [], "`scenario`"),
    ("scenario_directory", "DIR", [], "`scenario`"),
    ("scenario_missing", None, [], "`scenario`"),
    ("scenario_empty", "", [], "gamma"),
    ("output_in_proc", ENSEMBLE, ["-o", "/proc/self/oile.nc"], "`--output`"),
    ("output_in_sys", ENSEMBLE, ["-o", "/sys/oile.nc"], "`--output`"),
    ("output_device", ENSEMBLE, ["-o", "/dev/null"], "`--output`"),
    ("output_is_dir", ENSEMBLE, ["-o", "{tmp}"], "`--output`"),
    ("output_exists", ENSEMBLE, ["-o", "{existing}"], "--force"),
    ("output_symlink_even_forced", ENSEMBLE, ["-o", "{link}", "--force"], "symbolic link"),
    ("output_fifo_even_forced", ENSEMBLE, ["-o", "{fifo}", "--force"], "FIFO"),
    ("budget_exceeded", ENSEMBLE, ["--steps", "100000", "--budget", "1e-6"], "`--budget`"),
    ("unknown_option_flag_for_engine", ENSEMBLE, ["--shots", "100"], "`shots`"),
    ("set_unknown_key", ENSEMBLE, ["--set", "wobble=1"], "`wobble`"),
    ("set_unknown_engine", ENSEMBLE, ["--set", "quantum.rtol=1"], "quantum"),
    ("set_engine_not_run", ENSEMBLE, ["--set", "master.rtol=1e-3"], "master"),
    ("set_malformed", ENSEMBLE, ["--set", "rtol"], "`--set`"),
    ("set_bad_value", ENSEMBLE, ["--engine", "master", "--set", 'rtol="tiny"'], "`rtol`"),
    ("bool_option_not_bool", ENSEMBLE, ["--engine", "master", "--set", "isotropic=3"], "`isotropic`"),
    ("choice_option_bad", ENSEMBLE, ["--set", 'propagator="magic"'], "`propagator`"),
    ("exact_method_bad", ENSEMBLE, ["--engine", "exact", "--set", 'method="rk4"'], "`method`"),
    ("times_negative", ENSEMBLE, ["--times=-1,0.5"], "`times`"),
    ("times_not_numbers", ENSEMBLE, ["--times", "a,b"], "--times"),
    ("times_beyond_end", ENSEMBLE, ["--steps", "3", "--times", "0,9"], "`times`"),
    ("seed_negative", ENSEMBLE, ["--seed", "-4"], "`seed`"),
    ("p_zero", ENSEMBLE, ["--schedule", "poisson", "--p", "0"], "`p`"),
    ("p_without_poisson", ENSEMBLE, ["--p", "0.5"], "`p`"),
    ("schedule_npy_missing", ENSEMBLE, ["--schedule", "{tmp}/none.npy"], "`schedule`"),
    ("schedule_npy_not_array", ENSEMBLE, ["--schedule", "{notnpy}"], "`schedule`"),
    ("foreground_exact", FOREGROUND, ["--engine", "exact"], "`scenario`"),
    ("isotropic_foreground", FOREGROUND, ["--engine", "master", "--isotropic"], "`isotropic`"),
    ("circuit_shots_zero", FOREGROUND, ["--engine", "circuit", "--backend", "aer-shots", "--shots", "0"], "`shots`"),
    ("circuit_backend_unknown", FOREGROUND, ["--engine", "circuit", "--backend", "toaster"], "`backend`"),
    ("circuit_level_5", FOREGROUND, ["--engine", "circuit", "--optimization-level", "5"], "`optimization_level`"),
    (
        "circuit_readme_gas",
        README_GAS,
        ["--engine", "circuit", "--steps", "100", "--backend", "aer-shots", "--shots", "4000"],
        "encounters",
    ),
    ("exact_too_many_particles", README_GAS, ["--engine", "exact", "--steps", "1"], "largest N that fits"),
    ("unknown_engine", ENSEMBLE, ["--engine", "quantum"], "`engine`"),
]

# compare: (id, argv after the scenario, words)
COMPARE = [
    ("one_engine", ["--engines", "oile"], "`--engines`"),
    ("twice_the_same", ["--engines", "oile,oile"], "`--engines`"),
    ("unknown_engine", ["--engines", "oile,quantum"], "`engine`"),
    ("option_of_no_engine", ["--engines", "oile,master", "--shots", "10"], "`shots`"),
    ("qualified_bad_option", ["--engines", "oile,circuit", "--set", "circuit.bogus=1"], "`bogus`"),
    ("last_engine_bad", ["--engines", "oile,master", "--set", "master.rtol=-1"], "`rtol`"),
    ("times_beyond_end", ["--engines", "oile,master", "--steps", "2", "--times", "0.1,0.9"], "`times`"),
    ("output_is_file", ["--engines", "oile,master", "-o", "{existing}"], "`--output`"),
    ("output_has_results", ["--engines", "oile,master", "-o", "{full}"], "--force"),
]


def _api_cases():
    ens = Scenario.from_groups(
        [dict(name="e", count=2, flavor="e"), dict(name="x", count=2, flavor="x")], gamma=0.1, seed=1
    )
    fg = Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    return [
        ("progress_yes", lambda: oile_q.run(ens, "oile", steps=2, progress="yes"), "`progress`"),
        ("scenario_not_scenario", lambda: oile_q.run({"gamma": 0.1}, "oile", steps=2), "`scenario`"),
        ("engine_not_string", lambda: oile_q.run(ens, 3, steps=2), "`engine`"),
        ("steps_float", lambda: oile_q.run(ens, "oile", steps=2.5), "`steps`"),
        ("steps_and_t_max", lambda: oile_q.run(ens, "oile", steps=2, t_max=1.0), "`steps`"),
        ("no_length", lambda: oile_q.run(ens, "oile"), "`steps`"),
        ("times_2d", lambda: oile_q.run(ens, "oile", times=[[0.1]]), "`times`"),
        ("times_empty", lambda: oile_q.run(ens, "oile", times=[]), "`times`"),
        ("rtol_string", lambda: oile_q.run(ens, "master", t_max=1, rtol="small"), "`rtol`"),
        ("isotropic_int", lambda: oile_q.run(ens, "master", t_max=1, isotropic=1), "`isotropic`"),
        ("propagator_none_such", lambda: oile_q.run(ens, "oile", steps=2, propagator="fast"), "`propagator`"),
        ("schedule_number", lambda: oile_q.run(ens, "oile", steps=2, schedule=3), "`schedule`"),
        (
            "schedule_short",
            lambda: oile_q.run(ens, "oile", steps=5, schedule=np.array([[[0, 1], [2, 3]]])),
            "`schedule`",
        ),
        (
            "schedule_self_pair",
            lambda: oile_q.run(ens, "oile", steps=1, schedule=np.array([[[0, 0], [2, 3]]])),
            "`schedule`",
        ),
        ("foreground_round_robin", lambda: oile_q.run(fg, "oile", steps=2, schedule="round-robin"), "`schedule`"),
        ("gamma_zero", lambda: Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.0), "`gamma`"),
        ("P0_too_long", lambda: Scenario([[0, 0, 2], [0, 0, 1]], [0, 0], [[0, 0, 1]] * 2, gamma=0.1), "`P0`"),
        (
            "group_count_huge",
            lambda: Scenario.from_groups([dict(name="e", count=10**13, flavor="e")], gamma=0.1),
            "`group[0].count`",
        ),
        ("rerun_not_a_result", lambda: oile_q.rerun(__import__("xarray").Dataset()), "`ds`"),
        ("exact_pairs_out_of_range", lambda: oile_q.run(ens, "exact", t_max=0.1, pairs=[[0, 9]]), "`pairs`"),
        ("circuit_particles_string", lambda: oile_q.run(ens, "circuit", steps=1, particles="all"), "`particles`"),
    ]


API = _api_cases()


def test_table_has_at_least_sixty_cases():
    assert len(CLI) + len(COMPARE) + len(API) >= 60


@pytest.fixture
def files(tmp_path):
    existing = tmp_path / "existing.nc"
    existing.write_bytes(b"precious")
    link = tmp_path / "link.nc"
    link.symlink_to(existing)
    fifo = tmp_path / "fifo.nc"
    os.mkfifo(fifo)
    notnpy = tmp_path / "notnpy.npy"
    notnpy.write_text("not an array")
    full = tmp_path / "full"
    full.mkdir()
    (full / "oile.nc").write_bytes(b"earlier result")
    return tmp_path, {
        "tmp": str(tmp_path),
        "existing": str(existing),
        "link": str(link),
        "fifo": str(fifo),
        "notnpy": str(notnpy),
        "full": str(full),
    }


def _snapshot(folder):
    return {
        p: (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else None
        for p in sorted(folder.rglob("*"))
        if not p.is_fifo()
    }


def _scenario_file(tmp, toml):
    path = tmp / "scenario.toml"
    if toml == "BINARY":
        path.write_bytes(bytes(range(256)) * 4)
    elif toml == "DIR":
        path.mkdir()
    elif toml is not None:
        path.write_text(toml)
    return path


def _check_one_line(rc, err, words):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert words in lines[0], lines[0]


@pytest.mark.parametrize("case", CLI, ids=[c[0] for c in CLI])
def test_cli(case, files, capsys):
    name, toml, extra, words = case
    tmp, subs = files
    scen = _scenario_file(tmp, toml)
    argv = [a.format(**subs) for a in extra]
    if "-o" not in argv:
        argv += ["-o", str(tmp / "out.nc")]
    if not any(a in argv for a in ("--steps", "--t-max")) and not any(a.startswith("--times") for a in argv):
        argv += ["--steps", "3"]
    before = _snapshot(tmp)
    t0 = time.perf_counter()
    rc = main(["run", str(scen)] + argv)
    seconds = time.perf_counter() - t0
    _check_one_line(rc, capsys.readouterr().err, words)
    assert _snapshot(tmp) == before  # nothing created or changed
    assert (tmp / "existing.nc").read_bytes() == b"precious"
    if name == "circuit_readme_gas":
        assert seconds < 1.0, seconds  # refused at once, from the schedule alone


@pytest.mark.parametrize("case", COMPARE, ids=[c[0] for c in COMPARE])
def test_compare(case, files, capsys):
    name, extra, words = case
    tmp, subs = files
    scen = _scenario_file(tmp, ENSEMBLE)
    argv = [a.format(**subs) for a in extra]
    if "-o" not in argv:
        argv += ["-o", str(tmp / "cmp")]
    if "--steps" not in argv:
        argv += ["--steps", "3"]
    before = _snapshot(tmp)
    rc = main(["compare", str(scen)] + argv)
    _check_one_line(rc, capsys.readouterr().err, words)
    assert _snapshot(tmp) == before


@pytest.mark.parametrize("case", API, ids=[c[0] for c in API])
def test_api(case):
    name, call, words = case
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    msg = str(err.value)
    assert words in msg and "\n" not in msg, msg
    assert isinstance(err.value, oile_q.InputError)
