"""Bad input: one clear line naming the parameter, exit status 2, no traceback, no file."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import groups_toml

from oile_q.cli import main

GOOD_GROUPS = groups_toml(("e", 4, "e", 0.1))
FOREGROUND = "gamma = 0.1\n[foreground]\nP = [0, 0, 1]\nQ = [1, 0, 0]\n"


def group(**kw):
    lines = [f"gamma = {kw.pop('gamma', '0.1')}", "seed = 1"]
    extra = kw.pop("top", "")
    if extra:
        lines.append(extra)
    lines.append("[[group]]")
    spec = {"name": '"e"', "count": "4", "flavor": '"e"', "omega": "0.1"}
    spec.update(kw)
    lines += [f"{k} = {v}" for k, v in spec.items() if v is not None]
    return "\n".join(lines) + "\n"


def particles(P0="[[0, 0, 1], [0, 0, -1]]", omega="[0.1, 0.2]", velocity="[[0, 0, 1], [1, 0, 0]]"):
    return f"gamma = 0.1\n[particles]\nP0 = {P0}\nomega = {omega}\nvelocity = {velocity}\n"


# (id, scenario TOML or None for a missing file, extra argv, expected words in the message)
CASES = [
    ("P_too_long", group(flavor=None, P="[0, 0, 1.5]"), [], "group[0].P"),
    ("P_nan", particles(P0="[[0, 0, nan], [0, 0, 1]]"), [], "P0"),
    ("velocity_not_unit", particles(velocity="[[0, 0, 2], [1, 0, 0]]"), [], "velocity"),
    ("velocity_zero", group(velocity="[0, 0, 0]"), [], "velocity"),
    ("odd_N_matching", group(count="5"), [], "schedule"),
    ("gamma_zero", group(gamma="0.0"), [], "gamma"),
    ("gamma_negative", group(gamma="-0.1"), [], "gamma"),
    ("count_negative", group(count="-3"), [], "count"),
    ("count_fractional", group(count="2.5"), [], "count"),
    ("unknown_group_key", group(colour='"red"'), [], "colour"),
    ("unknown_top_key", group(top="gama = 0.2"), [], "gama"),
    ("omega_wrong_shape", particles(omega="[0.1, 0.2, 0.3]"), [], "omega"),
    ("P0_wrong_shape", particles(P0="[[0, 1], [1, 0]]"), [], "P0"),
    ("unknown_engine", GOOD_GROUPS, ["--engine", "quantum"], "engine"),
    ("unknown_schedule", GOOD_GROUPS, ["--schedule", "random"], "schedule"),
    ("schedule_pairs_twice", GOOD_GROUPS, ["--schedule", "{twice}"], "twice"),
    ("schedule_out_of_range", GOOD_GROUPS, ["--schedule", "{range}"], "particle 7"),
    ("output_dir_missing", GOOD_GROUPS, ["-o", "{tmp}/no/such/dir/out.nc"], "--output"),
    ("output_is_folder", GOOD_GROUPS, ["-o", "{tmp}"], "--output"),
    ("scenario_missing", None, [], "scenario"),
    ("scenario_not_toml", "gamma = = 1\n", [], "scenario"),
    ("steps_zero", GOOD_GROUPS, ["--steps", "0"], "steps"),
    ("steps_not_int", GOOD_GROUPS, ["--steps", "ten"], "--steps"),
    ("t_max_negative", GOOD_GROUPS, ["--t-max", "-1"], "t_max"),
    ("poisson_without_p", GOOD_GROUPS, ["--schedule", "poisson"], "`p`"),
    ("p_above_one", GOOD_GROUPS, ["--schedule", "poisson", "--p", "1.5"], "`p`"),
    ("Q_too_long", "gamma = 0.1\n[foreground]\nP = [0, 0, 1]\nQ = [1, 1, 0]\n", [], "Q"),
    ("vdotu_above_one", "gamma = 0.1\n[foreground]\nP = [0, 0, 1]\nQ = [1, 0, 0]\nvdotu = 1.5\n", [], "vdotu"),
    ("theta_string", group(top='theta = "small"'), [], "theta"),
    ("gamma_missing", 'seed = 1\n[[group]]\ncount = 2\nflavor = "e"\n', [], "gamma"),
    ("flavor_unknown", group(flavor='"tau"'), [], "flavor"),
    ("mu_negative", group(top="mu = -1.0"), [], "mu"),
    ("times_beyond_end", GOOD_GROUPS, ["--steps", "5", "--times", "0,3"], "times"),
    ("run_table_unknown_key", GOOD_GROUPS + "[run]\nstep = 3\n", [], "step"),
    ("rtol_negative", GOOD_GROUPS, ["--engine", "master", "--rtol=-1e-3"], "`rtol` must be positive"),
    ("foreground_bad_schedule", FOREGROUND, ["--schedule", "round-robin"], "schedule"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cli_bad_input(case, tmp_path, capsys):
    name, toml, extra, words = case
    scen = tmp_path / "scenario.toml"
    if toml is not None:
        scen.write_text(toml)
    np.save(tmp_path / "twice.npy", np.array([[[0, 1], [1, 2]]]))
    np.save(tmp_path / "range.npy", np.array([[[0, 7], [1, 2]]]))
    out = tmp_path / "result.nc"
    subs = {"{tmp}": str(tmp_path), "{twice}": str(tmp_path / "twice.npy"), "{range}": str(tmp_path / "range.npy")}
    argv = []
    for a in extra:
        for k, v in subs.items():
            a = a.replace(k, v)
        argv.append(a)
    if "-o" not in argv:
        argv += ["-o", str(out)]
    if "--steps" not in argv and "--t-max" not in argv:
        argv += ["--steps", "3"]
    rc = main(["run", str(scen)] + argv)
    cap = capsys.readouterr()
    assert rc == 2, (cap.out, cap.err)
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1, cap.err
    assert "Traceback" not in cap.err
    words = words.replace("{tmp}", str(tmp_path))
    assert words in lines[0], lines[0]
    assert not out.exists()
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


def test_enough_cases():
    assert len(CASES) >= 20


def test_console_script_exit_status_and_single_line(tmp_path):
    scen = tmp_path / "s.toml"
    scen.write_text(group(gamma="-1"))
    exe = Path(sys.executable).with_name("oile-q")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "oile_q.cli"]
    res = subprocess.run(
        cmd + ["run", str(scen), "--steps", "2", "-o", str(tmp_path / "o.nc")], capture_output=True, text=True
    )
    assert res.returncode == 2
    assert res.stderr.strip() == "oile-q: error: `gamma` must be positive; got -1.0."
    assert not (tmp_path / "o.nc").exists()


def test_compare_needs_two_engines(tmp_path, capsys):
    scen = tmp_path / "s.toml"
    scen.write_text(GOOD_GROUPS)
    rc = main(["compare", str(scen), "--engines", "oile", "--steps", "2", "-o", str(tmp_path / "cmp")])
    assert rc == 2 and "--engines" in capsys.readouterr().err
    assert not (tmp_path / "cmp").exists()


def test_help_everywhere(capsys):
    for argv in (["--help"], ["run", "--help"], ["compare", "--help"], ["study", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        assert "usage" in capsys.readouterr().out
