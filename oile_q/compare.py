"""Engine-vs-engine comparison on one scenario: deviation tables and the overview figure."""

from __future__ import annotations

import csv
import io
import itertools
import textwrap

import numpy as np

from .errors import InputError
from .io import atomic_write
from .results import group_means, mass_basis

__all__ = [
    "deviation_table",
    "write_table",
    "plot_engines",
    "on_grid",
    "time_rms",
    "parabola_min",
    "first_below",
    "fit_log_scan",
]


# --------------------------------------------------------------------------- curve helpers
# Small numerics the studies share when they set one engine's curve against another's.


def on_grid(times, values):
    """A recorded curve (a DataArray over ``time``, NaN where not recorded) on ``times``: its own
    non-NaN times, linearly interpolated (step engines record at step ends)."""
    t = values["time"].values
    v = np.asarray(values)
    ok = ~np.isnan(v)
    return np.interp(times, t[ok], v[ok])


def time_rms(times, dev, window):
    """Time-averaged rms of ``dev`` (..., time) over 0 <= mu t <= ``window``:
    sqrt(int dev^2 dt / T), trapezoid rule (uneven grids are fine)."""
    m = times <= window + 1e-9
    t, d = times[m], np.asarray(dev)[..., m]
    return np.sqrt(np.trapezoid(d**2, t, axis=-1) / (t[-1] - t[0]))


def parabola_min(x, f):
    """Minimum of ``f`` on the grid ``x``, refined by the parabola through the three points
    around the smallest value; returns (x_min, at_edge) -- at an edge of the grid, or where the
    parabola opens downwards, the grid point itself."""
    k = int(np.argmin(f))
    if k == 0 or k == len(x) - 1:
        return float(x[k]), True
    x0, x1, x2 = x[k - 1 : k + 2]
    f0, f1, f2 = f[k - 1 : k + 2]
    den = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (f1 - f0) + x1 * (f0 - f2) + x0 * (f2 - f1)) / den
    b = (x2**2 * (f0 - f1) + x1**2 * (f2 - f0) + x0**2 * (f1 - f2)) / den
    if a <= 0:
        return float(x[k]), False
    return float(np.clip(-b / (2 * a), x0, x2)), False


def first_below(times, y, level):
    """First time at which ``y`` falls below ``level``, linearly interpolated between samples;
    NaN if it never does (or already does at the first sample)."""
    below = np.flatnonzero(np.asarray(y) < level)
    if below.size == 0 or below[0] == 0:
        return float("nan")
    k = below[0]
    t0, t1, d0, d1 = times[k - 1], times[k], y[k - 1], y[k]
    return float(t0 + (d0 - level) * (t1 - t0) / (d0 - d1))


def _common_times(a, b):
    ta, tb = np.asarray(a.time), np.asarray(b.time)
    common = np.intersect1d(np.round(ta, 12), np.round(tb, 12))
    if common.size == 0:
        raise InputError("the two results share no recorded times.")
    ia = np.searchsorted(np.round(ta, 12), common)
    ib = np.searchsorted(np.round(tb, 12), common)
    return a.isel(time=ia), b.isel(time=ib)


def deviation_table(results: dict, basis="flavor") -> list[dict]:
    """Largest deviations between every pair of engines on their common times.

    Parameters
    ----------
    results : dict
        Engine name -> result of ``oile_q.run`` on one scenario.
    basis : {"flavor", "mass"}
        Basis of the vector deviations.

    Returns
    -------
    list of dict
        One row per pair: ``engine_a``, ``engine_b``; ``max_dP``, the largest |P_a - P_a'| over
        time and particle; ``max_dmean``, the largest |<P>_g - <P>_g'| over time and group;
        ``max_dabs_mean`` and ``max_dpurity``, the largest differences of |<P>_g| and <|P|>_g;
        ``t_at_max_dmean``; ``times_compared``; ``note``. An engine that records its own group
        observables because its ``P`` is not each particle's Bloch vector (``misci``) is compared
        through those only: its pairs have NaN ("n/a" in the Markdown table) for ``max_dP``,
        ``max_dmean`` and ``t_at_max_dmean``, and ``note`` says why.

    Raises
    ------
    InputError
        Two results share no recorded times.
    """
    rows = []
    for (na, a), (nb, b) in itertools.combinations(results.items(), 2):
        a, b = _common_times(a, b)
        ga, gb = group_means(a, basis), group_means(b, basis)
        groups = [str(g) for g in ga["group"].values]
        gb = gb.sel(group=groups)  # the same group order on both sides
        row = {"engine_a": na, "engine_b": nb, "max_dP": np.nan, "max_dmean": np.nan}
        row["max_dabs_mean"] = float(np.abs(ga["abs_mean"].values - gb["abs_mean"].values).max())
        row["max_dpurity"] = float(np.abs(ga["mean_abs"].values - gb["mean_abs"].values).max())
        row["t_at_max_dmean"] = np.nan
        row["times_compared"] = int(a.sizes["time"])
        if "mean" in ga and "mean" in gb:
            Pa = np.asarray(a["P"] if basis == "flavor" else mass_basis(a))
            Pb = np.asarray(b["P"] if basis == "flavor" else mass_basis(b))
            dm = np.linalg.norm(ga["mean"].values - gb["mean"].values, axis=-1)
            row["max_dP"] = float(np.linalg.norm(Pa - Pb, axis=-1).max())
            row["max_dmean"] = float(dm.max())
            row["t_at_max_dmean"] = float(a.time[np.unravel_index(np.argmax(dm), dm.shape)[0]])
        row["note"] = "; ".join(
            f"{name}: compared by |<P>_g| and <|P|>_g only ({g.attrs['not_available_reason']})"
            for name, g in ((na, ga), (nb, gb))
            if "not_available" in g.attrs
        )
        rows.append(row)
    return rows


def write_table(rows, csv_path=None, md_path=None, title=None):
    """Write rows (list of dicts) as CSV and/or a Markdown table, atomically."""
    if not rows:
        raise InputError("no rows to write.")
    keys = list(rows[0])

    def fmt(v):
        if isinstance(v, float):
            return "n/a" if np.isnan(v) else f"{v:.3e}"
        return str(v)

    if csv_path is not None:

        def w(fh):
            wr = csv.DictWriter(fh, fieldnames=keys)
            wr.writeheader()
            for r in rows:
                wr.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})

        atomic_write(csv_path, w)
    buf = io.StringIO()
    if title:
        buf.write(f"{title}\n\n")
    buf.write("| " + " | ".join(keys) + " |\n")
    buf.write("|" + "---|" * len(keys) + "\n")
    for r in rows:
        buf.write("| " + " | ".join(fmt(r[k]) for k in keys) + " |\n")
    text = buf.getvalue()
    if md_path is not None:
        atomic_write(md_path, lambda fh: fh.write(text))
    return text


# One colour and one dash pattern per engine (up to 10 engines, none repeated).
ENGINE_COLORS = [
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
    "tab:olive",
    "tab:cyan",
]
ENGINE_DASHES = [
    (),
    (6, 2),
    (2, 2),
    (8, 2, 2, 2),
    (1, 1),
    (4, 1, 1, 1, 1, 1),
    (10, 3),
    (3, 1, 3, 4),
    (6, 2, 1, 2, 1, 2),
    (2, 4),
]
MAX_GROUP_COLUMNS = 4


def engine_style(k: int) -> dict:
    """Matplotlib line keywords of the k-th engine of a figure (distinct colour and dashes)."""
    return {"color": ENGINE_COLORS[k % len(ENGINE_COLORS)], "dashes": ENGINE_DASHES[k % len(ENGINE_DASHES)]}


def plot_engines(results: dict, path, basis="flavor", title=None):
    """Group-mean Bloch components and <|P|> against mu t: one column per group (up to four),
    one colour and dash pattern per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    first = results[names[0]]
    groups = list(dict.fromkeys(first["group"].values.tolist()))
    shown = groups[:MAX_GROUP_COLUMNS]
    ncol = len(shown)
    fig, axes = plt.subplots(4, ncol, figsize=(4.2 * ncol + 1.5, 9), sharex=True, squeeze=False)
    for k, name in enumerate(names):
        gm = group_means(results[name], basis)
        t = np.asarray(gm.time)
        style = engine_style(k)
        width = 1.6 if k == 0 else 1.2
        has_mean = "mean" in gm  # not for an engine that records only its own group observables (misci)
        for j, g in enumerate(shown):
            for c, comp in enumerate("xyz" if has_mean else ""):
                axes[c, j].plot(
                    t,
                    gm["mean"].sel(group=g, component=comp),
                    lw=width,
                    **style,
                    label=name if (c == 0 and j == 0) else None,
                )
            label = f"{name} (<|P|> only)" if not has_mean and j == 0 else None
            axes[3, j].plot(t, gm["mean_abs"].sel(group=g), lw=width, **style, label=label)
    for j, g in enumerate(shown):
        axes[0, j].set_title(f"group {g}", fontsize=9)
        axes[3, j].set_xlabel("mu t")
    for c, comp in enumerate("xyz"):
        axes[c, 0].set_ylabel(f"<P_{comp}> (flavor)" if basis == "flavor" else f"<P_{c + 1}> (mass)")
    axes[3, 0].set_ylabel("<|P|>")
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.965), fontsize=8, ncol=min(len(names), 6), frameon=False)
    if title or len(groups) > len(shown):
        text = (title or "") + (f" (first {len(shown)} of {len(groups)} groups)" if len(groups) > len(shown) else "")
        fig.suptitle("\n".join(textwrap.wrap(text, 110)), fontsize=9, x=0.02, y=0.995, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110), mode="wb")
    plt.close(fig)
    return path


def fit_log_scan(grid, times, curves, target, window):
    """The parameter on a log grid whose curves come closest to ``target`` (the gamma_eff fit
    of the studies). ``curves`` (grid point, seed, time): one curve per grid point and seed;
    the seed-averaged curve is compared with ``target`` (time) by ``time_rms`` over
    0 <= mu t <= ``window`` and the minimum refined by ``parabola_min`` in ln(grid); each seed
    alone is fitted the same way (its spread is the fit's schedule noise). Returns (rms of the
    seed average at every grid point, {"gamma": best value, "at_edge": bool, "per_seed": best
    value of each seed})."""
    lx = np.log(np.asarray(grid, float))
    curves = np.asarray(curves)
    f_mean = time_rms(times, curves.mean(1) - target, window)
    f_seed = time_rms(times, curves - target, window)  # (grid point, seed)
    x, edge = parabola_min(lx, f_mean)
    per_seed = np.exp([parabola_min(lx, f_seed[:, k])[0] for k in range(curves.shape[1])])
    return f_mean, {"gamma": float(np.exp(x)), "at_edge": edge, "per_seed": per_seed}
