"""The studies in comparisons/: each runs end to end at a tiny size (smoke test), and the
study helper (oile_q.studies) finds, configures, reports and publishes them."""

import json
import re
import tomllib

import numpy as np
import pytest

import oile_q
import oile_q.studies as studies
from oile_q.cli import main
from oile_q.errors import InputError
from oile_q.studies import Study, list_studies

STUDIES = list(list_studies())


def test_studies_are_found_and_ordered_by_their_config():
    root = studies.studies_dir()
    on_disk = sorted(p.parent.name for p in root.glob("*/study.py"))
    assert sorted(STUDIES) == on_disk
    orders = [
        tomllib.loads((root / n / "config.toml").read_text()).get("order", studies.DEFAULT_ORDER) for n in STUDIES
    ]
    assert orders == sorted(orders)
    assert STUDIES[0] == "paper1_fig1"


@pytest.mark.parametrize("name", STUDIES)
def test_study_quick(name, tmp_path, capsys):
    out = tmp_path / name
    assert main(["study", name, "--quick", "-o", str(out)]) == 0
    files = {p.name for p in out.iterdir()}
    assert any(f.endswith(".png") for f in files), files
    assert any(f.endswith(".nc") for f in files), files
    assert any(f.endswith(".csv") for f in files), files
    assert not any(f.endswith(".part") for f in files)
    rep = json.loads((out / "report.json").read_text())
    assert rep["study"] == name and rep["run"]["quick"] is True and rep["shows"]
    assert {f["file"] for f in rep["figures"]} == {f for f in files if f.endswith(".png")}
    assert {t["csv"] for t in rep["tables"]} <= files
    assert set(rep["data"]) == {f for f in files if f.endswith(".nc")}
    assert (out / "report.md").read_text() == studies.render_report(rep)


def test_paper1_fig2_mixing_angle_is_the_papers():
    """Paper I's theta = 1e-3 is a mixing angle in our convention: its authors' code starts
    nu_e at (sin 2 theta, 0, cos 2 theta) in the mass basis, a Bloch tilt of 2e-3."""
    from oile_q.conventions import flavor_to_mass

    for name in ("paper1_fig2", "poster_two_group"):
        cfg = Study(studies.studies_dir() / name / "study.py").config()
        theta = cfg["scenario"]["theta"]
        P = flavor_to_mass([0.0, 0.0, 1.0], theta)
        np.testing.assert_allclose(P, [np.sin(2e-3), 0.0, np.cos(2e-3)], rtol=0, atol=1e-15)


# ----------------------------------------------------------------------------- the helper

CONFIG = """\
order = 5
[scenario]
theta = 0.1
groups = [{ name = "a", count = 2 }]
[run]
gammas = [0.1, 0.01]
t_max = 10.0
[quick.run]
t_max = 1.0
"""


def test_config_merges_quick_table_by_table(tmp_path):
    (tmp_path / "config.toml").write_text(CONFIG)
    study = Study(tmp_path / "study.py")
    assert study.config() == {
        "scenario": {"theta": 0.1, "groups": [{"name": "a", "count": 2}]},
        "run": {"gammas": [0.1, 0.01], "t_max": 10.0},
    }
    fast = study.config(quick=True)
    assert fast["run"] == {"gammas": [0.1, 0.01], "t_max": 1.0} and fast["scenario"]["theta"] == 0.1


def test_config_rejects_a_quick_key_that_overrides_nothing(tmp_path):
    (tmp_path / "config.toml").write_text(CONFIG + "t_mx = 2.0\n")
    with pytest.raises(InputError, match=r"`\[quick\] run.t_mx` must override a setting"):
        Study(tmp_path / "study.py").config(quick=True)
    (tmp_path / "config.toml").write_text(CONFIG.replace("[run]", "[run\n"))
    with pytest.raises(InputError, match="not valid TOML"):
        Study(tmp_path / "study.py").config()


def _docstring_example():
    """The study.py and config.toml of oile_q.studies' module docstring (its two literal blocks)."""
    blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", studies.__doc__)
    assert len(blocks) == 2
    study_py, config = (re.sub(r"(?m)^    ", "", b).strip() + "\n" for b in blocks)
    return study_py, config


def _example_tree(root, name="example"):
    study_py, config = _docstring_example()
    folder = root / "comparisons" / name
    folder.mkdir(parents=True)
    (folder / "study.py").write_text(study_py)
    (folder / "config.toml").write_text(config)
    return root / "comparisons"


def test_docstring_example_runs_and_publishes(tmp_path, monkeypatch, capsys):
    """The module docstring's example, as a study in a fake source checkout: listed, run quick
    and full, published, indexed from report.json; a quick run is not published."""
    comparisons = _example_tree(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.setenv("OILE_Q_COMPARISONS", str(comparisons))
    assert list_studies() == {"example": "Two groups: the OILE map against the master equation."}
    assert studies.source_checkout()
    assert studies.default_output("example") == comparisons / "out" / "example"

    quick = tmp_path / "quick"
    report, _ = studies.run_study("example", quick, quick=True)
    with pytest.raises(InputError, match="--quick run"):
        studies.publish("example", quick)

    out = studies.default_output("example")
    report, seconds = studies.run_study("example", out)
    rep = json.loads((out / "report.json").read_text())
    assert report == out / "report.md" and seconds > 0
    assert rep["title"] == "Two groups" and rep["run"]["quick"] is False
    assert rep["run"]["version"] == oile_q.__version__ and rep["run"]["command"] == "oile-q study example"
    assert rep["figures"] == [{"file": "abs_mean.png", "alt": "|<P>| per group", "caption": "Solid: the map."}]
    assert [t["name"] for t in rep["tables"]] == ["metrics"] and rep["data"] == ["data_oile.nc", "data_master.nc"]
    shown = float(re.search(r"group means to (\S+)\.$", rep["shows"][0]).group(1))
    table = [ln for ln in rep["tables"][0]["markdown"].splitlines() if ln.startswith("| 1.000e-02")]
    assert shown == pytest.approx(float(table[0].split("|")[2]), rel=0.05)  # the bullet quotes the table (2 digits)
    md = report.read_text()
    assert "## What it shows\n\n- The master equation follows the group means to" in md
    assert "Run: `oile-q study example` (" in md and "Data (netCDF" in md

    dest = studies.publish("example", out)
    assert dest == comparisons / "results" / "example"
    assert {p.suffix for p in dest.iterdir()} == {".png", ".md", ".csv", ".json"}
    index = studies.write_index().read_text()
    assert "## example — Two groups: the OILE map against the master equation." in index
    assert "![example: |<P>| per group](results/example/abs_mean.png)" in index
    assert rep["tables"][0]["markdown"] in index
    assert "- " + rep["shows"][0] in index
    assert f"oile-q {oile_q.__version__}). [report](results/example/report.md)" in index


def test_installed_layout_runs_into_the_current_folder_and_refuses_to_publish(tmp_path, monkeypatch):
    comparisons = _example_tree(tmp_path)  # no pyproject.toml next to it: not a source checkout
    monkeypatch.setenv("OILE_Q_COMPARISONS", str(comparisons))
    monkeypatch.chdir(tmp_path)
    assert not studies.source_checkout()
    assert studies.default_output("example") == tmp_path / "example"
    with pytest.raises(InputError, match="`--publish` needs a writable source checkout"):
        studies.check_publish()
    with pytest.raises(InputError, match="`name` must be among"):
        studies.run_study("nosuch", tmp_path / "x")


def test_a_broken_study_does_not_hide_the_others(tmp_path, monkeypatch):
    comparisons = _example_tree(tmp_path)
    (comparisons / "broken").mkdir()
    (comparisons / "broken" / "study.py").write_text('"""Broken.\n\nx = (\n')
    (comparisons / "broken" / "config.toml").write_text("order = [\n")
    monkeypatch.setenv("OILE_Q_COMPARISONS", str(comparisons))
    found = list_studies()
    assert list(found) == ["example", "broken"]  # order 80, then the default order
    assert found["broken"].startswith("(cannot be read: SyntaxError")
