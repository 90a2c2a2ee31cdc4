"""`oile-q circuit`: run, draw, fetch and bad input (one line, exit status 2, no file)."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("qiskit_aer")

from oile_q import run  # noqa: E402
from oile_q.circuits.cli import main  # noqa: E402
from oile_q.results import load, scenario_of  # noqa: E402

FOREGROUND = """
gamma = 0.2
theta = 0.3
[foreground]
P = [0.0, 0.0, 1.0]
Q = [0.6, 0.0, 0.8]
vdotu = 0.3
omega = 0.8
"""

ENSEMBLE = """
gamma = 0.3
theta = 0.2
seed = 4
[[group]]
name = "e"
count = 2
flavor = "e"
omega = 0.5
[[group]]
name = "x"
count = 2
flavor = "x"
omega = -0.8
"""


@pytest.fixture
def files(tmp_path):
    fg = tmp_path / "fg.toml"
    fg.write_text(FOREGROUND)
    ens = tmp_path / "ens.toml"
    ens.write_text(ENSEMBLE)
    return tmp_path, fg, ens


def test_run_writes_result_and_drawings(files, capsys):
    tmp, fg, _ = files
    out = tmp / "fg.nc"
    assert main([str(fg), "--steps", "6", "--compile", "isometry", "--draw", str(tmp / "d"), "-o", str(out)]) == 0
    ds = load(out)
    ref = run(scenario_of(ds), "oile", steps=6)
    np.testing.assert_allclose(ds.P.values, ref.P.values, atol=1e-10)
    assert ds.attrs["backend"] == "aer" and ds.attrs["isometry_encounters"] == 6
    for name in ("d_encounter.png", "d_circuit.png"):
        data = (tmp / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert "wrote" in capsys.readouterr().out


def test_run_ensemble_tree_with_shots(files):
    tmp, _, ens = files
    out = tmp / "ens.nc"
    assert (
        main(
            [
                "run",
                str(ens),
                "--steps",
                "2",
                "--backend",
                "aer-shots",
                "--shots",
                "500",
                "--seed",
                "3",
                "--seed-simulator",
                "2",
                "--particles",
                "0,3",
                "--times",
                "0.6",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    ds = load(out)
    assert ds.P_stderr.shape == ds.P.shape and int(ds.particle_computed.sum()) == 2


@pytest.mark.parametrize(
    "args,match",
    [
        (["{ens}", "--steps", "6", "--backend", "fake_manila"], "needs 7 qubits"),
        (["{fg}", "--steps", "3", "--backend", "aer-shots", "--shots", "0"], "`shots` must be a positive integer"),
        (["{fg}", "--steps", "3", "--backend", "fake_atlantis"], "not a fake IBM backend"),
        (["{fg}", "--steps", "3", "--backend", "fake_melbourne"], "does not support reset"),
        (["{ens}", "--steps", "13"], "encounters"),
        (["{fg}", "--steps", "3", "--compile", "magic"], "invalid choice"),
        (["{tmp}/missing.toml", "--steps", "3"], "not found"),
        (["fetch", "0123abc", "--scenario", "{fg}", "--steps", "3", "--backend", "fake_manila"], "ibm:<name>"),
    ],
)
def test_bad_input_one_line_status_2_no_file(files, capsys, args, match):
    tmp, fg, ens = files
    out = tmp / "bad.nc"
    argv = [a.format(fg=fg, ens=ens, tmp=tmp) for a in args] + ["-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and "Traceback" not in err
    assert not out.exists()


def test_ibm_run_and_fetch_without_credentials(files, tmp_path):
    _, fg, _ = files
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for argv in (
        ["run", str(fg), "--steps", "2", "--backend", "ibm:ibm_brisbane"],
        ["fetch", "d1abc", "--scenario", str(fg), "--steps", "2", "--backend", "ibm:ibm_brisbane"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "oile_q.cli", "circuit", *argv, "-o", str(tmp_path / "x.nc")],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1 and "saved IBM Quantum account" in proc.stderr
        assert not (tmp_path / "x.nc").exists()


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "fetch" in capsys.readouterr().out


class _FakeService:
    """Stands in for QiskitRuntimeService only: hands out a fake device for a name, submits nothing."""

    def __init__(self):
        self.asked = []

    def backend(self, name):
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2

        self.asked.append(name)
        return FakeManilaV2()


def test_dry_run_prints_the_cost_and_prediction_and_writes_nothing(files, capsys):
    tmp, fg, _ = files
    before = sorted(tmp.iterdir())
    assert (
        main(
            [
                str(fg),
                "--steps",
                "4",
                "--times",
                "0,0.8",
                "--backend",
                "aer-noise:fake_manila",
                "--mitigate",
                "readout,zne",
                "--shots",
                "3000",
                "--seed-simulator",
                "4",
                "--dry-run",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert sorted(tmp.iterdir()) == before
    assert "nothing is submitted" in out and "6 measured circuits -> 18 device circuits" in out
    assert "shots: 1000 per device circuit" in out and "estimated fidelity (ESP)" in out
    assert "estimated device time" in out and "per measured circuit" in out and "oile_foreground_r1_z" in out
    assert "predicted deviation from the ideal map, unmitigated" in out and ", mitigated" in out


def test_dry_run_on_ibm_hardware_goes_up_to_the_service_and_submits_nothing(files, capsys, monkeypatch):
    from oile_q.circuits import backends

    tmp, fg, _ = files
    service = _FakeService()
    monkeypatch.setattr(backends, "ibm_service", lambda: service)
    submitted = []
    monkeypatch.setattr(backends, "run_counts", lambda *a, **k: submitted.append(a))
    assert (
        main(
            [
                str(fg),
                "--steps",
                "3",
                "--backend",
                "ibm:ibm_fake",
                "--mitigate",
                "all",
                "--twirls",
                "4",
                "--dry-run",
                "--no-predict",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert service.asked == ["ibm_fake"] and submitted == []
    assert "here: readout,zne; by the service: twirl,dd" in out
    assert "predicted deviation" not in out


@pytest.mark.parametrize(
    "args,match",
    [
        (
            ["{fg}", "--steps", "3", "--backend", "aer-noise:fake_manila", "--dry-run", "-o", "{tmp}/x.nc"],
            "writes nothing",
        ),
        (["{fg}", "--steps", "3", "--backend", "aer", "--dry-run"], "backend 'aer' is exact"),
        (
            ["{fg}", "--steps", "3", "--backend", "aer-noise:fake_manila", "--no-predict", "-o", "{tmp}/x.nc"],
            "--dry-run only",
        ),
        (["{fg}", "--steps", "3", "--backend", "aer-noise:fake_manila"], "`--output` is required"),
        (
            ["{fg}", "--steps", "3", "--backend", "aer-shots", "--mitigate", "twirl", "-o", "{tmp}/x.nc"],
            "need a device backend",
        ),
        (
            ["{fg}", "--steps", "3", "--backend", "aer-noise:fake_manila", "--mitigate", "zen", "-o", "{tmp}/x.nc"],
            "`mitigate` takes",
        ),
        (
            [
                "{fg}",
                "--steps",
                "3",
                "--backend",
                "aer-noise:fake_manila",
                "--mitigate",
                "zne",
                "--zne-scales",
                "1,2",
                "-o",
                "{tmp}/x.nc",
            ],
            "odd integers",
        ),
    ],
)
def test_dry_run_and_mitigation_bad_input(files, capsys, args, match):
    tmp, fg, ens = files
    argv = [a.format(fg=fg, ens=ens, tmp=tmp) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and "Traceback" not in err, err
    assert not (tmp / "x.nc").exists()
