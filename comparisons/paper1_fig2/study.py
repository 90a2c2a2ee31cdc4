"""Paper I Fig. 2: a 100-particle bipolar ensemble, OILE map vs Eqs. (14) and (17), decoherence to Eq. (19).

Kost, Johns & Duan (arXiv:2402.05022), Sec. III. 60 nu_e (omega = 0.1 mu) and 40 nu_x
(omega = 0.2 mu) with random fixed velocities meet in random perfect matchings every step,
for gamma = 0.1, 0.01 and 1e-3. The study runs the discrete map (engine ``oile``) once per
gamma and writes

- ``fig2.png``: left column, the nu_e group's mean Bloch vector in the mass basis with its
  range shaded, |<P>| and <|P|>, against the master equation (Eq. 14, engine ``master``);
  right column, whole-ensemble means to late times against Eq. (17) (``master`` with
  ``isotropic=True``) restarted from the simulation state at mu t = 500;
- ``metrics.csv`` / ``metrics.md``: one row per gamma: largest deviations from Eq. (14) and
  Eq. (17), the distance from the fixed point of Eq. (19), P_a -> (0, 0, <P_3>) in the mass
  basis, at the end, and the drift of the conserved <P_3>;
- ``fig2_seeds.png``: seed error bands over mu t <= t_left: the nu_e group's mean Bloch vector
  (mass basis), |<P>| and <|P|>, averaged over ``[seeds] count`` schedule seeds at every gamma,
  with +-2 standard errors and +-1 standard deviation shaded, against Eq. (14) and the
  configured seed's curve; bottom row, the seed-to-seed scatter and the ensemble mean's
  distance from Eq. (14) against time;
- ``seeds.csv`` / ``seeds.md``: one row per gamma: the ensemble mean's largest distance from
  Eq. (14) and its standard error there, the single-seed distances (median, range), the
  seed-to-seed scatter, and the check that the sweep's point for the configured seed equals the
  study's own run;
- ``data_gamma_<g>_{oile,eq14,eq17}.nc``, ``data_seeds.nc`` (the ensemble statistics) and
  ``report.md`` / ``report.json``.

The seed ensemble is one ``oile_q.sweep`` (a spec built here: gamma x seed) run into the
sub-folder ``seeds/`` of the output folder (started afresh each run, so no point of an older
code version is reused) on a Dask ``LocalCluster`` (``--quick``: in this process, no Dask),
and combined with ``oile_q.sweep.collect``.

Parameters come from ``config.toml`` (section ``[quick]`` for ``quick=True``). Only the
public API of ``oile_q`` is used.
"""

from __future__ import annotations

import time

import numpy as np

import oile_q
from oile_q.results import group_means, mass_basis
from oile_q.studies import Study, seed_band

STUDY = Study(__file__)
STYLES = [":", "--", "-."]
COLORS = ["tab:blue", "tab:orange", "tab:green"]


def config(run):
    cfg = {**run.config["scenario"], **run.config["run"]}
    cfg["gammas"] = sorted((float(g) for g in cfg["gammas"]), reverse=True)
    return cfg


def record_times(cfg, gamma):
    """Left window on an even grid, the late-time window on a log grid, and the restart."""
    left = np.linspace(0.0, cfg["t_left"], 501)
    right = np.geomspace(max(gamma, 0.1), cfg["t_right"], 400)
    t = np.unique(np.round(np.concatenate([left, right, [cfg["restart"]]]) / gamma) * gamma)
    return t[t <= cfg["t_right"] + 1e-9]


def run_gamma(cfg, gamma):
    sc = oile_q.Scenario.from_groups(cfg["groups"], gamma=gamma, theta=cfg["theta"], seed=cfg["seed"])
    t0 = time.perf_counter()
    sim = oile_q.run(sc, "oile", times=record_times(cfg, gamma), seed=cfg.get("schedule_seed"))
    t_sim = time.perf_counter() - t0
    left_t = sim.time.values[sim.time.values <= cfg["t_left"] + 1e-9]
    eq14 = oile_q.run(sc, "master", times=left_t, rtol=1e-9, atol=1e-11)
    # Eq. (17) restarted from the simulated state at mu t = restart (flavor basis)
    at = sim.sel(time=cfg["restart"], method="nearest")
    t_restart = float(at.time)
    restarted = oile_q.Scenario(at.P.values, sc.omega, sc.velocity, gamma=gamma, theta=sc.theta, group=sc.group)
    late = sim.time.values[sim.time.values >= t_restart - 1e-9] - t_restart
    eq17 = oile_q.run(restarted, "master", times=late, isotropic=True, rtol=1e-9, atol=1e-11)
    eq17 = eq17.assign_coords(time=eq17.time.values + t_restart)
    return sc, sim, eq14, eq17, t_sim


def ensemble_means(ds):
    """Whole-ensemble statistics in the mass basis (one group 'all')."""
    return group_means(ds.assign_coords(group=("particle", np.full(ds.sizes["particle"], "all"))), "mass")


def metrics(cfg, gamma, sim, eq14, eq17, t_sim):
    g_sim = group_means(sim.sel(time=eq14.time.values, method="nearest"), "mass").sel(group="nu_e")
    g_14 = group_means(eq14, "mass").sel(group="nu_e")
    d14 = np.linalg.norm(g_sim["mean"].values - g_14["mean"].values, axis=-1)
    late = sim.sel(time=eq17.time.values, method="nearest")
    e_sim, e_17 = ensemble_means(late).sel(group="all"), ensemble_means(eq17).sel(group="all")
    d17 = np.linalg.norm(e_sim["mean"].values - e_17["mean"].values, axis=-1)
    Pm = mass_basis(sim).values
    p3 = Pm[:, :, 2].mean(1)
    fixed = np.array([0.0, 0.0, p3[0]])
    dist_end = float(np.linalg.norm(Pm[-1] - fixed, axis=-1).max())
    return {
        "gamma": gamma,
        "steps": int(round(float(sim.time[-1]) / gamma)),
        "max_dmean_nue_vs_eq14": float(d14.max()),
        "t_at_max_eq14": float(g_14.time[int(np.argmax(d14))]),
        "max_dpurity_nue_vs_eq14": float(np.abs(g_sim["mean_abs"].values - g_14["mean_abs"].values).max()),
        "max_dmean_all_vs_eq17": float(d17.max()),
        "final_mean_abs_P": float(np.linalg.norm(Pm[-1], axis=-1).mean()),
        "final_dist_to_eq19_fixed_point": dist_end,
        "P3_mean": float(p3[0]),
        "P3_mean_drift": float(np.abs(p3 - p3[0]).max()),
        "oile_seconds": t_sim,
    }


def plot(run, cfg, runs, name):
    plt = run.pyplot()
    fig, axes = plt.subplots(5, 2, figsize=(11, 12.5), sharex="col")
    labels = ["<P_1>", "<P_2>", "<P_3>", "|<P>|", "<|P|>"]
    for k, (gamma, (_sc, sim, eq14, eq17, _)) in enumerate(runs.items()):
        c, ls = COLORS[k % 3], STYLES[k % 3]
        left = sim.sel(time=eq14.time.values, method="nearest")
        gl, g14 = group_means(left, "mass").sel(group="nu_e"), group_means(eq14, "mass").sel(group="nu_e")
        full = sim.isel(time=sim.time.values > 0)
        er, e17 = ensemble_means(full).sel(group="all"), ensemble_means(eq17).sel(group="all")
        for col, (gs, ge, tt) in enumerate(((gl, g14, eq14.time.values), (er, e17, eq17.time.values))):
            ts = gs.time.values
            for i in range(3):
                ax = axes[i, col]
                ax.fill_between(ts, gs["min"].values[:, i], gs["max"].values[:, i], color=c, alpha=0.12, lw=0)
                ax.plot(ts, gs["mean"].values[:, i], ls, color=c, lw=1.6, label=f"OILE map, gamma = {gamma:g}")
                ax.plot(tt, ge["mean"].values[:, i], "-", color="k" if col == 0 else c, lw=0.7, alpha=0.9)
            axes[3, col].plot(ts, gs["abs_mean"].values, ls, color=c, lw=1.6)
            axes[3, col].plot(tt, ge["abs_mean"].values, "-", color="k" if col == 0 else c, lw=0.7)
            axes[4, col].plot(ts, gs["mean_abs"].values, ls, color=c, lw=1.6)
            axes[4, col].plot(tt, ge["mean_abs"].values, "-", color="k" if col == 0 else c, lw=0.7)
    for i, lab in enumerate(labels):
        axes[i, 0].set_ylabel(f"{lab} (mass basis)" if i < 3 else lab)
    n_e = next(g["count"] for g in cfg["groups"] if g["name"] == "nu_e")
    n_all = sum(g["count"] for g in cfg["groups"])
    axes[0, 0].set_title(f"nu_e group ({n_e} particles) vs Eq. (14) (thin black)", fontsize=10)
    axes[0, 1].set_title(f"whole ensemble vs Eq. (17) restarted at mu t = {cfg['restart']:g} (thin)", fontsize=10)
    axes[-1, 0].set_xlabel("mu t")
    axes[-1, 1].set_xlabel("mu t (log scale)")
    axes[-1, 1].set_xscale("log")
    for ax in axes[:, 1]:
        ax.axvline(cfg["restart"], color="0.6", lw=0.6, ls=":")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    for ax in axes.ravel():
        ax.ticklabel_format(axis="y", useOffset=False)
    fig.suptitle(
        f"Paper I Fig. 2: N = {n_all} bipolar ensemble (shading: range over particles), theta = {cfg['theta']:g}",
        fontsize=11,
    )
    fig.tight_layout()
    run.figure(
        fig,
        name,
        alt="Fig. 2",
        caption="Left: the nu_e group's mean Bloch vector in the mass basis (shading: its range over "
        "particles), |<P>| and <|P|>, with the master equation (Eq. 14, thin black). Right: the whole "
        "ensemble to late times with Eq. (17) restarted from the simulation state at "
        f"mu t = {cfg['restart']:g} (thin lines).",
    )


# --------------------------------------------------------------------------- seed error bands


def seed_spec(cfg, seeds):
    """The sweep behind the seed bands: the left window at every gamma, schedule seeds
    0 .. count-1 (velocities fixed by the scenario's seed, as in the main runs)."""
    return {
        "name": "paper1_fig2_seeds",
        "description": "Paper I Fig. 2 left window: OILE map at every gamma over schedule seeds",
        "engine": "oile",
        "scenario": {
            "gamma": cfg["gammas"][0],
            "theta": cfg["theta"],
            "seed": cfg["seed"],
            "group": [dict(g) for g in cfg["groups"]],
        },
        "run": {"times": {"linspace": [0.0, cfg["t_left"], 501]}, "schedule": "matching"},
        "grid": {"gamma": cfg["gammas"], "seed": {"range": [0, seeds["count"]]}},
    }


def run_seeds(run, cfg):
    """Run the seed sweep into ``outdir/seeds`` and collect its statistics (mass basis)."""
    seeds = run.config["seeds"]
    t0 = time.perf_counter()
    res, folder, _ = run.sweep(seed_spec(cfg, seeds), "seeds", client=seeds["client"], workers=seeds["workers"])
    ds = oile_q.sweep.collect(folder, basis="mass")
    names = [f"{v}_{s}" for v in ("group_mean", "group_abs_mean", "group_mean_abs") for s in ("mean", "std", "sem")]
    stats = ds[names + ["group_mean"]].compute()
    stats["n_seeds"] = ds["group_mean"].isel(component=0).count("seed").compute()
    own = cfg.get("schedule_seed")
    if own is not None and own in ds.seed.values:  # the configured seed's own Bloch vectors, to compare
        stats["P_own_seed"] = ds["P"].sel(seed=own).compute()
    stats.attrs = {
        "description": "OILE map over schedule seeds (oile_q.sweep); group observables in the mass "
        "basis; mean, std (ddof=1) and sem = std/sqrt(n) over seeds",
        "velocity_seed": cfg["seed"],
        "theta": cfg["theta"],
        "sweep_seconds": time.perf_counter() - t0,
    }
    return stats, res, time.perf_counter() - t0


def seed_metrics(cfg, gamma, stats, sim, eq14):
    """The ensemble against Eq. (14) and the configured seed, nu_e group, mu t <= t_left."""
    st = stats.sel(gamma=gamma, group_name="nu_e").dropna("time", how="all")
    t = st.time.values
    e14 = group_means(eq14, "mass").sel(group="nu_e")["mean"].sel(time=t, method="nearest")
    assert np.allclose(e14.time.values, t, rtol=0, atol=1e-9)
    m, se, sd = (st[f"group_mean_{k}"].values for k in ("mean", "sem", "std"))
    dev = np.linalg.norm(m - e14.values, axis=-1)
    se_n, sd_n = np.linalg.norm(se, axis=-1), np.linalg.norm(sd, axis=-1)
    k = int(np.argmax(dev))
    per_seed = np.linalg.norm(st["group_mean"].values - e14.values[None], axis=-1).max(axis=1)  # (seed,)
    row = {
        "gamma": gamma,
        "seeds": int(st["n_seeds"].min()),
        "max_dmean_seedavg_vs_eq14": float(dev.max()),
        "t_at_max": float(t[k]),
        "sem_at_max": float(se_n[k]),
        "seedavg_dev_over_sem": float(dev[k] / se_n[k]) if se_n[k] > 0 else float("nan"),
        "single_seed_max_dev_median": float(np.median(per_seed)),
        "single_seed_max_dev_min": float(per_seed.min()),
        "single_seed_max_dev_max": float(per_seed.max()),
        "seed_scatter_max": float(sd_n.max()),
        "seed_scatter_end": float(sd_n[-1]),
        "max_dP3_seedavg_vs_eq14": float(np.abs(m[:, 2] - e14.values[:, 2]).max()),
    }
    e_abs = group_means(eq14, "mass").sel(group="nu_e")["mean_abs"].sel(time=t, method="nearest").values
    d_abs = np.abs(st["group_mean_abs_mean"].values - e_abs)
    ka = int(np.argmax(d_abs))
    row["max_dpurity_seedavg_vs_eq14"] = float(d_abs[ka])
    row["dpurity_sign"] = float(np.sign(st["group_mean_abs_mean"].values[ka] - e_abs[ka]))  # +1: the map purer
    row["dpurity_over_sem"] = float(d_abs[ka] / st["group_mean_abs_sem"].values[ka])
    if "P_own_seed" in stats:
        mine = sim["P"].sel(time=t, method="nearest").values
        row["own_seed_P_sweep_vs_run"] = float(np.abs(stats["P_own_seed"].sel(gamma=gamma, time=t).values - mine).max())
    return row, {"t": t, "dev": dev, "se": se_n, "sd": sd_n}


def purity_text(rows):
    """A sentence on the gammas where the seed-averaged purity is many standard errors off Eq. (14)."""
    far = [r for r in rows if r["dpurity_over_sem"] > 5]
    if not far:
        return ""
    purer = all(r["dpurity_sign"] > 0 for r in far)
    gammas = ", ".join(f"{r['gamma']:g}" for r in far)
    text = (
        f" At gamma = {gammas} that is no schedule noise but systematic: the "
        f"map's <|P|> is {'above' if purer else 'off'} Eq. (14)'s"
    )
    if purer:
        text += (
            " (the random choice of partners adds a purity source that Eq. (14) lacks; docs/theory.md, "
            "Purity and the source S_a)"
        )
    return text + "."


def plot_seeds(run, cfg, runs, stats, curves, name):
    plt = run.pyplot()
    gammas = list(runs)
    fig, axes = plt.subplots(6, len(gammas), figsize=(4.6 * len(gammas) + 1.2, 14.5), sharex=True, squeeze=False)
    labels = ["<P_1>", "<P_2>", "<P_3>", "|<P>|", "<|P|>"]
    own = cfg.get("schedule_seed")
    for j, gamma in enumerate(gammas):
        c = COLORS[j % 3]
        sc, sim, eq14, _, _ = runs[gamma]
        st = stats.sel(gamma=gamma, group_name="nu_e").dropna("time", how="all")
        t = st.time.values
        e14 = group_means(eq14, "mass").sel(group="nu_e")
        mine = group_means(sim.sel(time=t, method="nearest"), "mass").sel(group="nu_e")
        series = [
            (
                st["group_mean_mean"].values[:, i],
                st["group_mean_sem"].values[:, i],
                st["group_mean_std"].values[:, i],
                e14["mean"].values[:, i],
                mine["mean"].values[:, i],
            )
            for i in range(3)
        ]
        series.append(
            (
                st["group_abs_mean_mean"].values,
                st["group_abs_mean_sem"].values,
                st["group_abs_mean_std"].values,
                e14["abs_mean"].values,
                mine["abs_mean"].values,
            )
        )
        series.append(
            (
                st["group_mean_abs_mean"].values,
                st["group_mean_abs_sem"].values,
                st["group_mean_abs_std"].values,
                e14["mean_abs"].values,
                mine["mean_abs"].values,
            )
        )
        for i, (mean, sem, sd, eq, one) in enumerate(series):
            ax = axes[i, j]
            seed_band(ax, t, mean, sem, sd, c, int(st["n_seeds"].min()), lw=1.3, alpha=0.45)
            ax.plot(e14.time.values, eq, "-", color="k", lw=0.7, label="Eq. (14)")
            ax.plot(t, one, ":", color="0.25", lw=0.9, label=f"seed {own} (fig2.png)")
            ax.ticklabel_format(axis="y", useOffset=False)
        cv = curves[gamma]
        ax = axes[5, j]
        pos = cv["t"] > 0  # all three vanish at t = 0
        ax.semilogy(cv["t"][pos], cv["sd"][pos], "-", color=c, lw=1.3, label="seed scatter |sd(<P>)|")
        ax.semilogy(cv["t"][pos], cv["dev"][pos], "-", color="k", lw=0.8, label="|mean - Eq. (14)|")
        ax.semilogy(cv["t"][pos], 2 * cv["se"][pos], "--", color=c, lw=0.9, label="2 |s.e.|")
        ax.set_ylim(bottom=max(1e-3 * float(cv["sd"].max()), float(np.min(cv["sd"][pos], initial=np.inf)) / 2))
        axes[0, j].set_title(f"gamma = {gamma:g}: nu_e group", fontsize=10)
        axes[-1, j].set_xlabel("mu t")
    for i, lab in enumerate(labels):
        axes[i, 0].set_ylabel(f"{lab} (mass basis)" if i < 3 else lab)
    axes[5, 0].set_ylabel("nu_e <P>: scatter, distance")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    axes[5, 0].legend(fontsize=7, loc="lower right")
    n_all = sum(g["count"] for g in cfg["groups"])
    fig.suptitle(
        f"Paper I Fig. 2, left window: N = {n_all}, theta = {cfg['theta']:g}, one velocity draw,\n"
        f"{int(stats['n_seeds'].min())} schedule seeds (oile_q.sweep)",
        fontsize=11,
    )
    fig.tight_layout()
    run.figure(
        fig,
        name,
        alt="Fig. 2 seed bands",
        caption="The nu_e group over schedule seeds (mass basis): the seed average (line) with +-2 standard "
        "errors (dark band) and +-1 seed-to-seed standard deviation (light band), Eq. (14) (black) "
        f"and the single schedule of fig2.png (seed {own}, dotted). Bottom: the seed-to-seed scatter "
        "|sd(<P>)|, the distance of the seed average from Eq. (14) and twice its standard error.",
    )


def main(outdir, quick=False):
    run = STUDY.start(outdir, quick)
    cfg = config(run)
    stats, sweep_res, t_seeds = run_seeds(run, cfg)
    run.save(stats, "data_seeds.nc")
    runs, rows, seed_rows, curves = {}, [], [], {}
    for gamma in cfg["gammas"]:
        sc, sim, eq14, eq17, t_sim = runs[gamma] = run_gamma(cfg, gamma)
        rows.append(metrics(cfg, gamma, sim, eq14, eq17, t_sim))
        row, curves[gamma] = seed_metrics(cfg, gamma, stats, sim, eq14)
        seed_rows.append(row)
        for name, ds in (("oile", sim), ("eq14", eq14), ("eq17", eq17)):
            run.save(ds, f"data_gamma_{gamma:g}_{name}.nc")
    plot(run, cfg, runs, "fig2.png")
    plot_seeds(run, cfg, runs, stats, curves, "fig2_seeds.png")
    run.table(rows, "metrics", title="Paper I Fig. 2: OILE map vs Eqs. (14), (17) and the fixed point (19)")
    n_seeds = seed_rows[0]["seeds"]
    run.table(
        seed_rows,
        "seeds",
        title=f"Seed error bands: the nu_e group mean (mass basis) over {n_seeds} schedule seeds, "
        f"mu t <= {cfg['t_left']:g}, against Eq. (14)",
        note="Distances are Euclidean norms of 3-vectors: `max_dmean_seedavg_vs_eq14` of the seed average "
        "from Eq. (14), largest over time, with the norm of its standard error there (`sem_at_max`) and "
        "their ratio; `single_seed_max_dev_*` the same largest distance for each seed alone (median, "
        "min, max over seeds); `seed_scatter` the norm of the seed-to-seed standard deviation (largest "
        f"and at mu t = {cfg['t_left']:g}); `max_dpurity_seedavg_vs_eq14` the largest difference of the "
        "seed-averaged <|P|> from Eq. (14), in standard errors `dpurity_over_sem`, with its sign "
        "`dpurity_sign` (+1: the map's purity is higher); "
        "`own_seed_P_sweep_vs_run` the largest difference between the Bloch vectors of the sweep's point "
        f"for seed {cfg.get('schedule_seed')} and those of the study's own run of it.",
    )
    best = min(rows, key=lambda r: r["gamma"])
    worst = max(rows, key=lambda r: r["gamma"])
    groups_text = ", ".join(f"{g['count']} {g['name']} with omega = {g['omega']:g} mu" for g in cfg["groups"])
    return run.report(
        title="Paper I Fig. 2: collective oscillations and decoherence of a bipolar ensemble",
        intro=[
            f"{sum(g['count'] for g in cfg['groups'])} particles ({groups_text}), random isotropic velocities "
            f"(seed {cfg['seed']}), random perfect matchings (seed {cfg.get('schedule_seed')}), mixing angle "
            f"theta = {cfg['theta']:g} (nu_e starts at (sin 2 theta, 0, cos 2 theta) in the mass basis, a Bloch "
            f"tilt of 2 theta = {2 * cfg['theta']:g}, as in the paper's authors' code); gamma = "
            f"{', '.join(f'{g:g}' for g in cfg['gammas'])}."
        ],
        shows=[
            f"Eq. (14) tracks the nu_e group mean to {best['max_dmean_nue_vs_eq14']:.2g} for gamma = "
            f"{best['gamma']:g} and to {worst['max_dmean_nue_vs_eq14']:.2g} for gamma = {worst['gamma']:g} over "
            f"mu t <= {cfg['t_left']:g}; with {sum(g['count'] for g in cfg['groups'])} particles part of the "
            "difference is sampling noise of one random schedule.",
            f"Quantum decoherence shrinks <|P|> on the time scale 1/(gamma mu): at the end (mu t = "
            f"{cfg['t_right']:g}) "
            + ", ".join(f"<|P|> = {r['final_mean_abs_P']:.3g} for gamma = {r['gamma']:g}" for r in rows)
            + ".",
            "Eq. (19): the largest distance of any P_a from the fixed point (0, 0, <P_3>) in the mass basis at the "
            "end is "
            + ", ".join(f"{r['final_dist_to_eq19_fixed_point']:.2g} (gamma = {r['gamma']:g})" for r in rows)
            + ".",
            f"<P_3> = {rows[0]['P3_mean']:.6f} in the mass basis is conserved by the map: largest drift "
            f"{max(r['P3_mean_drift'] for r in rows):.1e}.",
            f"Eq. (17), restarted at mu t = {cfg['restart']:g}, follows the whole-ensemble means to "
            + ", ".join(f"{r['max_dmean_all_vs_eq17']:.2g} (gamma = {r['gamma']:g})" for r in rows)
            + ".",
            f"Over {n_seeds} schedule seeds (mu t <= {cfg['t_left']:g}) the seed average of the nu_e group mean "
            "stays within "
            + ", ".join(
                f"{r['max_dmean_seedavg_vs_eq14']:.2g} of Eq. (14) ({r['seedavg_dev_over_sem']:.1f} standard "
                f"errors; gamma = {r['gamma']:g})"
                for r in seed_rows
            )
            + ", while a single seed strays up to "
            + ", ".join(
                f"{r['single_seed_max_dev_median']:.2g} (median; range {r['single_seed_max_dev_min']:.2g}"
                f"-{r['single_seed_max_dev_max']:.2g})"
                for r in seed_rows
            )
            + ". The seed-to-seed scatter of the group mean reaches "
            + ", ".join(f"{r['seed_scatter_max']:.2g}" for r in seed_rows)
            + " (gamma = "
            + ", ".join(f"{r['gamma']:g}" for r in seed_rows)
            + ").",
            f"The seed ensemble is one `oile_q.sweep` of {sweep_res.total} points (gamma x seed) in "
            f"{t_seeds:.0f} s"
            + (
                " in this process"
                if run.config["seeds"]["client"] == "serial"
                else f" on a LocalCluster of {run.config['seeds']['workers']} workers"
            )
            + (
                "; its point for the configured seed reproduces the study's own run exactly (largest difference "
                "of the Bloch vectors " + ", ".join(f"{r['own_seed_P_sweep_vs_run']:.1g}" for r in seed_rows) + ")"
                if all("own_seed_P_sweep_vs_run" in r for r in seed_rows)
                else ""
            )
            + ".",
            "Purity: the seed-averaged <|P|> of nu_e differs from Eq. (14) by up to "
            + ", ".join(
                f"{r['max_dpurity_seedavg_vs_eq14']:.2g} ({r['dpurity_over_sem']:.0f} standard errors; "
                f"gamma = {r['gamma']:g})"
                for r in seed_rows
            )
            + "."
            + purity_text(seed_rows),
        ],
    )
