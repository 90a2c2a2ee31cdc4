"""The engine contract, checked for every registered engine (built-in and plug-in).

Each engine runs its own small example (``Engine.example()``) through ``oile_q.run``; the result
must have the shared layout and attrs, survive a netCDF round trip, re-run bit-identically from
the file's own attrs, and the engine must reject unknown and ill-typed options with one line
naming the option. Engines that follow the schedule ("replay") must replay an explicit schedule
exactly.
"""

import json

import numpy as np
import pytest

import oile_q
from oile_q.compare import deviation_table
from oile_q.engine import CAPABILITIES, GRIDS, get_engine, list_engines
from oile_q.errors import InputError
from oile_q.results import group_means, load, save
from oile_q.schedules import generate

ENGINES = sorted(list_engines())


class _Examples(dict):
    """One run of each engine's example, made on first use and shared by this module."""

    def __missing__(self, name):
        scenario, kw = get_engine(name).example()
        self[name] = (scenario, kw, oile_q.run(scenario, name, **kw))
        return self[name]


@pytest.fixture(scope="module")
def results():
    return _Examples()


def test_builtins_are_registered():
    assert {"oile", "meanfield", "master", "circuit", "exact", "closed"} <= set(ENGINES)


@pytest.mark.parametrize("name", ENGINES)
def test_declaration(name):
    eng = get_engine(name)
    assert eng.name == name and eng.summary and "\n" not in eng.summary
    assert eng.grid in GRIDS and set(eng.supports) <= set(CAPABILITIES)
    for opt in eng.options:
        assert opt.doc and "\n" not in opt.doc
        if opt.default is not None:
            assert opt.validate(opt.default) == opt.default  # defaults pass their own checks


@pytest.mark.parametrize("name", ENGINES)
def test_layout_and_attrs(name, results):
    scenario, kw, ds = results[name]
    n = scenario.n
    assert ds["P"].dims == ("time", "particle", "component")
    assert ds["P"].shape == (ds.sizes["time"], n, 3)
    assert list(ds["component"].values) == ["x", "y", "z"]
    for coord in ("time", "particle", "group", "omega", "velocity"):
        assert coord in ds.coords
    for key in (
        "engine",
        "gamma",
        "mu",
        "theta",
        "scenario_kind",
        "version",
        "scenario",
        "options",
        "schedule",
        "engine_stats",
    ):
        assert key in ds.attrs, key
    assert ds.attrs["engine"] == name
    stats = json.loads(ds.attrs["engine_stats"])
    assert stats["wall_s"] >= 0 and stats["steps"] >= 1
    json.loads(ds.attrs["options"])
    P = ds["P"].values
    finite = np.isfinite(P).all(axis=-1)
    assert finite.any()
    assert (np.linalg.norm(P[finite], axis=-1) <= 1 + 1e-9).all()  # |P| <= 1
    np.testing.assert_allclose(P[0], scenario.P0, atol=1e-12)  # starts where the scenario does


@pytest.mark.parametrize("name", ENGINES)
def test_netcdf_round_trip_and_rerun_from_file(name, results, tmp_path):
    _, _, ds = results[name]
    path = save(ds, tmp_path / f"{name}.nc")
    back = load(path)
    np.testing.assert_array_equal(back["P"].values, ds["P"].values)
    assert back.attrs["options"] == ds.attrs["options"]
    again = oile_q.rerun(path)
    np.testing.assert_array_equal(again["P"].values, ds["P"].values)  # bit-identical
    np.testing.assert_array_equal(again["time"].values, ds["time"].values)


@pytest.mark.parametrize("name", ENGINES)
def test_unknown_option_is_one_line_naming_it(name, results):
    scenario, kw, _ = results[name]
    with pytest.raises(InputError) as err:
        oile_q.run(scenario, name, **kw, frobnicate=3)
    msg = str(err.value)
    assert "`frobnicate`" in msg and name in msg and "\n" not in msg


@pytest.mark.parametrize("name,option", [(n, o.name) for n in ENGINES for o in get_engine(n).options])
def test_ill_typed_option_is_one_line_naming_it(name, option, results):
    scenario, kw, _ = results[name]
    with pytest.raises(InputError) as err:
        oile_q.run(scenario, name, **kw, **{option: object()})
    msg = str(err.value)
    assert f"`{option}`" in msg and "\n" not in msg


@pytest.mark.parametrize("name", [n for n in ENGINES if "replay" in get_engine(n).supports])
def test_explicit_schedule_replays_exactly(name, results):
    scenario, kw, ds = results[name]
    if scenario.kind == "foreground":
        pytest.skip("a foreground neutrino meets fresh partners: there is no schedule to replay")
    steps = int(kw["steps"])
    pairs = generate("matching", scenario.n, steps, seed=kw["seed"])
    replay = oile_q.run(scenario, name, **{**kw, "seed": None, "schedule": pairs})
    np.testing.assert_array_equal(replay["P"].values, ds["P"].values)
    np.testing.assert_array_equal(replay["schedule_pairs"].values, pairs)


@pytest.mark.parametrize("name", ENGINES)
def test_generic_helpers_agree_with_the_engine(name, results, tmp_path):
    """group_means, compare's deviations and sweep.collect give the engine's own group observables
    where it declares them (Engine.group_observables) and refuse what it does not provide; for the
    other engines they are the group statistics of P, computed here independently."""
    scenario, kw, ds = results[name]
    declared = get_engine(name).group_observables
    gm = group_means(ds)
    labels = np.asarray(ds["group"].values).astype(str)
    groups = list(dict.fromkeys(labels.tolist()))
    if declared is None:
        P = ds["P"].values
        for g in groups:
            Pg = P[:, labels == g]
            np.testing.assert_allclose(gm["mean"].sel(group=g).values, Pg.mean(1), rtol=0, atol=1e-15)
            np.testing.assert_allclose(
                gm["mean_abs"].sel(group=g).values, np.linalg.norm(Pg, axis=-1).mean(1), rtol=0, atol=1e-15
            )
    else:
        assert set(gm.data_vars) == set(declared.variables)
        for obs, var in declared.variables.items():
            own = ds[var].assign_coords(group=ds[var]["group_name"].values)
            np.testing.assert_array_equal(gm[obs].sel(group=groups).values, own.sel(group=groups).values)
        with pytest.raises(InputError, match="cannot be computed"):
            group_means(ds, observables=["mean"])
    (row,) = deviation_table({name: ds, "again": ds})
    assert row["max_dpurity"] == 0 and row["max_dabs_mean"] == 0
    assert np.isnan(row["max_dP"]) == np.isnan(row["max_dmean"]) == (declared is not None)
    # a one-point sweep of the same run, collected
    spec = {"scenario": scenario.to_dict(), "engine": name, "run": {k: v for k, v in kw.items() if k != "seed"}}
    if kw.get("seed") is not None:
        spec["run"]["seed"] = kw["seed"]
    res = oile_q.sweep(spec, tmp_path / "s", client="serial", progress=False)
    assert res.ok, res.failed
    col = oile_q.sweep.collect(res.out_dir).load()
    for obs in ("abs_mean", "mean_abs"):  # the engine's own values exactly; from P up to summation order
        got, want = col[f"group_{obs}"].sel(group_name=groups).values, gm[obs].sel(group=groups).values
        np.testing.assert_allclose(got, want, rtol=0, atol=0 if declared else 1e-15)
    assert np.isnan(col["group_mean"].values).all() == (declared is not None)


def test_every_engine_is_listed_with_its_options(capsys):
    from oile_q.cli import main

    assert main(["engines"]) == 0
    out = capsys.readouterr().out
    for name in ENGINES:
        assert f"{name}: " in out
        for opt in get_engine(name).options:
            assert opt.name in out
