"""The shared result (docs/results.md): an xarray.Dataset, its netCDF round trip and
the standard observables.

Layout: ``P`` (time, particle, component) in the flavor basis, coords ``time`` (mu t),
``particle``, ``component`` ("x", "y", "z"), per-particle ``group``, ``omega`` and
``velocity``; attrs engine, gamma, mu, theta, schedule (+ seed, p), version, scenario
(JSON, so a file re-runs) and the engine options.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._version import __version__
from .conventions import rotation_y
from .engine import GROUP_OBSERVABLES, engine_names, get_engine
from .errors import InputError, InputTypeError, describe
from .io import atomic_write, check_output_file
from .scenario import Scenario

__all__ = [
    "make_dataset",
    "save",
    "load",
    "scenario_of",
    "mass_basis",
    "purity",
    "group_means",
    "declared_group_observables",
    "mass_p3_sum",
    "summary",
]

COMPONENTS = ["x", "y", "z"]


def make_dataset(scenario, P, times, *, engine, schedule_attrs, options=None, extras=None):
    """Assemble the shared Dataset from Bloch vectors P (time, particle, 3), flavor basis."""
    import xarray as xr

    attrs = {
        "engine": engine,
        "gamma": scenario.gamma,
        "mu": scenario.mu,
        "theta": scenario.theta,
        "scenario_kind": scenario.kind,
        "version": __version__,
        # Scalars only: the per-particle arrays are the variables P0, omega, velocity and
        # group, so writing a result stays O(N) in bytes and cheap in time.
        "scenario": json.dumps(scenario.to_dict(arrays=False)),
        "options": json.dumps(options or {}, sort_keys=True),
    }
    attrs.update(schedule_attrs)
    ds = xr.Dataset(
        {"P": (("time", "particle", "component"), np.asarray(P, dtype=float))},
        coords={
            "time": ("time", np.asarray(times, dtype=float), {"long_name": "mu t"}),
            "particle": np.arange(scenario.n),
            "component": COMPONENTS,
            "group": ("particle", scenario.group.astype(str)),
            "omega": ("particle", np.asarray(scenario.omega, dtype=float)),
            "velocity": (("particle", "component"), np.asarray(scenario.velocity, dtype=float)),
        },
        attrs=attrs,
    )
    ds["P"].attrs["long_name"] = "Bloch vector (flavor basis)"
    ds["P0"] = (("particle", "component"), np.asarray(scenario.P0, dtype=float))
    ds["P0"].attrs["long_name"] = "initial Bloch vector (flavor basis)"
    for name, value in (extras or {}).items():
        ds[name] = value
    return ds


def save(ds, path, *, force=True) -> Path:
    """Write ``ds`` to netCDF atomically (a temporary file in the same folder, then rename).

    Only a regular file is ever written: a symbolic link, folder, device node or FIFO at
    ``path`` is refused, and an existing file is replaced only with ``force`` (the default
    here; the command line asks for ``--force``)."""
    path = check_output_file(path, force=force)
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"), mode=None)


def load(path):
    """Read a result written by ``save`` fully into memory (the file is closed again)."""
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def scenario_of(ds):
    """The Scenario a result was computed from."""
    data = json.loads(ds.attrs["scenario"])
    if "foreground" not in data:
        data["particles"] = {
            "P0": np.asarray(ds["P0"]).tolist(),
            "omega": np.asarray(ds["omega"]).tolist(),
            "velocity": np.asarray(ds["velocity"]).tolist(),
            "group": [str(g) for g in np.asarray(ds["group"])],
        }
    return Scenario.from_dict(data)


def mass_basis(ds):
    """Bloch vectors in the mass basis (rotate about y by +2 theta), same layout as ``P``."""
    theta = float(ds.attrs["theta"])
    R = rotation_y(2 * theta)
    out = ds["P"].copy(data=np.asarray(ds["P"]) @ R.T)
    out.attrs["long_name"] = "Bloch vector (mass basis)"
    return out


def purity(ds):
    """|P_a| per time and particle.

    Raises
    ------
    InputError
        For a result whose engine records its own group observables (``misci``): its ``P`` is
        not each particle's Bloch vector (see :func:`declared_group_observables`).
    """
    declared = declared_group_observables(ds)
    if declared is not None:
        raise InputError(
            f"`ds`: purity |P_a| per particle cannot be computed from a {ds.attrs.get('engine')} result: "
            f"{declared[1]}; use its group observables ({', '.join(declared[0].values())})."
        )
    return np.sqrt((ds["P"] ** 2).sum("component"))


def mass_p3_sum(ds):
    """sum_a P_3 in the mass basis, per time: conserved by every engine in an ensemble (a foreground
    neutrino exchanges P_3 with its background, so its own P_3 is not conserved)."""
    return mass_basis(ds).sel(component="z").sum("particle")


def declared_group_observables(ds):
    """What the engine of a result declared about its group observables (``Engine.group_observables``).

    Parameters
    ----------
    ds : xarray.Dataset
        A result of ``oile_q.run`` (or a file written by ``save``, loaded).

    Returns
    -------
    (dict, str) or None
        None when ``P`` is each particle's Bloch vector (every engine but ``misci``); otherwise
        ({observable: the result's variable holding it}, why ``P`` cannot give them). Read from
        the result's attrs, or for a result written before they were recorded, from the engine
        registered under its name.
    """
    a = ds.attrs
    if "group_observables" in a:
        return json.loads(a["group_observables"]), str(a.get("group_observables_reason", ""))
    name = a.get("engine")
    if not isinstance(name, str) or name not in engine_names():
        return None
    try:
        declared = get_engine(name).group_observables
    except InputError:  # an engine whose dependencies are missing here declared nothing we can read
        return None
    return None if declared is None else (dict(declared.variables), declared.reason)


def group_means(ds, basis="flavor", observables=None):
    """Per-group statistics of a result: the mean <P>, the min and max (the range), |<P>| and <|P|>.

    For an engine that records its own group observables because its ``P`` is not each
    particle's Bloch vector (``misci``: phase-approximate, without the dephased parts), the
    engine's own values are returned and the observables it does not provide are left out
    (attributes ``not_available`` and ``not_available_reason`` say which and why), or refused
    when asked for by name.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of ``oile_q.run``.
    basis : {"flavor", "mass"}
        Basis of the vector statistics (|<P>| and <|P|> do not depend on it).
    observables : sequence of str, optional
        Among "mean", "min", "max", "abs_mean", "mean_abs" (default: every one the result
        provides).

    Returns
    -------
    xarray.Dataset
        ``mean``, ``min``, ``max`` (time, group, component), ``abs_mean`` and ``mean_abs``
        (time, group); attrs ``basis`` (and ``not_available``, ``not_available_reason``).

    Raises
    ------
    InputError
        An unknown basis or observable, or one the result's engine does not provide.

    Examples
    --------
    >>> import oile_q
    >>> sc = oile_q.Scenario.from_groups([dict(name="e", count=2, flavor="e", omega=0.5),
    ...                                   dict(name="x", count=2, flavor="x", omega=-0.5)], gamma=0.1)
    >>> gm = group_means(oile_q.run(sc, "oile", steps=3, seed=1))
    >>> sorted(gm.data_vars), gm["mean_abs"].dims
    (['abs_mean', 'max', 'mean', 'mean_abs', 'min'], ('time', 'group'))
    """
    import xarray as xr

    if basis not in ("flavor", "mass"):
        raise InputError(f"`basis` must be 'flavor' or 'mass'; got {basis!r}.")
    wanted = _observable_names(observables)
    declared = declared_group_observables(ds)
    own, omitted = {}, []
    if declared is not None:
        own = {k: v for k, v in declared[0].items() if k in wanted}
        omitted = [k for k in wanted if k not in own]
        if omitted and observables is not None:
            raise InputError(
                f"`observables` {omitted[0]!r} cannot be computed from a {ds.attrs.get('engine')} result: "
                f"{declared[1]}; it provides {', '.join(own) or 'none of those asked for'}."
            )
    out = xr.Dataset()
    if declared is None:
        out = _group_stats(ds, basis).get(list(wanted))
    for name, var in own.items():
        v = ds[var]
        out[name] = v.drop_vars("group_name").assign_coords(group=("group", [str(g) for g in v["group_name"].values]))
    out.attrs["basis"] = basis
    if omitted:  # what is left out, and why
        out.attrs["not_available"] = ", ".join(omitted)
        out.attrs["not_available_reason"] = f"the {ds.attrs.get('engine')} engine's {declared[1]}"
    return out


def _observable_names(observables) -> list:
    if observables is None:
        return list(GROUP_OBSERVABLES)
    if isinstance(observables, str) or not all(isinstance(o, str) for o in observables):
        raise InputTypeError(f"`observables` must be a list of names; got {describe(observables)}.")
    bad = [o for o in observables if o not in GROUP_OBSERVABLES]
    if bad:
        raise InputError(f"`observables` must be among {list(GROUP_OBSERVABLES)}; got {bad[0]!r}.")
    return list(dict.fromkeys(observables))


def _group_stats(ds, basis):
    """Every group statistic computed from ``P``."""
    import xarray as xr

    P = ds["P"] if basis == "flavor" else mass_basis(ds)
    norm = np.sqrt((P**2).sum("component"))
    grouped = P.groupby("group")
    mean = grouped.mean("particle")
    return xr.Dataset(
        {
            "mean": mean,
            "min": grouped.min("particle"),
            "max": grouped.max("particle"),
            "abs_mean": np.sqrt((mean**2).sum("component")),
            "mean_abs": norm.groupby("group").mean("particle"),
        }
    )


def summary(ds) -> str:
    """A few readable lines about a result: engine, scenario, times, schedule, options and the
    run statistics (wall time, steps, engine counters)."""
    a = ds.attrs
    t = np.asarray(ds["time"])
    lines = [
        f"{a.get('engine', '?')}: {ds.sizes.get('particle', 0)} particle(s) ({a.get('scenario_kind', '?')}), "
        f"gamma = {a.get('gamma', float('nan')):g}, theta = {a.get('theta', float('nan')):g}, "
        f"mu = {a.get('mu', float('nan')):g}"
    ]
    sched = a.get("schedule", "?")
    if "seed" in a:
        sched += f" (seed {a['seed']})"
    if "p" in a:
        sched += f", p = {a['p']:g}"
    lines.append(f"  {t.size} recorded times, mu t = {t[0]:g} .. {t[-1]:g}; schedule {sched}")
    opts = json.loads(a.get("options", "{}"))
    if opts:
        lines.append("  options: " + ", ".join(f"{k}={v!r}" for k, v in sorted(opts.items())))
    stats = json.loads(a.get("engine_stats", "{}"))
    if stats:
        wall = stats.pop("wall_s", None)
        head = f"  run: {wall:.3g} s" if wall is not None else "  run:"
        rest = ", ".join(f"{k} {v}" for k, v in sorted(stats.items()) if not isinstance(v, (list, dict)))
        lines.append(head + (f"; {rest}" if rest else ""))
    return "\n".join(lines)
