"""Checks of the oile_vs_exact_large_N study's own analysis (comparisons/oile_vs_exact_large_N):
the closed form of the OILE onset at theta = 0 against the OILE map itself, and the fitting
helpers against exact inputs. The whole study is smoke-run by tests/test_studies.py."""

import importlib.util

import numpy as np
import pytest

import oile_q
from oile_q.compare import parabola_min
from oile_q.studies import studies_dir


@pytest.fixture(scope="module")
def study():
    path = studies_dir() / "oile_vs_exact_large_N" / "study.py"
    spec = importlib.util.spec_from_file_location("oile_q_study_large_N_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PENDULUM = {"counts": [1, 1], "flavor": "ex", "omega": [-0.5, 0.5], "directions": "axis", "theta": 0.0}


@pytest.mark.parametrize(
    "n, gamma", [pytest.param(64, 0.05, id="N64_gamma0.05"), pytest.param(256, 0.1, id="N256_gamma0.1")]
)
def test_theta0_oile_retention_is_the_closed_form(study, n, gamma):
    """theta = 0 pendulum: the schedule-averaged flavor retention of the OILE map decays by
    (1 - 2 q sin^2 2 gamma) per step (q = (N/2)/(N-1)); checked step by step against 12
    schedules within 4 standard errors (plus the O(gamma^2) relative effect of the detuned
    pair propagator), and the onset formula against the same runs."""
    sc = study.beams(PENDULUM, n, gamma=gamma, theta=0.0)
    steps = 40
    runs = []
    for seed in range(12):
        ds = oile_q.run(sc, "oile", steps=steps, seed=seed)
        P = ds["P"].values
        assert np.abs(P[..., :2]).max() < 1e-12  # every P_a stays on the z axis
        runs.append((ds["P"] * ds["P0"]).sum("component").mean("particle").values)
    D = np.array(runs)
    q = (n / 2) / (n - 1)
    k = np.arange(steps + 1)
    closed = (1 - 2 * q * np.sin(2 * gamma) ** 2) ** k
    sem = D.std(0, ddof=1) / np.sqrt(len(D))
    assert np.all(np.abs(D.mean(0) - closed) <= 4 * sem + 2 * gamma**2 * (1 - closed) + 1e-12)
    t = ds["time"].values
    tau_runs = np.mean([study.first_below(t, d, 0.9) for d in D])
    assert tau_runs == pytest.approx(study.oile_onset_theta0(n, gamma, 0.1), abs=gamma)


def test_fit_helpers_recover_exact_inputs(study):
    x = np.linspace(-1.0, 1.0, 9)
    xm, edge = parabola_min(x, 3.0 * (x - 0.123) ** 2 + 0.5)
    assert not edge and xm == pytest.approx(0.123, abs=1e-12)
    assert parabola_min(x, x)[1]  # minimum at the scan edge is flagged
    ns = np.array([256, 512, 1024, 2048, 4096])
    fits, npts = study.scaling_fits(ns, 1.5 + 0.6 * np.log(ns))
    assert npts == 5 and fits["log"][0] == pytest.approx(0.6, rel=1e-12) and fits["log"][2] < 1e-12
    assert fits["sqrt"][2] > 0.01
    A, p = study.power_law(ns, 0.87 / ns)
    assert A == pytest.approx(0.87, rel=1e-12) and p == pytest.approx(-1.0, abs=1e-12)
    t = np.array([0.0, 1.0, 2.0])
    assert study.first_below(t, np.array([1.0, 0.95, 0.85]), 0.9) == pytest.approx(1.5, abs=1e-12)
    assert np.isnan(study.first_below(t, np.ones(3), 0.9))
