"""Adding an engine touches one file: the recipe of docs/architecture.md, run as written, gives an
engine that works through ``oile_q.run``, ``oile-q run`` and ``oile-q compare``. A deliberate
bug inside an engine is reported as a bug (exit 1), not as bad input (exit 2)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import groups_toml

import oile_q
from oile_q.cli import main
from oile_q.engine import Engine, Output, register_engine, unregister_engine
from oile_q.results import load

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

SCENARIO = groups_toml(("e", 3, "e", 0.2), ("x", 2, (0.6, 0.0, -0.8), -0.4), seed=2)


def recipe() -> str:
    """The Python block under "## How to add an engine" in docs/architecture.md."""
    text = DOC.read_text().split("## How to add an engine", 1)[1]
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


@pytest.fixture
def damped():
    namespace = {}
    exec(compile(recipe(), str(DOC), "exec"), namespace)
    yield namespace["Damped"]
    unregister_engine("damped")


def test_recipe_is_a_dozen_lines():
    lines = [ln for ln in recipe().splitlines() if ln.strip()]
    assert len(lines) <= 16


def test_toy_engine_through_run(damped):
    sc = oile_q.Scenario.from_groups(
        [dict(name="e", count=3, flavor="e"), dict(name="x", count=2, flavor="x")], gamma=0.1, seed=2
    )  # odd N: the engine says it copes
    ds = oile_q.run(sc, "damped", t_max=1.0, times=[0.0, 0.5, 1.0], rate=0.5)
    np.testing.assert_allclose(ds.P.values[:, 0, 2], np.exp(-0.5 * np.array([0.0, 0.5, 1.0])), rtol=1e-14)
    assert json.loads(ds.attrs["options"]) == {"rate": 0.5}
    assert json.loads(ds.attrs["engine_stats"])["evaluations"] == 3
    assert "damped" in oile_q.list_engines()
    with pytest.raises(ValueError, match="`rate` must be >= 0.0"):
        oile_q.run(sc, "damped", t_max=1.0, rate=-1.0)
    with pytest.raises(ValueError, match="`frobnicate` is not an option of engine 'damped'"):
        oile_q.run(sc, "damped", t_max=1.0, frobnicate=1)


def test_toy_engine_through_the_command_line(damped, tmp_path, capsys):
    scen = tmp_path / "s.toml"
    scen.write_text(SCENARIO)
    out = tmp_path / "d.nc"
    assert main(["run", str(scen), "--engine", "damped", "--t-max", "2", "--rate", "0.25", "-o", str(out)]) == 0
    ds = load(out)
    np.testing.assert_allclose(ds.P.values[-1, 0, 2], np.exp(-0.5), rtol=1e-12)
    assert main(["engines"]) == 0
    assert "damped: toy" in capsys.readouterr().out
    cmp = tmp_path / "cmp"
    flags = "--engines damped,meanfield --t-max 1 --set damped.rate=2 --set meanfield.rtol=1e-8".split()
    assert main(["compare", str(scen), *flags, "-o", str(cmp)]) == 0
    assert (cmp / "compare.png").is_file() and (cmp / "damped.nc").is_file()
    np.testing.assert_allclose(load(cmp / "damped.nc").P.values[-1, 0, 2], np.exp(-2.0), rtol=1e-12)
    assert json.loads(load(cmp / "meanfield.nc").attrs["options"])["rtol"] == 1e-8


def test_compare_validates_every_engine_before_running_any(damped, tmp_path, capsys):
    scen = tmp_path / "s.toml"
    scen.write_text(SCENARIO)
    cmp = tmp_path / "cmp"
    rc = main(
        ["compare", str(scen), *"--engines damped,meanfield --t-max 1 --set meanfield.rtol=-1".split(), "-o", str(cmp)]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "`rtol` must be positive" in err
    assert not cmp.exists() or not any(cmp.iterdir())


class Broken(Engine):
    name = "broken"
    summary = "an engine with a bug"
    grid = "continuous"
    supports = frozenset({"ensemble", "foreground", "odd_n"})

    def run(self, request):
        lookup = {}
        return Output(P=np.zeros((len(request.times), request.scenario.n, 3)) + lookup["missing"])


def test_internal_error_is_not_reported_as_bad_input(tmp_path, capsys):
    register_engine(Broken)
    try:
        scen = tmp_path / "s.toml"
        scen.write_text(SCENARIO)
        out = tmp_path / "o.nc"
        rc = main(["run", str(scen), "--engine", "broken", "--t-max", "1", "-o", str(out)])
    finally:
        unregister_engine("broken")
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback" in err and "internal error" in err and "KeyError" in err
    assert "oile-q: error:" not in err
    assert not out.exists()


def test_a_plugin_package_registers_through_the_entry_point_group(tmp_path, monkeypatch):
    """A third-party package adds an engine with an entry point in group 'oile_q.engines' and no
    change to oile-q: here a minimal installed distribution on sys.path."""
    import oile_q.engine as registry

    (tmp_path / "toyplug.py").write_text(
        recipe().replace("register_engine(Damped)\n", "").replace('name = "damped"', 'name = "plugged"')
    )
    dist = tmp_path / "toyplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[oile_q.engines]\nplugged = toyplug:Damped\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    try:
        assert "plugged" in registry.engine_names()
        sc = oile_q.Scenario.from_groups([dict(name="e", count=3, flavor="e")], gamma=0.1)
        ds = oile_q.run(sc, "plugged", t_max=1.0, rate=1.0)
        np.testing.assert_allclose(ds.P.values[-1, :, 2], np.exp(-1.0), rtol=1e-14)
    finally:
        unregister_engine("plugged")
