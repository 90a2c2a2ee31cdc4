#!/usr/bin/env python
"""Miscidynamics: what the ``misci`` engine costs and how well it follows the OILE map
(a benchmark and validation script, not a test; docs/theory.md, issue 9).

Parts (each prints a table; ``--json`` also writes every figure):

``cost``
    Wall time of ``misci`` to tau = gamma mu t = 10 for gamma = 1e-2 ... 1e-5 and N = 100 and
    10^4 (paper I's gas: 60 % nu_e with omega = 0.1 mu, 40 % nu_x with omega = 0.2 mu), split
    into the start and the flow (at N = 10^4 the default start on a velocity quadrature next to
    the full master-equation start, and the difference of their paths), next to the OILE map and the master equation
    per unit tau, measured in the same run on short stretches (the map costs (N/2)/gamma^2
    encounters per unit tau, the master equation ~1/gamma right-hand sides per unit tau).
``stationary``
    A QSS built by the solver under the isotropic mean field over mu t = 500 (max deviation
    from rigid precession at Omega), and under the velocity-resolved ``meanfield`` engine for
    N = 100 and 10^4 (group-mean drift in the co-rotating frame).
``slope``
    Flow vs the master equation Eq. 17 from the same exact QSS (particles of a group
    identical; isotropic weights), gamma = 3e-2 ... 1e-4, tau <= 3: max group-mean difference
    and the fitted power and coefficient, on the late branch and on an antiparallel branch.
``map``
    End to end vs the OILE map for paper I's gas (N = 100, seeds 1-3) at gamma = 1e-2, 3e-3,
    1e-3: phase-invariant observables smoothed over 100/mu, group means (P_3, |P_perp|) in
    tau [1, 3] and [3, 10], <|P|>_g with and without S_a, Omega, the seed-to-seed scatter and
    whether a group's c crosses zero.
``long``
    gamma = 1e-2 to tau = 40: decay rate of m = |M_perp| (exp(-k tau)) for misci and the map.
``poisson``
    gamma = 1e-2, p = 0.1: misci (s = p) vs the Poisson OILE map (seeds 1-2), next to the
    every-step flow (s = 1) on the same gas.

BLAS is limited to one thread before numpy is imported ("on one core").

    python benchmarks/bench_misci.py cost
    python benchmarks/bench_misci.py stationary slope map long poisson --json misci.json
    python benchmarks/bench_misci.py all --quick      # small sizes, to check the script runs
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import oile_q  # noqa: E402
import oile_q.errors  # noqa: E402
from oile_q.engines.misci import phase_invariants  # noqa: E402
from oile_q.qss import solve_qss  # noqa: E402
from oile_q.results import mass_basis  # noqa: E402

W = (0.1, 0.2)
RESULTS = {}


def paper1_gas(gamma, n=100, seed=1):
    ne = n * 6 // 10
    return oile_q.Scenario.from_groups(
        [dict(name="nu_e", count=ne, flavor="e", omega=0.1), dict(name="nu_x", count=n - ne, flavor="x", omega=0.2)],
        gamma=gamma,
        theta=1e-3,
        seed=seed,
    )


def exact_qss_gas(ce, cx, gamma, *, n=10, M3=0.2, velocities=None):
    ne = n * 6 // 10
    nx = n - ne
    q = solve_qss([ce, cx], W, M3=M3, weights=[ne, nx])
    c = np.r_[np.full(ne, ce), np.full(nx, cx)]
    w = np.r_[np.full(ne, W[0]), np.full(nx, W[1])]
    v = np.tile([0, 0, 1.0], (n, 1)) if velocities is None else velocities
    sc = oile_q.Scenario(q.bloch(c, w), w, v, gamma=gamma, basis="mass", group=["e"] * ne + ["x"] * nx)
    return sc, q, c, w


def stats(ds):
    return json.loads(ds.attrs["engine_stats"])


def timed(f, *a, **k):
    t0 = time.perf_counter()
    out = f(*a, **k)
    return out, time.perf_counter() - t0


def group_obs(ds):
    """(group, [P3, |P_perp|, |<P>|, <|P|>], time) in the mass basis, groups sorted."""
    return np.moveaxis(phase_invariants(ds), -1, 0)


def misci_obs(ds):
    return np.stack([ds[k].values.T for k in ("group_P3", "group_Pperp", "group_abs_mean", "group_mean_abs")], 1)


def smooth(x, width, dt):
    k = max(int(round(width / dt)), 1)
    ker = np.ones(k) / k
    return np.apply_along_axis(lambda v: np.convolve(v, ker, mode="same"), -1, x)


def crosses_zero(ds):
    """Whether a group's signed length <c>_g changes sign along the flow (NaN before the switch)."""
    c = ds["group_c"].values
    c = c[~np.isnan(c).any(1)]
    return bool((np.diff(np.sign(c), axis=0) != 0).any())


def load_note():
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


# --------------------------------------------------------------------------- cost


def part_cost(quick):
    gammas = [1e-2, 1e-3] if quick else [1e-2, 1e-3, 1e-4, 1e-5]
    sizes = [100, 2400] if quick else [100, 10_000]
    rows = []
    # warm up imports and compiled kernels
    oile_q.run(paper1_gas(1e-2, 20), "misci", times=[0, 300, 400], switch_time=300.0)
    oile_q.run(paper1_gas(1e-2, 40), "misci", times=[0, 300, 400], switch_time=300.0, quadrature=16)
    for n in sizes:
        # the map's encounter rate and the master equation's cost per mu t, measured here
        sc = paper1_gas(1e-3, n)
        steps = max(2000, 2_000_000 // n)
        _, t_map = timed(oile_q.run, sc, "oile", steps=steps, times=[steps * 1e-3], seed=1)
        rate = steps * (n // 2) / t_map
        span = 50.0 if n <= 1000 else 20.0
        ds, t_ma = timed(oile_q.run, sc, "master", times=[0, span])
        master_per_mut = t_ma / span
        # N > 2000: misci's default start is the velocity quadrature; the full start (quadrature=0),
        # timed alongside, is the reference it is compared with
        variants = [None] if n <= 2000 else [0, None]
        for gamma, quad in [(g, v) for g in gammas for v in variants]:
            sc = paper1_gas(gamma, n)
            kw = {} if quad is None else {"quadrature": quad}
            ds, wall = timed(oile_q.run, sc, "misci", times=np.linspace(0, 10.0 / gamma, 201), **kw)
            st = stats(ds)
            map_per_tau = (n // 2) / gamma**2 / rate
            master_per_tau = master_per_mut / gamma
            start = "full" if quad == 0 else ("quadrature" if "misci_start_quadrature" in ds.attrs else "particles")
            row = dict(
                N=n,
                gamma=gamma,
                start_on=start,
                quadrature_points=st.get("quadrature_points"),
                misci_s=round(wall, 3),
                start_s=st["start_wall_s"],
                flow_s=st["flow_wall_s"],
                switch_mut=ds.attrs["misci_switch_time"],
                start_mode=ds.attrs["misci_start"],
                flow_rhs=st["flow_rhs_evals"],
                master_rhs=st["master_rhs_evals"],
                map_s_per_tau=map_per_tau,
                master_s_per_tau=master_per_tau,
                map_over_misci=10 * map_per_tau / wall,
                master_over_misci=10 * master_per_tau / wall,
            )
            if quad == 0:
                full = ds
            elif start == "quadrature":  # against the full start: group observables, tau in [1, 3] and [3, 10]
                tau = gamma * ds.time.values
                d = np.abs(misci_obs(ds) - misci_obs(full))
                for lo, hi in ((1, 3), (3, 10)):
                    sel = (tau >= lo) & (tau <= hi)
                    row[f"quad_vs_full_means_{lo}_{hi}"] = float(d[:, :2][..., sel].max())
                    row[f"quad_vs_full_mean_abs_{lo}_{hi}"] = float(d[:, 3][..., sel].max())
            rows.append(row)
            label = f" start on {start:10s}"
            print(
                f"N={n:6d}{label} gamma={gamma:7.0e}  misci to tau=10: {wall:6.2f} s (start {row['start_s']:.2f} s "
                f"to mu t {row['switch_mut']:g} [{row['start_mode']}], flow {row['flow_s']:.2f} s, "
                f"{row['flow_rhs']} flow RHS)  |  map {map_per_tau:9.3g} s/tau  master {master_per_tau:9.3g} s/tau"
                f"  |  to tau=10: map/misci {row['map_over_misci']:8.3g}, master/misci "
                f"{row['master_over_misci']:8.3g}",
                flush=True,
            )
            if "quad_vs_full_means_1_3" in row:
                print(
                    f"    quadrature ({row['quadrature_points']} points) vs the full start: group means "
                    f"{row['quad_vs_full_means_1_3']:.2e} / {row['quad_vs_full_means_3_10']:.2e}, <|P|> "
                    f"{row['quad_vs_full_mean_abs_1_3']:.2e} / {row['quad_vs_full_mean_abs_3_10']:.2e} "
                    "(tau in [1, 3] / [3, 10])"
                )
        print(f"  (N={n}: map {rate:.3g} encounters/s; master {master_per_mut:.3g} s per mu t)")
    RESULTS["cost"] = dict(rows=rows, note=load_note())
    print(f"[{load_note()}]")


# --------------------------------------------------------------------------- stationarity


def part_stationary(quick):
    from scipy.integrate import solve_ivp

    from oile_q.conventions import rotation_z
    from oile_q.scenario import isotropic_velocities

    out = {}
    sc, q, c, w = exact_qss_gas(0.9, -0.5, 0.01)
    P0 = q.bloch(c, w)
    B = np.array([0, 0, 1.0])
    T = np.linspace(0, 500, 101)
    sol = solve_ivp(
        lambda t, y: np.cross(-w[:, None] * B + y.reshape(-1, 3).mean(0), y.reshape(-1, 3)).ravel(),
        (0, 500),
        P0.ravel(),
        method="DOP853",
        t_eval=T,
        rtol=1e-13,
        atol=1e-15,
    )
    dev = max(np.abs(y.reshape(-1, 3) - q.bloch(c, w, phase=q.Omega * t)).max() for t, y in zip(T, sol.y.T))
    out["isotropic_max_dev"] = float(dev)
    print(f"isotropic mean field, exact QSS (0.9, -0.5), mu t <= 500: max |P - R(Omega t) P0| = {dev:.2e}")
    for n in [100, 1000] if quick else [100, 10_000]:
        for ce, cx, label in [(0.24, 0.23, "late"), (0.9, -0.5, "antiparallel")]:
            V = isotropic_velocities(n, np.random.default_rng(7))
            sc, q, c, w = exact_qss_gas(ce, cx, 0.01, n=n, velocities=V)
            t = np.linspace(0, 500, 501)
            ds, wall = timed(oile_q.run, sc, "meanfield", times=t, rtol=1e-9, atol=1e-11)
            P = np.asarray(mass_basis(ds))
            g = np.asarray(ds["group"])
            drift = 0.0
            for name in ("e", "x"):
                Mg = P[:, g == name].mean(1)
                back = np.einsum("tij,tj->ti", rotation_z(-q.Omega * t), Mg)
                drift = max(drift, float(np.abs(back - back[0]).max()))
            out[f"meanfield_drift_N{n}_{label}"] = drift
            print(
                f"meanfield (velocity-resolved) N={n:6d} {label:12s}: group-mean drift over mu t = 500: {drift:.3e}"
                f"  ({wall:.1f} s)",
                flush=True,
            )
    RESULTS["stationary"] = out


# --------------------------------------------------------------------------- slope


def part_slope(quick):
    gammas = [3e-2, 1e-2, 3e-3] if quick else [3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4]
    tau_end = 3.0
    out = {}
    for ce, cx, label in [(0.24, 0.23, "late"), (0.9, -0.5, "antiparallel")]:
        errs = []
        for gamma in gammas:
            sc, q, c, w = exact_qss_gas(ce, cx, gamma)
            times = np.linspace(0, tau_end / gamma, 601)
            mi, t_mi = timed(
                oile_q.run, sc, "misci", times=times, weights="isotropic", switch_time=0.0, rtol=1e-11, atol=1e-13
            )
            ma, t_ma = timed(oile_q.run, sc, "master", times=times, isotropic=True, rtol=1e-10, atol=1e-12)
            err = float(np.abs(group_obs(ma)[:, :2] - misci_obs(mi)[:, :2]).max())
            errs.append(err)
            crossing = crosses_zero(mi)
            print(
                f"{label:12s} gamma={gamma:7.0e}: max |group means (P3, |P_perp|) misci - Eq. 17| = {err:.3e} "
                f"= {err / gamma:.3f} gamma  (misci {t_mi:.1f} s, master {t_ma:.1f} s; c crosses 0: {crossing})",
                flush=True,
            )
        power, logc = np.polyfit(np.log(gammas), np.log(errs), 1)
        coef = float(np.median(np.array(errs) / np.array(gammas)))
        out[label] = dict(gammas=gammas, errors=errs, power=float(power), coefficient=coef)
        print(f"{label}: error ~ gamma^{power:.3f}; error/gamma = {coef:.3f} (median over gamma)")
    RESULTS["slope"] = out


# --------------------------------------------------------------------------- vs the map


def _map_omega(ds, width):
    P = np.asarray(mass_basis(ds)).mean(1)
    ph = np.unwrap(np.arctan2(P[:, 1], P[:, 0]))
    t = ds.time.values
    dt = t[1] - t[0]
    k = int(round(width / 2 / dt))
    om = np.full(len(t), np.nan)
    om[k:-k] = (ph[2 * k :] - ph[: -2 * k]) / (t[2 * k :] - t[: -2 * k])
    return om


def part_map(quick):
    gammas = [1e-2] if quick else [1e-2, 3e-3, 1e-3]
    seeds = [1, 2] if quick else [1, 2, 3]
    n = 40 if quick else 100
    out = {}
    for gamma in gammas:
        sc = paper1_gas(gamma, n)
        T = 10.0 / gamma
        dt = 1.0 if gamma >= 1e-3 else 10.0
        times = np.arange(0, T + 1e-9, dt)
        mi, t_mi = timed(oile_q.run, sc, "misci", times=times)
        ns, t_ns = timed(oile_q.run, sc, "misci", times=times, include_source=False)
        om = smooth(misci_obs(mi), 100.0, dt)
        om_ns = smooth(misci_obs(ns), 100.0, dt)
        tau = gamma * times
        edge = (times > 60) & (times < T - 60)
        early = (tau >= 1) & (tau <= 3) & edge
        late = (tau >= 3) & edge
        crossing = crosses_zero(mi)
        maps = []
        row = dict(gamma=gamma, misci_s=t_mi, switch=mi.attrs["misci_switch_time"], c_crosses_zero=crossing)
        for seed in seeds:
            ds, t_map = timed(oile_q.run, sc, "oile", times=times, seed=seed)
            o = smooth(group_obs(ds), 100.0, dt)
            maps.append(o)
            d = np.abs(o - om)
            d_ns = np.abs(o - om_ns)
            omega_map = _map_omega(ds, 100.0)
            dO = np.abs(omega_map - mi.Omega.values)
            r = dict(
                seed=seed,
                map_s=t_map,
                means_1_3=float(d[:, :2][..., early].max()),
                means_3_10=float(d[:, :2][..., late].max()),
                mean_abs_1_3=float(d[:, 3][..., early].max()),
                mean_abs_3_10=float(d[:, 3][..., late].max()),
                mean_abs_no_source_1_3=float(d_ns[:, 3][..., early].max()),
                mean_abs_no_source_3_10=float(d_ns[:, 3][..., late].max()),
                abs_mean_1_10=float(d[:, 2][..., early | late].max()),
                Omega_1_3=float(np.nanmax(np.where(early, dO, np.nan)))
                if np.isfinite(np.where(early, dO, np.nan)).any()
                else float("nan"),
                Omega_3_10=float(np.nanmax(np.where(late, dO, np.nan))),
            )
            row[f"seed{seed}"] = r
            print(
                f"gamma={gamma:6.0e} seed {seed}: group means tau[1,3] {r['means_1_3']:.2e}, tau[3,10] "
                f"{r['means_3_10']:.2e}; <|P|> tau[1,3] {r['mean_abs_1_3']:.2e}, tau[3,10] {r['mean_abs_3_10']:.2e} "
                f"(without S_a {r['mean_abs_no_source_1_3']:.2e}, {r['mean_abs_no_source_3_10']:.2e});"
                f" |<P>| {r['abs_mean_1_10']:.2e}; Omega tau[1,3] {r['Omega_1_3']:.2e}, tau[3,10] "
                f"{r['Omega_3_10']:.2e}"
                f"  (map {t_map:.0f} s)",
                flush=True,
            )
            # misci started from this seed's own state, at the first time its last window passes
            # the QSS criterion (the map's transient ends in a seed-dependent QSS)
            T0 = float(mi.attrs["misci_switch_time"])
            own = None
            while own is None and T0 < T / 2:
                try:
                    own = oile_q.run(sc, "misci", times=times, start=ds.sel(time=slice(0, T0 + 0.5 * gamma)))
                except oile_q.errors.InputError:
                    T0 += 25.0
            if own is not None:
                do = np.abs(o - smooth(misci_obs(own), 100.0, dt))
                r.update(
                    own_switch=T0,
                    own_means_3_10=float(do[:, :2][..., late].max()),
                    own_mean_abs_3_10=float(do[:, 3][..., late].max()),
                    own_means_1_3=float(do[:, :2][..., early & (times > T0 + 60)].max())
                    if (early & (times > T0 + 60)).any()
                    else float("nan"),
                )
                print(
                    f"    same seed, misci started from the map's own state at mu t = {T0:g} (tau {gamma * T0:.3g}): "
                    f"group means tau[1,3] {r['own_means_1_3']:.2e} (after the switch), tau[3,10] "
                    f"{r['own_means_3_10']:.2e}; <|P|> tau[3,10] {r['own_mean_abs_3_10']:.2e}",
                    flush=True,
                )
        maps = np.array(maps)
        scatter = maps.std(0, ddof=1) if len(seeds) > 1 else np.zeros_like(maps[0])
        row["seed_scatter_means_1_3"] = float(scatter[:, :2][..., early].max())
        row["seed_scatter_means_3_10"] = float(scatter[:, :2][..., late].max())
        mean_map = maps.mean(0)
        row["seedmean_means_3_10"] = float(np.abs(mean_map - om)[:, :2][..., late].max())
        row["seedmean_means_1_3"] = float(np.abs(mean_map - om)[:, :2][..., early].max())
        print(
            f"gamma={gamma:6.0e}: misci {t_mi:.1f} s (switch at mu t = {row['switch']:g}, tau0 = "
            f"{gamma * row['switch']:.3g}); seed scatter (std) of group means tau[1,3] "
            f"{row['seed_scatter_means_1_3']:.1e}, tau[3,10] {row['seed_scatter_means_3_10']:.1e}; seed-mean vs "
            f"misci tau[1,3] {row['seedmean_means_1_3']:.1e}, tau[3,10] {row['seedmean_means_3_10']:.1e}; "
            "a group's c "
            f"crosses zero after the switch: {crossing}",
            flush=True,
        )
        out[f"{gamma:g}"] = row
    RESULTS["map"] = out


# --------------------------------------------------------------------------- long times


def part_long(quick):
    gamma = 1e-2
    tau_end = 20.0 if quick else 40.0
    n = 40 if quick else 100
    sc = paper1_gas(gamma, n)
    times = np.arange(0, tau_end / gamma + 1e-9, 1.0)
    tau = gamma * times
    mi = oile_q.run(sc, "misci", times=times)
    fit_range = (tau >= 10) & (tau <= tau_end - 1)
    k_misci = -np.polyfit(tau[fit_range], np.log(mi.qss_m.values[fit_range]), 1)[0]
    out = dict(k_misci=float(k_misci), maps=[])
    print(f"misci: m ~ exp(-{k_misci:.4f} tau) over tau in [10, {tau_end - 1:g}]")
    for seed in (1, 2):
        ds = oile_q.run(sc, "oile", times=times, seed=seed)
        M = np.asarray(mass_basis(ds)).mean(1)
        m = smooth(np.hypot(M[:, 0], M[:, 1]), 100.0, 1.0)
        k = -np.polyfit(tau[fit_range], np.log(m[fit_range]), 1)[0]
        out["maps"].append(float(k))
        print(f"map seed {seed}: m ~ exp(-{k:.4f} tau)  (misci/map = {k_misci / k:.3f})", flush=True)
    fp = mi.group_P3.values[-1]
    out["final_group_P3"] = fp.tolist()
    out["final_m"] = float(mi.qss_m.values[-1])
    print(
        f"misci at tau = {tau_end:g}: group P3 {np.round(fp, 4).tolist()} (Eq. 19: all -> <P_3> = "
        f"{float((fp * [0.6, 0.4]).sum()):.4f}), m = {out['final_m']:.3e}"
    )
    RESULTS["long"] = out


# --------------------------------------------------------------------------- Poisson


def part_poisson(quick):
    gamma, p = 1e-2, 0.1
    n = 40 if quick else 100
    sc = paper1_gas(gamma, n)
    T = 10.0 / gamma
    times = np.arange(0, T + 1e-9, 1.0)
    tau = gamma * times
    edge = (times > 60) & (times < T - 60)
    late = (tau >= 3) & edge
    early = (tau >= 1) & (tau <= 3) & edge
    mi = oile_q.run(sc, "misci", times=times, schedule="poisson", p=p)
    every = oile_q.run(sc, "misci", times=times)
    om, oe = smooth(misci_obs(mi), 100.0, 1.0), smooth(misci_obs(every), 100.0, 1.0)
    out = dict(switch=mi.attrs["misci_switch_time"], seeds={})
    for seed in (1,) if quick else (1, 2, 3):
        ds = oile_q.run(sc, "oile", times=times, schedule="poisson", p=p, seed=seed)
        o = smooth(group_obs(ds), 100.0, 1.0)
        d, de = np.abs(o - om), np.abs(o - oe)
        r = dict(
            means_1_3=float(d[:, :2][..., early].max()),
            means_3_10=float(d[:, :2][..., late].max()),
            mean_abs_1_3=float(d[:, 3][..., early].max()),
            mean_abs_3_10=float(d[:, 3][..., late].max()),
            every_step_means_3_10=float(de[:, :2][..., late].max()),
            every_step_mean_abs_3_10=float(de[:, 3][..., late].max()),
        )
        out["seeds"][seed] = r
        print(
            f"Poisson p={p} gamma={gamma:g} seed {seed}: misci (s = p) group means tau[1,3] {r['means_1_3']:.2e}, "
            f"tau[3,10] {r['means_3_10']:.2e}, <|P|> tau[1,3] {r['mean_abs_1_3']:.2e}, tau[3,10] "
            f"{r['mean_abs_3_10']:.2e}; every-step flow (s = 1): group means tau[3,10] "
            f"{r['every_step_means_3_10']:.2e}, <|P|> tau[3,10] {r['every_step_mean_abs_3_10']:.2e}",
            flush=True,
        )
    # deterministic check of the s = p weights: flow vs the Poisson master equation from one exact
    # QSS (isotropic weights, omega = 0.5, 1.0 mu where |M x h|^2 ~ 0.04-0.08), tau <= 2
    q = solve_qss([0.8, 0.8], (0.5, 1.0), M3=0.0, weights=[6, 4])
    c = np.r_[np.full(6, 0.8), np.full(4, 0.8)]
    w = np.r_[np.full(6, 0.5), np.full(4, 1.0)]
    out["vs_master"] = []
    for g in [1e-2, 3e-3] if quick else [1e-2, 3e-3, 1e-3]:
        sq = oile_q.Scenario(
            q.bloch(c, w), w, np.tile([0, 0, 1.0], (10, 1)), gamma=g, basis="mass", group=["e"] * 6 + ["x"] * 4
        )
        tt = np.linspace(0, 2.0 / g, 101)
        kw = dict(schedule="poisson", p=0.2, seed=1)
        a = oile_q.run(sq, "misci", times=tt, weights="isotropic", switch_time=0.0, rtol=1e-11, atol=1e-13, **kw)
        b = oile_q.run(sq, "master", times=tt, isotropic=True, rtol=1e-10, atol=1e-12, **kw)
        e = oile_q.run(sq, "master", times=tt, isotropic=True, rtol=1e-10, atol=1e-12)
        r = dict(
            gamma=g,
            vs_poisson_master=float(np.abs(group_obs(b)[:, :2] - misci_obs(a)[:, :2]).max()),
            vs_every_step_master=float(np.abs(group_obs(e)[:, :2] - misci_obs(a)[:, :2]).max()),
        )
        out["vs_master"].append(r)
        print(
            f"exact QSS, p = 0.2, gamma={g:6.0e}: misci (s = p) vs Poisson master {r['vs_poisson_master']:.2e} "
            f"({r['vs_poisson_master'] / g:.2f} gamma); vs every-step master {r['vs_every_step_master']:.2e}",
            flush=True,
        )
    RESULTS["poisson"] = out


PARTS = {
    "cost": part_cost,
    "stationary": part_stationary,
    "slope": part_slope,
    "map": part_map,
    "long": part_long,
    "poisson": part_poisson,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("parts", nargs="+", choices=[*PARTS, "all"])
    ap.add_argument("--quick", action="store_true", help="small sizes (checks that the script runs)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    parts = list(PARTS) if "all" in args.parts else args.parts
    print(f"oile-q {oile_q.__version__}, Python {platform.python_version()}, {load_note()}")
    for name in parts:
        print(f"\n== {name} ==", flush=True)
        t0 = time.perf_counter()
        PARTS[name](args.quick)
        print(f"({name}: {time.perf_counter() - t0:.0f} s, {load_note()})", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(RESULTS, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
