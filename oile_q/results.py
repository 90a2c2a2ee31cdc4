"""The shared result (DESIGN.md section 5): an xarray.Dataset, its netCDF round trip and
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

from .conventions import rotation_y
from .errors import InputError

__all__ = [
    "make_dataset",
    "save",
    "load",
    "scenario_of",
    "mass_basis",
    "purity",
    "group_means",
    "mass_p3_sum",
    "summary",
]

COMPONENTS = ["x", "y", "z"]


def make_dataset(scenario, P, times, *, engine, schedule_attrs, options=None, extras=None):
    """Assemble the shared Dataset from Bloch vectors P (time, particle, 3), flavor basis."""
    import xarray as xr

    from ._version import __version__

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
    from .io import atomic_write, check_output_file

    path = check_output_file(path, force=force)
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"), mode=None)


def load(path):
    """Read a result written by ``save`` fully into memory (the file is closed again)."""
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def scenario_of(ds):
    """The Scenario a result was computed from."""
    from .scenario import Scenario

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
    """|P_a| per time and particle."""
    return np.sqrt((ds["P"] ** 2).sum("component"))


def mass_p3_sum(ds):
    """sum_a P_3 in the mass basis: conserved by every engine's flavor dynamics."""
    return mass_basis(ds).sel(component="z").sum("particle")


def group_means(ds, basis="flavor"):
    """Per-group statistics: mean <P>, min and max (the range), |<P>| and <|P|>."""
    import xarray as xr

    if basis not in ("flavor", "mass"):
        raise InputError(f"`basis` must be 'flavor' or 'mass'; got {basis!r}.")
    P = ds["P"] if basis == "flavor" else mass_basis(ds)
    norm = np.sqrt((P**2).sum("component"))
    grouped = P.groupby("group")
    mean = grouped.mean("particle")
    out = xr.Dataset(
        {
            "mean": mean,
            "min": grouped.min("particle"),
            "max": grouped.max("particle"),
            "abs_mean": np.sqrt((mean**2).sum("component")),
            "mean_abs": norm.groupby("group").mean("particle"),
        }
    )
    out.attrs["basis"] = basis
    return out


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
