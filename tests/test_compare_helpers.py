"""The curve helpers of oile_q.compare that the studies share, against exact inputs."""

import numpy as np
import pytest
import xarray as xr

from oile_q.compare import first_below, on_grid, parabola_min, time_rms


def test_parabola_min_recovers_a_parabola_and_flags_the_edges():
    x = np.linspace(-1.0, 1.0, 9)
    xm, edge = parabola_min(x, 3.0 * (x - 0.123) ** 2 + 0.5)
    assert not edge and xm == pytest.approx(0.123, abs=1e-12)
    assert parabola_min(x, x) == (-1.0, True) and parabola_min(x, -x) == (1.0, True)
    assert parabola_min(x, -np.abs(x - 0.1) + 0 * x)[1] is True  # a maximum inside: the edge is the minimum


def test_time_rms_is_the_time_average_on_uneven_grids():
    t = np.concatenate([np.linspace(0, 1, 11), np.linspace(1.5, 4.0, 6)])
    assert time_rms(t, np.full(t.size, 0.3), 4.0) == pytest.approx(0.3, rel=1e-14)
    # a linear deviation on [0, 1]: rms of t is 1/sqrt(3) (trapezoid rule is exact for t^2 only in the limit)
    fine = np.linspace(0, 1, 20001)
    assert time_rms(fine, fine, 1.0) == pytest.approx(1 / np.sqrt(3), rel=1e-8)
    assert time_rms(t, np.where(t <= 1, 0.0, 5.0), 1.0) == 0.0  # the window stops at mu t = 1
    np.testing.assert_allclose(time_rms(t, np.ones((2, t.size)) * [[1.0], [2.0]], 4.0), [1.0, 2.0], rtol=1e-14)


def test_first_below_interpolates_and_on_grid_skips_unrecorded_times():
    t = np.array([0.0, 1.0, 2.0])
    assert first_below(t, np.array([1.0, 0.95, 0.85]), 0.9) == pytest.approx(1.5, abs=1e-12)
    assert np.isnan(first_below(t, np.ones(3), 0.9)) and np.isnan(first_below(t, np.zeros(3), 0.9))
    v = xr.DataArray([0.0, np.nan, 2.0, 3.0], coords={"time": [0.0, 0.5, 1.0, 1.5]}, dims="time")
    np.testing.assert_allclose(on_grid(np.array([0.25, 0.5, 1.25]), v), [0.5, 1.0, 2.5], rtol=1e-14)


def test_fit_log_scan_finds_the_parameter_of_a_family_of_curves():
    """Curves exp(-g t) on a log grid of g, two 'seeds' offset by +-1% in g: the best g for the
    target exp(-0.037 t) is found within the parabola's accuracy, each seed's optimum
    straddles it, and the seed average's rms vanishes nowhere but near 0.037."""
    from oile_q.compare import fit_log_scan

    t = np.linspace(0.0, 20.0, 401)
    grid = np.geomspace(0.005, 0.5, 21)
    curves = np.array([[np.exp(-g * f * t) for f in (0.99, 1.01)] for g in grid])
    f_mean, cand = fit_log_scan(grid, t, curves, np.exp(-0.037 * t), 20.0)
    assert f_mean.shape == grid.shape and not cand["at_edge"]
    assert cand["gamma"] == pytest.approx(0.037, rel=0.02)
    lo, hi = sorted(cand["per_seed"])
    assert lo < cand["gamma"] < hi
    _, edge = fit_log_scan(grid, t, curves, np.exp(-0.9 * t), 20.0)
    assert edge["at_edge"] and edge["gamma"] == grid[-1]
