"""The shared result: layout, netCDF round trip and observables."""

import subprocess
import sys

import numpy as np

from oile_q import Scenario, run
from oile_q.results import group_means, load, mass_basis, mass_p3_sum, purity, save, scenario_of


def _scenario():
    return Scenario.from_groups(
        [dict(name="nu_e", count=6, flavor="e", omega=0.1), dict(name="nu_x", count=4, flavor="x", omega=0.2)],
        gamma=0.05,
        theta=0.1,
        seed=5,
    )


def test_layout_and_attrs():
    ds = run(_scenario(), "oile", steps=10, seed=3, propagator="symmetric")
    assert ds.P.dims == ("time", "particle", "component")
    assert list(ds.component.values) == ["x", "y", "z"]
    for name in ("group", "omega", "velocity"):
        assert name in ds.coords
    for key in ("engine", "gamma", "mu", "theta", "schedule", "seed", "version", "scenario"):
        assert key in ds.attrs
    assert ds.attrs["engine"] == "oile" and '"propagator": "symmetric"' in ds.attrs["options"]


def test_netcdf_round_trip_is_lossless(tmp_path):
    for engine in ("oile", "master"):
        ds = run(_scenario(), engine, steps=20, seed=3)
        path = save(ds, tmp_path / f"{engine}.nc")
        back = load(path)
        assert back.identical(ds)
        assert scenario_of(back) == _scenario()
        # the stored scenario re-runs to the same result
        again = run(scenario_of(back), engine, steps=20, seed=3)
        assert np.array_equal(again.P.values, ds.P.values)
    assert not list(tmp_path.glob("*.part"))


def test_observables():
    ds = run(_scenario(), "oile", steps=100, seed=1)
    Pm = mass_basis(ds)
    np.testing.assert_allclose(np.linalg.norm(Pm.values, axis=-1), purity(ds).values, atol=1e-14)
    np.testing.assert_allclose(mass_p3_sum(ds).values, Pm.sel(component="z").sum("particle").values)
    gm = group_means(ds, basis="mass")
    assert set(gm.group.values) == {"nu_e", "nu_x"}
    e = Pm.values[:, :6]
    np.testing.assert_allclose(gm["mean"].sel(group="nu_e").values, e.mean(1), atol=1e-14)
    np.testing.assert_allclose(gm["min"].sel(group="nu_e").values, e.min(1))
    np.testing.assert_allclose(gm["mean_abs"].sel(group="nu_e").values, np.linalg.norm(e, axis=-1).mean(1), atol=1e-14)
    # kinematic decoherence is bounded by quantum decoherence: |<P>| <= <|P|>
    assert np.all(gm["abs_mean"].values <= gm["mean_abs"].values + 1e-14)


def test_import_stays_light():
    code = (
        "import sys, oile_q; heavy = [m for m in ('qiskit', 'quspin', 'numba', 'xarray', 'scipy', 'matplotlib')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
