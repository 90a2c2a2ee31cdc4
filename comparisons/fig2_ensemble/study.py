"""Paper I Fig. 2 as a 64-seed ensemble: group means with standard-error bands, via oile_q.sweep.

The bipolar gas of paper I Fig. 2 (60 nu_e with omega = 0.1 mu, 40 nu_x with omega = 0.2 mu,
one draw of isotropic velocities, theta = 1e-3, gamma = 0.01) is run by the OILE map for 64
random-matching schedules to mu t = 1000 as one ``oile_q.sweep`` on a Dask LocalCluster, and
the schedule-averaged group means are compared with the master equation (Eq. 14), and writes

- ``ensemble.png``: per group, the mean Bloch vector in the mass basis, |<P>| and <|P|>: the
  seed average with +-2 standard errors and +-1 seed-to-seed standard deviation shaded,
  against Eq. (14) (engine ``master``);
- ``bands.png``: the seed averages minus Eq. (14) with their +-2 standard-error bands;
- ``scatter.png``: the seed-to-seed standard deviation of each group observable against time,
  and the distance of the seed average from Eq. (14) against its standard error;
- ``ensemble.csv`` / ``.md``: at a few times, per group, the seed averages with their standard
  errors and standard deviations, Eq. (14), and the distance in standard errors;
  ``sweep.csv`` / ``.md``: the sweep (points, workers, wall time) and the invariant check;
- ``data_ensemble.nc`` (the ensemble statistics), ``data_eq14.nc``, and ``report.md`` /
  ``report.json``. The point files stay in the sub-folder ``sweep/`` of the output folder
  (``oile_q.sweep.collect`` reads them lazily; started afresh each run).

Parameters come from ``config.toml`` (section ``[quick]`` for ``quick=True``: a few seeds in
this process, no Dask). Only the public API of ``oile_q`` is used.
"""

from __future__ import annotations

import time

import numpy as np

import oile_q
from oile_q.results import group_means
from oile_q.studies import Study, seed_band

STUDY = Study(__file__)
GROUP_COLORS = {"nu_e": "tab:blue", "nu_x": "tab:red"}
OBS = ("group_mean", "group_abs_mean", "group_mean_abs")


def record_times(cfg):
    """Every dt_early up to t_early, then every dt_late to t_max (both multiples of gamma)."""
    early = np.arange(0.0, cfg["t_early"] + 1e-9, cfg["dt_early"])
    late = np.arange(cfg["t_early"], cfg["t_max"] + 1e-9, cfg["dt_late"])
    return np.unique(np.round(np.concatenate([early, late]), 10))


def sweep_spec(cfg, times):
    """The ensemble as a sweep: one base scenario, the OILE map, one axis: the schedule seed."""
    return {
        "name": "fig2_ensemble",
        "description": f"Paper I Fig. 2 set-up, gamma = {cfg['gamma']:g}, {cfg['seeds']} schedule seeds",
        "engine": "oile",
        "scenario": {
            "gamma": cfg["gamma"],
            "theta": cfg["theta"],
            "seed": cfg["seed"],
            "group": [dict(g) for g in cfg["groups"]],
        },
        "run": {"times": [float(t) for t in times], "schedule": "matching"},
        "grid": {"seed": {"range": [0, cfg["seeds"]]}},
    }


def run_ensemble(run, cfg, times):
    """Run the sweep into ``outdir/sweep`` (afresh) and collect the statistics (mass basis)."""
    res, folder, t_sweep = run.sweep(sweep_spec(cfg, times), "sweep", **run.config["sweep"])
    t0 = time.perf_counter()
    ds = oile_q.sweep.collect(folder, basis="mass")
    names = [f"{v}_{s}" for v in OBS for s in ("mean", "std", "sem")]
    stats = ds[names + ["group_mean"]].compute()
    stats["n_seeds"] = ds["group_mean"].isel(component=0, group_name=0).count("seed").compute()
    t_collect = time.perf_counter() - t0
    stats.attrs = {
        "description": "OILE map over schedule seeds (oile_q.sweep); group observables in the mass "
        "basis; mean, std (ddof=1) and sem = std/sqrt(n) over seeds",
        "velocity_seed": cfg["seed"],
        "theta": cfg["theta"],
        "gamma": cfg["gamma"],
    }
    return stats, res, t_sweep, t_collect


def invariant(cfg, stats):
    """Largest drift of the conserved total <P_3> (mass basis) over every seed and time."""
    counts = np.array([g["count"] for g in cfg["groups"]], float)
    gm = stats["group_mean"].sel(component="z", group_name=[g["name"] for g in cfg["groups"]]).values
    total = (gm * counts).sum(-1) / counts.sum()  # (seed, time)
    return float(np.abs(total - total[:, :1]).max()), float(total[0, 0])


def curves(stats, eq, name):
    """Per group: seed mean, sem, sd (vector norms for <P>) and Eq. (14), on the ensemble's times."""
    st = stats.sel(group_name=name)
    e = eq.sel(group=name)
    out = {"t": st.time.values, "n": int(st["n_seeds"].min())}
    for v, key in (("group_mean", "mean"), ("group_abs_mean", "abs_mean"), ("group_mean_abs", "mean_abs")):
        out[v] = {s: st[f"{v}_{s}"].values for s in ("mean", "sem", "std")}
        out[v]["eq14"] = e[key].values
    m = out["group_mean"]
    out["dev"] = np.linalg.norm(m["mean"] - m["eq14"], axis=-1)
    out["se"] = np.linalg.norm(m["sem"], axis=-1)
    out["sd"] = np.linalg.norm(m["std"], axis=-1)
    return out


def table_rows(cfg, stats, eq, groups):
    rows = []
    t = stats.time.values
    for tt in cfg["table_times"]:
        k = int(np.argmin(np.abs(t - tt)))
        for g in groups:
            c = curves(stats, eq, g)
            gm, ga, gb = c["group_mean"], c["group_abs_mean"], c["group_mean_abs"]
            rows.append(
                {
                    "mu_t": float(t[k]),
                    "group": g,
                    "P3_mean": float(gm["mean"][k, 2]),
                    "P3_sem": float(gm["sem"][k, 2]),
                    "P3_eq14": float(gm["eq14"][k, 2]),
                    "abs_mean_mean": float(ga["mean"][k]),
                    "abs_mean_sem": float(ga["sem"][k]),
                    "abs_mean_eq14": float(ga["eq14"][k]),
                    "mean_abs_mean": float(gb["mean"][k]),
                    "mean_abs_sem": float(gb["sem"][k]),
                    "mean_abs_eq14": float(gb["eq14"][k]),
                    "seed_sd_P": float(c["sd"][k]),
                    "seed_sd_abs_mean": float(ga["std"][k]),
                    "dev_eq14_over_sem": float(c["dev"][k] / c["se"][k]) if c["se"][k] > 0 else float("nan"),
                }
            )
    return rows


def purity_text(purity, groups, vector_ratio):
    """How to read the largest purity departures: noise (a few standard errors) or systematic;
    ``vector_ratio``: the largest distance of the seed-averaged <P> from Eq. (14) in standard errors."""
    far = [g for g in groups if purity[g][2] > 5]
    if not far:
        return ": within the schedule noise."
    text = f": for {', '.join(far)} no schedule noise but a systematic difference of the map"
    if all(purity[g][3] > 0 for g in far):
        text += (
            " (its purity is higher: the random choice of partners adds a purity source Eq. (14) lacks; "
            "docs/theory.md, Purity and the source S_a)"
        )
    if vector_ratio < 4:
        text += ", while the mean Bloch vector stays within the noise of Eq. (14)"
    return text + "."


# --------------------------------------------------------------------------- figures


LABELS = ["<P_1>", "<P_2>", "<P_3>", "|<P>|", "<|P|>"]


def panels(run, cfg, stats, eq, groups, stat, height, title):
    """A grid of panels, rows <P_1>, <P_2>, <P_3> (mass basis), |<P>|, <|P|>, one column per
    group titled ``title(group, count)``. Returns (fig, axes, cells), a cell being (ax, colour,
    mu t > 0, [the statistics ``stat`` of ``curves`` there], number of seeds)."""
    plt = run.pyplot()
    fig, axes = plt.subplots(5, len(groups), figsize=(6.0 * len(groups), height), sharex=True, squeeze=False)
    cells = []
    for j, g in enumerate(groups):
        c = curves(stats, eq, g)
        pos = c["t"] > 0
        series = [[c["group_mean"][s][:, i] for s in stat] for i in range(3)]
        series += [[c[v][s] for s in stat] for v in ("group_abs_mean", "group_mean_abs")]
        for i, ser in enumerate(series):
            axes[i, j].set_xscale("log")
            cells.append((axes[i, j], GROUP_COLORS.get(g, f"C{j}"), c["t"][pos], [x[pos] for x in ser], c["n"]))
        n = next(gr["count"] for gr in cfg["groups"] if gr["name"] == g)
        axes[0, j].set_title(title(g, n), fontsize=10)
        axes[-1, j].set_xlabel("mu t")
    return fig, axes, cells


def plot_ensemble(run, cfg, stats, eq, groups, name):
    fig, axes, cells = panels(
        run, cfg, stats, eq, groups, ("mean", "sem", "std", "eq14"), 13, lambda g, n: f"{g} group ({n} particles)"
    )
    for ax, col, t, (mean, sem, sd, e14), n_seeds in cells:
        seed_band(ax, t, mean, sem, sd, col, n_seeds, lw=1.0)
        ax.plot(t, e14, "-", color="k", lw=0.7, label="Eq. (14)")
        ax.ticklabel_format(axis="y", useOffset=False)
    for i, lab in enumerate(LABELS):
        axes[i, 0].set_ylabel(f"{lab} (mass basis)" if i < 3 else lab)
    axes[0, 0].legend(fontsize=8, loc="lower left")
    n_all, n_seeds = sum(gr["count"] for gr in cfg["groups"]), int(stats["n_seeds"].min())
    setup = f"N = {n_all}, gamma = {cfg['gamma']:g}, theta = {cfg['theta']:g}"
    fig.suptitle(f"Paper I Fig. 2 set-up as an ensemble: {setup}, {n_seeds} schedule seeds", fontsize=11)
    fig.tight_layout()
    run.figure(
        fig,
        name,
        alt="ensemble means",
        caption="Group means in the mass basis over schedule seeds: the seed average (line) with +-2 "
        "standard errors (dark band) and +-1 seed-to-seed standard deviation (light band), and the "
        "master equation (Eq. 14, black). Log time axis. At this scale the bands are mostly narrower "
        "than the lines; bands.png shows them against Eq. (14).",
    )


def plot_bands(run, cfg, stats, eq, groups, name):
    """The seed average minus Eq. (14), with its +-2 standard-error band: where the bands of
    ensemble.png (narrower than a line there) are resolved."""
    fig, axes, cells = panels(
        run,
        cfg,
        stats,
        eq,
        groups,
        ("mean", "sem", "eq14"),
        12,
        lambda g, n: f"{g} group ({n} particles): seed average minus Eq. (14)",
    )
    for ax, col, t, (mean, sem, e14), _ in cells:
        d = mean - e14
        ax.fill_between(t, d - 2 * sem, d + 2 * sem, color=col, alpha=0.4, lw=0, label="+-2 s.e. of the seed average")
        ax.plot(t, d, "-", color=col, lw=0.8, label="seed average - Eq. (14)")
        ax.axhline(0.0, color="k", lw=0.6)
    for i, lab in enumerate(LABELS):
        axes[i, 0].set_ylabel(f"d{lab} (mass basis)" if i < 3 else f"d{lab}")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    fig.suptitle(
        f"The {int(stats['n_seeds'].min())}-seed average against Eq. (14), with its standard-error band", fontsize=11
    )
    fig.tight_layout()
    run.figure(
        fig,
        name,
        alt="seed average minus Eq. (14)",
        caption="The seed-averaged group observables minus the master equation (Eq. 14), with +-2 standard "
        "errors of the average shaded (log time axis). Where zero lies outside the band the map's "
        "schedule average and Eq. (14) differ by more than the schedule noise.",
    )


def plot_scatter(run, cfg, stats, eq, groups, name):
    plt = run.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for j, g in enumerate(groups):
        c = curves(stats, eq, g)
        col = GROUP_COLORS.get(g, f"C{j}")
        t = c["t"]
        pos = t > 0
        ax = axes[0]
        ax.loglog(t[pos], c["sd"][pos], "-", color=col, lw=1.4, label=f"{g}: |sd(<P>)|")
        ax.loglog(t[pos], c["group_abs_mean"]["std"][pos], "--", color=col, lw=1.0, label=f"{g}: sd(|<P>|)")
        ax.loglog(t[pos], c["group_mean_abs"]["std"][pos], ":", color=col, lw=1.2, label=f"{g}: sd(<|P|>)")
        ax = axes[1]
        ax.loglog(t[pos], c["dev"][pos], "-", color=col, lw=1.0, label=f"{g}: |mean - Eq. (14)|")
        ax.loglog(t[pos], 2 * c["se"][pos], "--", color=col, lw=1.0, label=f"{g}: 2 |s.e.(<P>)|")
    axes[0].set_title("(a) seed-to-seed standard deviation of the group observables", fontsize=10)
    axes[1].set_title("(b) seed average vs Eq. (14), against twice its standard error", fontsize=10)
    for ax in axes:
        ax.set_xlabel("mu t")
        ax.legend(fontsize=8)
        lo = ax.get_ylim()[1] * 1e-6
        ax.set_ylim(bottom=max(ax.get_ylim()[0], lo))
    fig.tight_layout()
    run.figure(
        fig,
        name,
        alt="seed scatter",
        caption="(a) The schedule-to-schedule standard deviation of each group's mean Bloch vector (norm of "
        "the per-component sd), of |<P>| and of <|P|>, against time. (b) The distance of the seed "
        "average from Eq. (14) and twice the norm of its standard error.",
    )


# --------------------------------------------------------------------------- main


def main(outdir, quick=False):
    run = STUDY.start(outdir, quick)
    cfg = {**run.config["scenario"], **run.config["run"]}
    times = record_times(cfg)
    stats, res, t_sweep, t_collect = run_ensemble(run, cfg, times)
    run.save(stats, "data_ensemble.nc")
    sc = oile_q.Scenario.from_groups(cfg["groups"], gamma=cfg["gamma"], theta=cfg["theta"], seed=cfg["seed"])
    t0 = time.perf_counter()
    master = oile_q.run(sc, "master", times=stats.time.values, rtol=1e-9, atol=1e-11)
    t_master = time.perf_counter() - t0
    run.save(master, "data_eq14.nc")
    eq = group_means(master, "mass")
    groups = [g["name"] for g in cfg["groups"]]

    plot_ensemble(run, cfg, stats, eq, groups, "ensemble.png")
    plot_bands(run, cfg, stats, eq, groups, "bands.png")
    plot_scatter(run, cfg, stats, eq, groups, "scatter.png")
    rows = table_rows(cfg, stats, eq, groups)
    n = int(stats["n_seeds"].min())
    run.table(
        rows,
        "ensemble",
        title=f"Group observables (mass basis) over {n} schedule seeds: seed average +- standard error, "
        "seed-to-seed standard deviation, and Eq. (14)",
        note="`seed_sd_P`: norm of the per-component standard deviation of the group mean <P> over seeds; "
        "`dev_eq14_over_sem`: distance of the seed-averaged <P> from Eq. (14) over the norm of its "
        "standard error.",
    )
    drift, p3 = invariant(cfg, stats)
    c = {g: curves(stats, eq, g) for g in groups}
    t = stats.time.values
    early = t <= cfg["t_early"] + 1e-9
    where = (
        "this process"
        if run.config["sweep"]["client"] == "serial"
        else f"a LocalCluster of {run.config['sweep']['workers']} workers"
    )
    sweep_row = {
        "points": res.total,
        "computed": res.computed,
        "where": where,
        "sweep_seconds": round(t_sweep, 2),
        "collect_seconds": round(t_collect, 2),
        "master_seconds": round(t_master, 2),
        "recorded_times": int(t.size),
        "P3_total": p3,
        "P3_total_drift": drift,
    }
    run.table([sweep_row], "sweep", title="The sweep and the conserved total <P_3> (mass basis)", index=False)
    data_dir = run.outdir / "sweep"
    size_mb = sum(f.stat().st_size for f in (data_dir / "points").glob("*.nc")) / 1e6

    purity = {}
    for g in groups:
        gb = c[g]["group_mean_abs"]
        dp = gb["mean"] - gb["eq14"]
        k = int(np.argmax(np.abs(dp)))
        purity[g] = (float(abs(dp[k])), float(t[k]), float(abs(dp[k]) / gb["sem"][k]), float(np.sign(dp[k])))

    def peak(g):
        k = int(np.argmax(c[g]["sd"]))
        return f"{c[g]['sd'][k]:.3g} at mu t = {t[k]:.3g}"

    return run.report(
        title="Paper I Fig. 2 as a seed ensemble: schedule-averaged group means with standard errors",
        intro=[
            f"{sum(g['count'] for g in cfg['groups'])} particles ("
            + ", ".join(f"{g['count']} {g['name']} with omega = {g['omega']:g} mu" for g in cfg["groups"])
            + f"), isotropic velocities drawn once (seed {cfg['seed']}), mixing angle theta = {cfg['theta']:g}, "
            f"gamma = {cfg['gamma']:g}, random perfect matchings every step, {n} schedule seeds (0 .. {n - 1}), "
            f"0 <= mu t <= {cfg['t_max']:g} ({int(round(cfg['t_max'] / cfg['gamma']))} steps per seed). The "
            f"ensemble is one `oile_q.sweep` (a spec built in study.py with a `seed` axis) run on {where}, "
            f"{size_mb:.3g} MB of point files in `sweep/`, combined lazily by `oile_q.sweep.collect` (mass basis), "
            "which also gives the mean, standard deviation (ddof = 1) and standard error over seeds. Eq. (14) is "
            "the master equation (engine `master`) for the same velocities."
        ],
        shows=[
            "The seed average follows Eq. (14): the largest distance of a group's seed-averaged <P> from it is "
            + ", ".join(f"{c[g]['dev'][early].max():.2g} ({g})" for g in groups)
            + f" for mu t <= {cfg['t_early']:g} and "
            + ", ".join(f"{c[g]['dev'].max():.2g} ({g})" for g in groups)
            + " over the whole run, i.e. up to "
            + ", ".join(f"{np.nanmax(c[g]['dev'][1:] / c[g]['se'][1:]):.1f} ({g})" for g in groups)
            + f" standard errors (the largest over {t.size} recorded times: what schedule noise alone gives).",
            "Purity: the seed-averaged <|P|> departs from Eq. (14) by up to "
            + ", ".join(
                f"{purity[g][0]:.2g} at mu t = {purity[g][1]:.3g} ({purity[g][2]:.1f} standard errors, "
                f"{'above' if purity[g][3] > 0 else 'below'} it; {g})"
                for g in groups
            )
            + purity_text(purity, groups, max(np.nanmax(c[g]["dev"][1:] / c[g]["se"][1:]) for g in groups)),
            "The schedules scatter the group means: the seed-to-seed standard deviation of <P> peaks at "
            + ", ".join(f"{peak(g)} ({g})" for g in groups)
            + " and falls to "
            + ", ".join(f"{c[g]['sd'][-1]:.2g} ({g})" for g in groups)
            + f" at mu t = {t[-1]:g}, as every schedule decoheres towards the same fixed point (Eq. 19). The "
            f"standard error of the average is that over sqrt({n}).",
            f"Decoherence: <|P|> (seed average +- s.e.) at mu t = {t[-1]:g} is "
            + ", ".join(
                f"{c[g]['group_mean_abs']['mean'][-1]:.4f} +- {c[g]['group_mean_abs']['sem'][-1]:.1g} ({g})"
                for g in groups
            )
            + "; Eq. (14) gives "
            + ", ".join(f"{c[g]['group_mean_abs']['eq14'][-1]:.4f} ({g})" for g in groups)
            + ".",
            f"The total <P_3> = {p3:.6f} (mass basis) is conserved by every schedule: largest drift {drift:.1e} "
            f"over {n} seeds and {t.size} times.",
            f"The sweep of {res.total} points took {t_sweep:.0f} s on {where} (collection and statistics "
            f"{t_collect:.0f} s, Eq. (14) {t_master:.0f} s).",
        ],
        detail=f"sweep {t_sweep:.0f} s of it",
    )
