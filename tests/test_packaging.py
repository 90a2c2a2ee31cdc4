"""The wheel: built from this source tree, installed into a fresh venv, it runs a study.

The wheel must carry every study (``oile_q.comparisons``: each ``study.py`` and
``config.toml``) but not ``comparisons/results`` or ``comparisons/out``. Installed with
``--no-deps`` into a temporary venv that reaches the test environment's packages through a
``.pth`` file (which does not process the editable install's own ``.pth`` hook, so the wheel's
``oile_q`` is the one imported), ``oile-q study encounter_channel --quick`` run from a folder
outside the checkout writes its outputs into that folder.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "out", "*.nc"
)


def _run(cmd, **kw):
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert res.returncode == 0, f"{cmd} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Build the wheel from a copy of the source tree (the checkout itself is not touched),
    with a decoy comparisons/out/ folder that must stay out of it."""
    src = tmp_path_factory.mktemp("src") / "oile-q"
    shutil.copytree(ROOT, src, ignore=SKIP)
    decoy = src / "comparisons" / "out" / "encounter_channel"
    decoy.mkdir(parents=True)
    (decoy / "config.toml").write_text("# a run output, not package data\n")
    (decoy / "report.md").write_text("decoy\n")
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(src)])
    (path,) = dist.glob("oile_q-*.whl")
    return path


def test_wheel_holds_every_study_and_no_results(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    studies = sorted(p.parent.name for p in (ROOT / "comparisons").glob("*/study.py"))
    assert studies
    for s in studies:  # a study missing from pyproject's packages list fails here
        assert f"oile_q/comparisons/{s}/study.py" in names, s
        assert f"oile_q/comparisons/{s}/config.toml" in names, s
    assert "oile_q/comparisons/__init__.py" in names
    assert not [n for n in names if n.startswith(("oile_q/comparisons/results/", "oile_q/comparisons/out/"))]
    assert not [n for n in names if n.endswith((".png", ".nc", ".csv"))]
    assert any(n.endswith("licenses/LICENSE") for n in names)
    # every package of the source tree (a folder with __init__.py), e.g. a new sub-package that
    # pyproject's packages list forgot
    for folder, prefix in (("oile_q", "oile_q"), ("circuits", "oile_q/circuits"), ("exact", "oile_q/exact")):
        for init in (ROOT / folder).rglob("__init__.py"):
            module = f"{prefix}/{init.relative_to(ROOT / folder).as_posix()}"
            assert module in names, module


def test_version_has_one_source():
    """``oile_q.__version__`` is the installed distribution's version, which pyproject.toml sets."""
    import importlib.metadata
    import tomllib

    import oile_q

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert oile_q.__version__ == importlib.metadata.version("oile-q") == declared


def test_installed_wheel_runs_a_study_in_the_current_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    purelib = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # The test environment's packages (numpy, qiskit, ...), as a plain path: .pth files in
    # that folder (the editable install's finder) are not processed.
    (purelib / "test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "--quiet", str(wheel)]
    )

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("OILE_Q_COMPARISONS", "PYTHONPATH")}
    where = _run(
        [
            str(py),
            "-c",
            "import oile_q, oile_q.studies as s; print(oile_q.__file__); "
            "print(s.studies_dir()); print(s.source_checkout()); print(list(s.list_studies()))",
        ],
        cwd=work,
        env=env,
    ).stdout.splitlines()
    assert Path(where[0]).is_relative_to(purelib), where
    assert Path(where[1]) == purelib / "oile_q" / "comparisons", where
    assert where[2] == "False"
    assert "encounter_channel" in where[3]

    res = _run([str(venv / "bin" / "oile-q"), "study", "encounter_channel", "--quick"], cwd=work, env=env)
    out = work / "encounter_channel"
    assert str(out) in res.stdout
    files = {p.name for p in out.iterdir()}
    assert {
        "report.md",
        "report.json",
        "entanglement.png",
        "bloch_ball.png",
        "chain.png",
        "metrics.csv",
        "data_oile.nc",
    } <= files, files
    assert not (purelib / "oile_q" / "comparisons" / "out").exists()

    bad = subprocess.run(
        [str(venv / "bin" / "oile-q"), "study", "encounter_channel", "--publish"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert bad.returncode == 2, bad.stderr
    assert "source checkout" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
