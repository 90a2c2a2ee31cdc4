"""Reading a sweep back: ``collect`` combines the point files lazily into one Dataset with the
sweep axes as dimensions, group observables and their statistics over an ensemble dimension;
``load_point`` returns one point as the engine's own Dataset."""

from __future__ import annotations

import json

import numpy as np

from ..engine import get_engine
from ..errors import InputError, InputTypeError, describe
from ..results import COMPONENTS, declared_group_observables, load
from .common import MANIFEST, params_label, short_text
from .store import Store

__all__ = ["collect", "load_point"]


def _observables(P, labels, theta, basis):
    """The group observables of Bloch vectors ``P`` (..., particle, component), lazily.

    ``labels``: the group label of each particle, a 1-D array (every point has the same
    particles) or a DataArray over some sweep dimensions and ``particle`` ("" pads a point with
    fewer particles); ``theta``: the mixing angle (a number, or a DataArray over sweep
    dimensions) for the mass basis, where P_mass = R_y(2 theta) P.
    Returns ``group_mean`` <P>_g (..., group_name, component), ``group_abs_mean`` |<P>_g| and
    ``group_mean_abs`` <|P|>_g (..., group_name)."""
    import xarray as xr

    dims = P.dims
    P = P.reset_coords(drop=True)
    if basis == "mass":
        c, s = np.cos(2 * theta), np.sin(2 * theta)
        x, y, z = (P.sel(component=k, drop=True) for k in COMPONENTS)
        P = (
            xr.concat(
                [c * x + s * z, y, c * z - s * x], dim="component", coords="minimal", compat="override", join="exact"
            )
            .assign_coords(component=COMPONENTS)
            .transpose(*dims)
        )
    means, mean_abs = [], []
    if isinstance(labels, xr.DataArray):
        # Particles differ between points (N or count axes): one mask per group over the sweep
        # dimensions it depends on. Sums with skipna=False keep a time a point did not record NaN.
        names = [g for g in dict.fromkeys(np.asarray(labels).ravel().tolist()) if g != ""]
        length = np.sqrt((P**2).sum("component", skipna=False))
        for g in names:
            mask = labels == g
            n = mask.sum("particle")
            n = n.where(n > 0)
            means.append(P.where(mask, 0.0).sum("particle", skipna=False) / n)
            mean_abs.append(length.where(mask, 0.0).sum("particle", skipna=False) / n)
    else:
        labels = np.asarray(labels).astype(str)
        names = list(dict.fromkeys(labels.tolist()))
        for g in names:
            Pg = P.isel(particle=np.flatnonzero(labels == g))
            means.append(Pg.mean("particle"))
            mean_abs.append(np.sqrt((Pg**2).sum("component")).mean("particle"))
    idx = {"group_name": names}
    gm = xr.concat(means, dim="group_name", coords="minimal", compat="override").assign_coords(idx)
    ga = xr.concat(mean_abs, dim="group_name", coords="minimal", compat="override").assign_coords(idx)
    rest = [d for d in dims if d not in ("particle", "component")]
    out = xr.Dataset(
        {
            "group_mean": gm.transpose(*rest, "group_name", "component"),
            "group_abs_mean": np.sqrt((gm**2).sum("component")).transpose(*rest, "group_name"),
            "group_mean_abs": ga.transpose(*rest, "group_name"),
        }
    )
    out["group_mean"].attrs["long_name"] = f"group mean Bloch vector <P>_g ({basis} basis)"
    out["group_abs_mean"].attrs["long_name"] = "length of the group mean |<P>_g|"
    out["group_mean_abs"].attrs["long_name"] = "group mean length <|P|>_g"
    return out


# The per-particle coordinates of a result, and the sweep parameters that can change them; the
# others (gamma, mu, theta, seed, schedule, p, engine, options, group flavor/P/basis) leave them.
_PARTICLE_COORDS = ("group", "omega", "velocity")


def _moves_particles(param: str) -> bool:
    """True if sweeping ``param`` can change the particles' labels, omegas or velocities."""
    return (
        param in ("N", "scenario.seed")
        or param.startswith("foreground.")
        or (param.startswith("group.") and param.rsplit(".", 1)[-1] in ("count", "omega", "velocity"))
    )


def _drop_particle_coords(ds):
    """One point file's Dataset as ``collect`` combines it: without its per-particle coordinates,
    which ``collect`` sets once (combining them file by file would load and compare every one of
    them); with the point's run statistics (attribute ``engine_stats``, JSON) as a variable; and,
    for an engine that records its own group observables (misci), those as ``declared_NAME``
    on the ``group_name`` axis of the collected observables."""
    declared = declared_group_observables(ds)
    ds = ds.drop_vars([c for c in _PARTICLE_COORDS if c in ds.variables])
    if "group" in ds.dims and "group_name" in ds.coords:  # an engine's own per-group variables
        ds = ds.swap_dims(group="group_name")
    if declared is not None:
        ds = ds.rename_vars({var: f"declared_{name}" for name, var in declared[0].items()})
    return ds.assign(engine_stats=((), np.array(str(ds.attrs.get("engine_stats", "{}")), dtype=object)))


def _lazy_dtype(dtype, padded):
    """The dtype of a variable in the collected Dataset: strings as objects, and NaN-capable
    where the variable is padded onto a larger index (outer join)."""
    if dtype.kind in "fc":
        return dtype
    if dtype.kind in "iu" and padded:
        return np.dtype(float)
    if dtype.kind in "iub" and not padded:
        return dtype
    return np.dtype(object)


def _read_point(path, union, names, dtypes):
    """Dask task: one point file, loaded, reindexed onto ``union`` (NaN where it has no such
    time or particle); returns the variables ``names`` as numpy arrays of ``dtypes``."""
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = _drop_particle_coords(ds).load()
    ds = ds.reindex({d: v for d, v in union.items() if d in ds.dims})
    return tuple(np.asarray(ds[n].values).astype(t, copy=False) for n, t in zip(names, dtypes))


def _lazy_points(store, hashes):
    """{hash: lazy Dataset} for finished points, all on one index per dimension (the sorted
    union over the points, e.g. of their recorded times and particles).

    A point already on the union is the file opened lazily (one chunk per variable, the file
    kept open as by ``open_mfdataset``); any other point is one dask task that reads its file
    and reindexes it in memory, again one chunk per variable. So the graph has a few tasks per
    point however the indexes differ (reindexing the file's dask arrays instead would split them
    into a chunk per run of present indices, and concatenation into the finest common chunking)."""
    import dask
    import dask.array as da
    import xarray as xr

    heads = {}
    for h in hashes:  # lazily: metadata and index values are read, the data stay on disk
        heads[h] = _drop_particle_coords(xr.open_dataset(store.point_path(h), engine="h5netcdf", chunks={}))
    values = {}
    for head in heads.values():
        for d, idx in head.indexes.items():
            values.setdefault(d, []).append(np.asarray(idx.values))
    union = {}
    for d, vals in values.items():
        same = all(len(v) == len(vals[0]) and np.array_equal(v, vals[0]) for v in vals[1:])
        union[d] = vals[0] if same else np.unique(np.concatenate(vals))
    out = {}
    for h, head in heads.items():
        mine = {d: union[d] for d in head.dims if d in union and not np.array_equal(head.indexes[d].values, union[d])}
        if not mine:
            out[h] = head
            continue
        head.close()
        names = [n for n in head.data_vars if n != "engine_stats"]  # that one is in memory already
        dtypes = [_lazy_dtype(head[n].dtype, any(d in mine for d in head[n].dims)) for n in names]
        task = dask.delayed(_read_point, pure=True, nout=len(names))(
            str(store.point_path(h)), mine, names, dtypes, dask_key_name=f"oile-q-point-{h}"
        )
        data = {}
        for i, (n, t) in enumerate(zip(names, dtypes)):
            var = head[n]
            shape = tuple(len(union[d]) if d in union else head.sizes[d] for d in var.dims)
            data[n] = xr.Variable(var.dims, da.from_delayed(task[i], shape=shape, dtype=t), var.attrs)
        data["engine_stats"] = head["engine_stats"].variable
        coords = {d: union.get(d, head.indexes[d].values) for d in head.dims if d in head.indexes}
        out[h] = xr.Dataset(data, coords=coords, attrs=head.attrs)
    return out


def _blank_like(ds):
    """A lazy all-NaN ("" for text) Dataset shaped as ``ds``: the cell of a missing point."""
    import dask.array as da
    import xarray as xr

    data = {"engine_stats": xr.Variable((), np.array("", dtype=object))}
    for n, v in ds.data_vars.items():
        if n != "engine_stats":
            fill, dtype = (np.nan, float) if v.dtype.kind in "iufcb" else ("", object)
            data[n] = xr.Variable(v.dims, da.full(v.shape, fill, dtype=dtype), v.attrs)
    return xr.Dataset(data, coords=ds.coords)


def _labels_array(groups, n):
    """Run-length encoded group labels as an array of ``n`` strings ("" pads)."""
    out = np.full(n, "", dtype=object)
    out[: sum(c for _, c in groups)] = np.repeat([g for g, _ in groups], [c for _, c in groups])
    return out.astype(str)


def _particle_coords(store, manifest, done, particles):
    """The per-particle coordinates and the group labels of a collected sweep.

    Reads ``group``, ``omega`` and ``velocity`` from one finished point per cell of the
    dimensions whose axes can change the particles (``_moves_particles``); a coordinate equal in
    every cell is 1-D over ``particle``, otherwise it spans those dimensions too (padded with
    "" / NaN where a point has fewer particles or none is finished). Returns (coords, labels):
    ``labels`` is a 1-D array when every point has the same groups, otherwise a DataArray over
    the moving dimensions and ``particle`` (from the manifest, finished or not)."""
    import xarray as xr

    dims, shape, entries = list(manifest["dims"]), tuple(manifest["shape"]), manifest["points"]
    moving = [d for d in dims if any(_moves_particles(p) for p in manifest["coords"][d])]
    kpos = [dims.index(d) for d in moving]
    kshape = tuple(shape[k] for k in kpos)
    npart = len(particles)
    first = {}  # cell of the moving dims -> its first entry / first finished entry
    rep = {}
    for e in entries:
        cell = tuple(e["index"][k] for k in kpos)
        first.setdefault(cell, e)
        if e["hash"] in done:
            rep.setdefault(cell, e)
    # group labels from the manifest
    lab = np.empty(kshape + (npart,), dtype=object)
    for cell in np.ndindex(*kshape):
        lab[cell] = _labels_array(first[cell]["groups"], npart)
    lab = lab.astype(str)
    same = all(e["groups"] == entries[0]["groups"] for e in entries)
    labels = lab.reshape(-1, npart)[0] if same else xr.DataArray(lab, dims=tuple(moving) + ("particle",))
    # omega, velocity (and group) from one file per distinct representative
    loaded = {}
    for e in rep.values():
        if e["hash"] not in loaded:
            with xr.open_dataset(store.point_path(e["hash"]), engine="h5netcdf") as one:
                one = one.reset_coords()
                loaded[e["hash"]] = {
                    n: (one[n].dims, np.asarray(one[n].values), np.asarray(one["particle"].values))
                    for n in _PARTICLE_COORDS
                    if n in one.variables
                }
    coords = {}
    for name in _PARTICLE_COORDS:
        sample = next((v[name] for v in loaded.values() if name in v), None)
        if sample is None:
            continue
        vdims, values, _ = sample
        if vdims[0] != "particle":
            continue
        text = values.dtype.kind in "USO"
        arr = np.full(kshape + (npart,) + values.shape[1:], "" if text else np.nan, dtype=object if text else float)
        for cell in np.ndindex(*kshape):
            e = rep.get(cell)
            if e is None or name not in loaded[e["hash"]]:
                continue
            _, v, parts = loaded[e["hash"]][name]
            arr[cell][np.searchsorted(particles, parts)] = v
        if text:
            arr = arr.astype(str)
        flat = arr.reshape((-1,) + arr.shape[len(kshape) :])
        if all(np.array_equal(flat[0], f, equal_nan=not text) for f in flat[1:]):
            coords[name] = (vdims, flat[0])
        else:
            coords[name] = (tuple(moving) + vdims, arr)
    return coords, labels


def collect(out_dir, *, basis="flavor", over="seed", allow_missing=False):
    """One lazy Dataset of a sweep: the sweep axes as dimensions, group observables and their
    statistics over an ensemble dimension.

    Parameters
    ----------
    out_dir : path
        A sweep folder (its manifest says what the points are).
    basis : {"flavor", "mass"}
        Basis of the group observables (``P`` itself stays in the flavor basis).
    over : str
        The ensemble dimension for the statistics (default "seed", the schedule seeds).
    allow_missing : bool
        Fill points not (yet) finished with NaN instead of refusing.

    Returns
    -------
    xarray.Dataset
        Backed by dask arrays over the point files (one task per file; nothing is loaded until
        asked): ``P`` (*dims, time, particle, component) and the other variables of each run
        (time and particle joined outer: NaN where a point has no such time or particle; a
        variable some engines do not record is NaN at their points), ``group_mean`` (*dims,
        time, group_name, component), ``group_abs_mean`` and ``group_mean_abs`` (*dims, time,
        group_name), ``done`` (*dims) and, when ``over`` is a dimension, for each group
        observable X: ``X_mean``, ``X_std`` (ddof = 1) and ``X_sem`` = std / sqrt(n) over
        ``over`` (n counts the finite values: finished points that recorded that time). Axis
        values are coordinates (vector values as JSON strings); the per-particle coordinates
        ``group``, ``omega``, ``velocity`` are 1-D when every point has the same particles, and
        otherwise also span the dimensions that change them (N, counts, velocity seed, ...);
        ``engine_stats`` (*dims): each point's run statistics as JSON (wall time ``wall_s``,
        steps, engine counters; "" for a missing point); attrs ``sweep_spec``, ``sweep_dims``.
        At the points of an engine that records its own group observables (``misci``, whose
        ``P`` is not each particle's Bloch vector), those are taken instead of being computed
        from ``P``, and what it does not provide (``group_mean``) is NaN; attribute
        ``group_observables_note`` says so.

    Raises
    ------
    InputError
        Not a sweep folder, no finished point, an incomplete sweep (unless ``allow_missing``),
        an unknown basis.

    Notes
    -----
    Each distinct point file is opened once for its metadata and read again, whole, by one dask
    task when data are asked for; points with different times or particles are put on the union
    of them inside that task, so the graph stays a few tasks per point. The per-particle
    coordinates are read from one file per distinct particle set, and the group observables are
    a few dask operations on the combined ``P``.
    """
    if basis not in ("flavor", "mass"):
        raise InputError(f"`basis` must be 'flavor' or 'mass'; got {describe(basis)}.")
    if not isinstance(over, str):
        raise InputTypeError(f"`over` must be a dimension name; got {describe(over)}.")
    store = Store(out_dir)
    manifest, done, ok = _finished_points(store, allow_missing)
    dims, shape, entries = list(manifest["dims"]), tuple(manifest["shape"]), manifest["points"]
    ds = _combine(store, entries, ok, dims, shape)
    coords, labels = _particle_coords(store, manifest, done, ds["particle"].values)
    ds = ds.assign_coords(coords)
    theta = entries[0]["theta"]
    if dims:
        import xarray as xr

        theta = xr.DataArray(np.reshape([e["theta"] for e in entries], shape), dims=dims)
    ds = ds.assign(_observables(ds["P"], labels, theta, basis).data_vars)
    ds = _engines_own_observables(ds, manifest)
    ds = ds.assign_coords(_axis_coords(manifest))
    ds["done"] = (tuple(dims), ok.reshape(shape))
    ds["done"].attrs["long_name"] = "point finished (False: NaN placeholder)"
    if over in ds.dims and over in dims:
        ds = ds.assign(_ensemble_statistics(ds, over))
    ds.attrs.update(
        {
            "sweep_spec": json.dumps(manifest["spec"], sort_keys=True),
            "sweep_spec_hash": manifest["spec_hash"],
            "sweep_dims": json.dumps(dims),
            "group_basis": basis,
            "ensemble_dim": over if over in dims else "",
        }
    )
    return ds


def _finished_points(store, allow_missing):
    """(manifest, finished hashes, per-entry finished flags), or InputError."""
    if not store.root.is_dir():
        raise InputError(f"`out_dir` is not a folder: {str(store.root)!r}.")
    manifest = store.read_manifest()
    if manifest is None:
        raise InputError(f"`out_dir` {str(store.root)!r} holds no sweep (no {MANIFEST}).")
    entries = manifest["points"]
    done = store.done()
    ok = np.array([e["hash"] in done for e in entries], dtype=bool)
    if not ok.any():
        raise InputError(f"`out_dir` {str(store.root)!r} has no finished point yet.")
    if not ok.all() and not allow_missing:
        missing = [e for e, k in zip(entries, ok) if not k]
        raise InputError(
            f"the sweep in {str(store.root)!r} is incomplete: {len(missing)} of {len(entries)} points "
            f"missing (first: {params_label(missing[0]['params'])}); run the sweep again to finish it, or "
            "collect(..., allow_missing=True)."
        )
    return manifest, done, ok


def _combine(store, entries, ok, dims, shape):
    """The point files as one lazy Dataset over the sweep dimensions (missing points all NaN)."""
    import xarray as xr

    # One lazy Dataset per distinct finished point, every one on the same indexes; the
    # per-particle coordinates are set afterwards, so nothing is compared (loaded) cell by cell.
    hashes = list(dict.fromkeys(e["hash"] for e, k in zip(entries, ok) if k))
    lazy = _lazy_points(store, hashes)
    if not dims:
        return lazy[entries[0]["hash"]]
    blank = _blank_like(lazy[hashes[0]])
    cells = np.empty(len(entries), dtype=object)
    for i, (e, k) in enumerate(zip(entries, ok)):
        cells[i] = lazy[e["hash"]] if k else blank
    ds = xr.combine_nested(
        cells.reshape(shape).tolist(),
        concat_dim=dims,
        data_vars="all",
        coords="minimal",
        compat="override",
        join="outer",
        combine_attrs="drop_conflicts",
    )
    return ds.transpose(*dims, ...)


def _engines_own_observables(ds, manifest):
    """At the points of an engine that declares its own group observables (``misci``): those
    instead of the ones computed from ``P``, and NaN for what it does not provide."""
    import xarray as xr

    dims, shape, spec = list(manifest["dims"]), tuple(manifest["shape"]), manifest["spec"]
    declared = {}
    for e in manifest["points"]:
        name = e["params"].get("engine", spec["engine"])
        if name not in declared:
            declared[name] = get_engine(name).group_observables
    if not any(declared.values()):
        return ds
    engines = [e["params"].get("engine", spec["engine"]) for e in manifest["points"]]
    where = lambda test: xr.DataArray(np.reshape([test(declared[n]) for n in engines], shape), dims=dims)
    own = where(lambda d: d is not None)
    ds["group_mean"] = ds["group_mean"].where(~own)
    for name in ("abs_mean", "mean_abs"):
        var = f"group_{name}"
        theirs = ds[f"declared_{name}"] if f"declared_{name}" in ds else np.nan
        ds[var] = xr.where(where(lambda d, n=name: d is not None and n in d.variables), theirs, ds[var].where(~own))
    ds = ds.drop_vars([v for v in ds.data_vars if str(v).startswith("declared_")])
    notes = [f"{n}: {d.reason}" for n, d in declared.items() if d is not None]
    ds.attrs["group_observables_note"] = (
        "group observables at the points of " + "; ".join(notes) + " -- taken from the engine's own variables, "
        "and NaN where it provides none (group_mean)"
    )
    return ds


def _axis_coords(manifest) -> dict:
    """The axis values as coordinates (vector values as JSON strings)."""
    coords = {}
    for dim, cols in manifest["coords"].items():
        for name, values in cols.items():
            vals = [json.dumps(v) if isinstance(v, (list, dict)) else v for v in values]
            coords[name] = (dim, vals)
    return coords


def _ensemble_statistics(ds, over) -> dict:
    """Mean, standard deviation (ddof = 1) and standard error over ``over`` of each group observable."""
    out = {}
    for name in ("group_mean", "group_abs_mean", "group_mean_abs"):
        x = ds[name]
        # n counts finite values (missing points, times a point did not record are NaN);
        # dividing by NaN where n is too small gives NaN without 0/0 warnings.
        n = x.count(over)
        mean = x.sum(over) / n.where(n > 0)
        std = np.sqrt(((x - mean) ** 2).sum(over) / (n - 1).where(n > 1))
        out[f"{name}_mean"] = mean
        out[f"{name}_std"] = std
        out[f"{name}_sem"] = std / np.sqrt(n.where(n > 1))
        for stat, what in (
            ("mean", "mean"),
            ("std", "standard deviation (ddof=1)"),
            ("sem", "standard error of the mean"),
        ):
            out[f"{name}_{stat}"].attrs["long_name"] = f"{what} of {name} over {over}"
    return out


def load_point(out_dir, **params):
    """One finished point of a sweep, as the engine's own Dataset (attrs included, loaded into
    memory): the only point whose parameters include every ``params`` item, e.g.
    ``load_point(DIR, N=4096, engine="exact")`` or ``load_point(DIR, gamma=0.01, seed=3)``.
    A point that is not finished, or parameters that match no point or several, are one
    ``InputError`` line."""
    store = Store(out_dir)
    manifest = store.read_manifest()
    if manifest is None:
        raise InputError(f"`out_dir` {str(store.root)!r} holds no sweep (no {MANIFEST}).")
    found = [p for p in manifest["points"] if all(k in p["params"] and p["params"][k] == v for k, v in params.items())]
    hashes = sorted({p["hash"] for p in found})
    want = ", ".join(f"{k}={short_text(v)}" for k, v in params.items())
    if not hashes:
        raise InputError(f"no point of the sweep in {str(store.root)!r} has {want}.")
    if len(hashes) > 1:
        raise InputError(
            f"{len(found)} points of the sweep in {str(store.root)!r} have {want}; "
            f"give more parameters (the axes are {', '.join(manifest['dims'])})."
        )
    path = store.point_path(hashes[0])
    if not path.exists():
        raise InputError(f"the point with {want} in {str(store.root)!r} is not finished; run the sweep again.")
    return load(path)
