"""Poster two-group gas: Poisson-timed encounters (gamma = 1e-2) to gamma mu t >> 1, against the Poisson master
equation and the miscidynamic path.

Two groups (nu_e and nu_x with different vacuum frequencies, random velocities) meet in
paper II's stochastic encounters: each step of mu dt = p gamma, every particle meets a random
partner with probability p. The study runs the discrete map (``oile``, schedule
``"poisson"``) to gamma mu t = 10 and the master equation in its Poisson variant
(``master`` with the same schedule arguments: the O(gamma) bracket weighted by p) and the
theory's dashed curves, the slow path along quasi-steady states (``misci`` with the same
schedule arguments: the flow with the Poisson weights s = p), and writes

- ``two_group.png``: per group, the mean Bloch vector in the mass basis with its spread
  (range over particles) shaded, |<P>| and <|P|>, against mu t (log axis), with misci's path
  after its switch (P_3, |<P>|, <|P|>, and +-|P_perp| as the envelope of P_1 and P_2: misci
  predicts phase-invariant observables, not the precession phase);
- ``metrics.csv`` / ``metrics.md``: per group, the largest deviation of the map's group mean
  from the master equation, the final |<P>| and <|P|>, and the largest deviations of misci
  and of the master equation from the map after misci's switch (running means over
  ``smooth``/mu of the phase-invariant observables);
- ``data_oile.nc``, ``data_master.nc``, ``data_misci.nc`` and ``report.md`` / ``report.json``.
"""

from __future__ import annotations

import numpy as np

import oile_q
from oile_q.errors import InputError
from oile_q.results import group_means, mass_basis, mass_p3_sum
from oile_q.studies import Study

STUDY = Study(__file__)


def plot(run, sim, eq, mi, cfg, name):
    plt = run.pyplot()
    gs, ge = group_means(sim, "mass"), group_means(eq, "mass")
    ts, te = sim.time.values, eq.time.values
    after = mi.time.values > mi.attrs["misci_switch_time"]
    tm = mi.time.values[after]
    fig, axes = plt.subplots(5, 1, figsize=(7.5, 11), sharex=True)
    names = ["<P_1> (mass basis)", "<P_2> (mass basis)", "<P_3> (mass basis)", "|<P>|", "<|P|>"]
    for k, g in enumerate(gs.group.values):
        c = f"C{k}"
        a, b = gs.sel(group=g), ge.sel(group=g)
        for i in range(3):
            axes[i].fill_between(ts, a["min"].values[:, i], a["max"].values[:, i], color=c, alpha=0.15, lw=0)
            axes[i].plot(ts, a["mean"].values[:, i], color=c, lw=1.4, label=f"{g}: OILE map (Poisson)")
            axes[i].plot(
                te,
                b["mean"].values[:, i],
                ":",
                color="k",
                lw=0.9,
                label="master equation (Poisson variant)" if k == 0 else None,
            )
        j = int(np.flatnonzero(mi.group_name.values == g)[0])
        perp = mi.group_Pperp.values[after, j]
        for i in (0, 1):
            axes[i].plot(
                tm,
                perp,
                "--",
                color="tab:red",
                lw=1.0,
                label="misci: path along QSS (+-|P_perp| for P_1, P_2)" if (k, i) == (0, 0) else None,
            )
            axes[i].plot(tm, -perp, "--", color="tab:red", lw=1.0)
        axes[2].plot(tm, mi.group_P3.values[after, j], "--", color="tab:red", lw=1.0)
        axes[3].plot(ts, a["abs_mean"].values, color=c, lw=1.4)
        axes[3].plot(te, b["abs_mean"].values, ":", color="k", lw=0.9)
        axes[3].plot(tm, mi.group_abs_mean.values[after, j], "--", color="tab:red", lw=1.0)
        axes[4].plot(ts, a["mean_abs"].values, color=c, lw=1.4)
        axes[4].plot(te, b["mean_abs"].values, ":", color="k", lw=0.9)
        axes[4].plot(tm, mi.group_mean_abs.values[after, j], "--", color="tab:red", lw=1.0)
    for ax in axes:
        ax.axvline(mi.attrs["misci_switch_time"], color="0.6", lw=0.6)
    for ax, n in zip(axes, names):
        ax.set_ylabel(n)
    axes[-1].set_xscale("log")
    axes[-1].set_xlim(min(0.1, cfg["t_max"] / 100), cfg["t_max"])
    axes[-1].set_xlabel("mu t (log scale)")
    axes[0].legend(fontsize=8, loc="lower left")
    axes[0].set_title(
        f"Two-group gas, gamma = {cfg['gamma']:g}, Poisson encounters p = {cfg['p']:g} "
        "(shading: spread within a group)",
        fontsize=10,
    )
    fig.tight_layout()
    run.figure(
        fig,
        name,
        alt="two-group gas",
        caption="Solid: the OILE map (group means, range within a group shaded); dotted: the master "
        "equation (Poisson variant); red dashes: misci, the miscidynamic path along quasi-steady states, "
        f"after its switch from the master equation at mu t = {mi.attrs['misci_switch_time']:g} (grey line). "
        "On the P_1 and P_2 panels misci draws +-|P_perp|, the envelope of the precessing group mean.",
    )


def smoothed_observables(P, group, names, t, width):
    """Running means over ``width`` (mu t, uniform grid ``t``) of the group means' P_3 and |P_perp| and
    of <|P|> (mass-basis P (T, N, 3)): (3, T, G)."""
    from scipy.ndimage import uniform_filter1d

    out = []
    for g in names:
        sel = group == g
        M = P[:, sel].mean(1)
        out.append([M[:, 2], np.hypot(M[:, 0], M[:, 1]), np.linalg.norm(P[:, sel], axis=2).mean(1)])
    k = max(int(round(width / (t[1] - t[0]))), 1)
    return uniform_filter1d(np.moveaxis(np.array(out), 0, -1), size=k, axis=1, mode="nearest")


def main(outdir, quick=False):
    run = STUDY.start(outdir, quick)
    cfg = {**run.config["scenario"], **run.config["run"]}
    sc = oile_q.Scenario.from_groups(cfg["groups"], gamma=cfg["gamma"], theta=cfg["theta"], seed=cfg["seed"])
    dt = cfg["p"] * cfg["gamma"]
    times = np.unique(np.round(np.concatenate([[0.0], np.geomspace(dt, cfg["t_max"], 600)]) / dt) * dt)
    # a uniform grid for the running means of the misci comparison, recorded in the same runs (recording more
    # times changes neither the map's schedule nor the integrator's steps: the log-grid values are unchanged)
    step = cfg["misci_dt"]
    fine = np.round(np.arange(0.0, cfg["t_max"] + 1e-9, step) / dt) * dt
    kw = dict(schedule="poisson", p=cfg["p"])
    full = oile_q.run(sc, "oile", times=np.union1d(times, fine), seed=cfg["schedule_seed"], **kw)
    eq_full = oile_q.run(sc, "master", times=full.time.values, rtol=1e-9, atol=1e-11, **kw)
    on_log = np.isin(full.time.values, times)
    on_fine = np.isin(full.time.values, fine)
    sim = run.save(full.isel(time=on_log), "data_oile.nc")
    eq = run.save(eq_full.isel(time=on_log), "data_master.nc")
    mi = run.save(
        oile_q.run(sc, "misci", times=np.union1d(sim.time.values, full.time.values[on_fine]), **kw), "data_misci.nc"
    )
    plot(run, sim, eq, mi.sel(time=sim.time.values), cfg, "two_group.png")
    gs, ge = group_means(sim, "mass"), group_means(eq, "mass")
    # misci and the master equation against the map after misci's switch: running means on the uniform grid
    tf = full.time.values[on_fine]
    names = sorted(set(np.asarray(sc.group).astype(str)))
    grp = np.asarray(sc.group).astype(str)
    o_map = smoothed_observables(np.asarray(mass_basis(full.isel(time=on_fine))), grp, names, tf, cfg["smooth"])
    o_eq = smoothed_observables(np.asarray(mass_basis(eq_full.isel(time=on_fine))), grp, names, tf, cfg["smooth"])
    mf = mi.sel(time=tf)
    o_mi = np.stack([mf.group_P3.values, mf.group_Pperp.values, mf.group_mean_abs.values])
    from scipy.ndimage import uniform_filter1d

    o_mi = uniform_filter1d(o_mi, size=max(int(round(cfg["smooth"] / (tf[1] - tf[0]))), 1), axis=1, mode="nearest")
    T0 = float(mi.attrs["misci_switch_time"])
    win = (tf >= T0 + cfg["smooth"] / 2) & (tf <= cfg["t_max"] - cfg["smooth"] / 2)
    if not win.any():
        raise InputError(
            f"`t_max` = {cfg['t_max']:g} leaves no time after misci's switch at mu t = {T0:g} and half a "
            f"smoothing window ({cfg['smooth']:g}) on each side; raise `t_max`."
        )
    rows = []
    for g in gs.group.values:
        a, b = gs.sel(group=g), ge.sel(group=g)
        d = np.linalg.norm(a["mean"].values - b["mean"].values, axis=-1)
        rows.append(
            {
                "group": str(g),
                "max_dmean_vs_master": float(d.max()),
                "t_at_max": float(a.time[int(np.argmax(d))]),
                "final_abs_mean": float(a["abs_mean"].values[-1]),
                "final_mean_abs": float(a["mean_abs"].values[-1]),
                "final_spread_P3": float(a["max"].values[-1, 2] - a["min"].values[-1, 2]),
            }
        )
        k = names.index(str(g))
        rows[-1].update(
            {
                "misci_dmeans_vs_map": float(np.abs(o_mi[:2, win, k] - o_map[:2, win, k]).max()),
                "misci_dmean_abs_vs_map": float(np.abs(o_mi[2, win, k] - o_map[2, win, k]).max()),
                "master_dmeans_vs_map": float(np.abs(o_eq[:2, win, k] - o_map[:2, win, k]).max()),
            }
        )
    p3 = mass_p3_sum(sim).values
    run.table(
        rows,
        "metrics",
        title=f"Two-group gas, Poisson encounters: OILE map vs master equation (mu t <= {cfg['t_max']:g}) and vs misci",
        note=f"misci_*: misci (flow weights s = p) against the map for mu t in [{T0 + cfg['smooth'] / 2:g}, "
        f"{cfg['t_max'] - cfg['smooth'] / 2:g}] (after misci's switch at mu t = {T0:g}), running means over "
        f"{cfg['smooth']:g}/mu; dmeans: largest deviation of the group mean's mass-basis P_3 and |P_perp|; "
        "dmean_abs: of <|P|>; master_dmeans_vs_map: the master equation in the same window and measure.",
    )
    return run.report(
        title="Two-group neutrino gas with Poisson-timed encounters (poster, simple situation 2)",
        intro=[
            f"gamma = {cfg['gamma']:g}, p = {cfg['p']:g} (a step lasts mu dt = {dt:g}), "
            + ", ".join(f"{g['count']} {g['name']} (omega = {g['omega']:g} mu)" for g in cfg["groups"])
            + f", theta = {cfg['theta']:g}, random isotropic velocities (seed {cfg['seed']}), schedule seed "
            f"{cfg['schedule_seed']}; mu t up to {cfg['t_max']:g} (gamma mu t = {cfg['gamma'] * cfg['t_max']:g})."
        ],
        shows=[
            "After the first mean-field equilibration the spread within each group collapses while the group means "
            "drift slowly (gamma mu t ~ 1 and beyond): entanglement moves the gas along a path of mean-field "
            "equilibria.",
            "The Poisson variant of the master equation (the O(gamma) bracket weighted by p, derived in "
            "`oile_q/engines/master.py`) follows the group means to "
            + ", ".join(f"{r['max_dmean_vs_master']:.2g} ({r['group']})" for r in rows)
            + ".",
            f"The mass-basis sum of P_3 is conserved to {float(np.abs(p3 - p3[0]).max()):.1e}.",
            f"The miscidynamic path (engine `misci`, Poisson weights s = p; switch from the master equation at mu t = "
            f"{T0:g}, {mi.attrs['misci_start']}) follows the map's group means (P_3, |P_perp|, running means over "
            f"{cfg['smooth']:g}/mu) to "
            + ", ".join(f"{r['misci_dmeans_vs_map']:.2g} ({r['group']})" for r in rows)
            + " and <|P|> to "
            + ", ".join(f"{r['misci_dmean_abs_vs_map']:.2g}" for r in rows)
            + " after the switch; "
            "the master equation does so to " + ", ".join(f"{r['master_dmeans_vs_map']:.2g}" for r in rows) + ".",
        ],
    )
