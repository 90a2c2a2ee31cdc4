#!/usr/bin/env python
"""Throughput benchmark of the oile-q classical engines (a benchmark, not a test).

Measures, in one run on this machine:

1. pair encounters per second of the ``oile`` engine through ``oile_q.run`` for N = 100
   (propagators "exact", "split", "symmetric") and N = 10^5 ("exact"), two vacuum groups
   (omega = 0.1, 0.2 in units of mu), theta = 1e-3, isotropic velocities, recording only
   the final time; plus a breakdown (schedule generation vs. encounter kernel vs. the fixed
   cost of one ``run`` call);
2. paper I's gamma = 1e-3 run end to end: N = 100 to mu t = 1000 (10^6 steps,
   5 x 10^7 encounters), and the time to generate its random matchings alone;
3. a naive reference: one encounter at a time in numpy with 4x4 density matrices and
   scipy.linalg.expm of the pair Hamiltonian (the way per-encounter reference code works),
   checked against the engine on the same explicit schedule;
4. the cost of one evaluation of the O(N) ``meanfield`` and ``master`` right-hand sides for
   N = 10^3 and 10^6, measured on the library's own RHS closures while ``oile_q.run``
   integrates (scipy.integrate.solve_ivp is wrapped for the duration of the call to count
   and time the calls; no library code is changed).

BLAS is limited to one thread before numpy is imported (a 4x4 expm
with two OpenBLAS threads is ~200x slower). The numba kernels are serial.

    python benchmarks/bench_oile.py                 # full table, ~1 minute
    python benchmarks/bench_oile.py --quick         # smaller sizes, a few seconds
    python benchmarks/bench_oile.py --json out.json # also write the figures as JSON
"""

from __future__ import annotations

import os

# Must happen before numpy (and its OpenBLAS) is imported anywhere in this process.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

try:  # optional; the environment variables above already do the job
    from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402
except ImportError:  # pragma: no cover - depends on the venv
    threadpool_info = threadpool_limits = None

import oile_q  # noqa: E402
from oile_q import Scenario  # noqa: E402

perf = time.perf_counter

TARGET_RATE_N100 = 1e7  # encounters/s, N = 100 (issue target)
TARGET_PAPER_S = 5.0  # s, paper I gamma = 1e-3 run end to end (issue target)
OMEGAS = (0.1, 0.2)
THETA = 1e-3


# --------------------------------------------------------------------------- helpers


def scenario(n, gamma=1e-3, seed=1):
    """Two equal groups (nu_e with omega = 0.1, nu_x with omega = 0.2; mu = 1), theta = 1e-3,
    random isotropic velocities."""
    return Scenario.from_groups(
        [
            {"name": "e", "count": n // 2, "flavor": "e", "omega": OMEGAS[0], "velocity": "isotropic"},
            {"name": "x", "count": n - n // 2, "flavor": "x", "omega": OMEGAS[1], "velocity": "isotropic"},
        ],
        gamma=gamma,
        theta=THETA,
        seed=seed,
    )


def best_of(fn, repeats):
    """Run fn() `repeats` times; return (best wall time, all wall times, last result)."""
    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = perf()
        out = fn()
        times.append(perf() - t0)
    return min(times), times, out


def fmt_rate(x):
    return f"{x:.3e}" if x is not None else "-"


def fmt_time(s):
    if s is None:
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.1f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1.0:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def table(headers, rows):
    """A plain left/right-aligned text table."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))
    out = [line, "-" * len(line)]
    for r in cells:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def section(title):
    print()
    print(title)
    print("=" * len(title))


# --------------------------------------------------------------------------- machine


def machine_info():
    import numba
    import scipy
    import xarray

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        affinity = None
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "xarray": xarray.__version__,
        "oile_q": oile_q.__version__,
        "blas_threads_env": {
            v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        },
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "threadpoolctl": threadpool_info is not None,
    }
    if threadpool_info is not None:
        info["threadpools"] = [
            {k: d.get(k) for k in ("user_api", "internal_api", "num_threads", "version")} for d in threadpool_info()
        ]
    return info


def print_machine(info):
    section("Machine")
    print(
        f"python {info['python']}  numpy {info['numpy']}  scipy {info['scipy']}  "
        f"numba {info['numba']}  xarray {info['xarray']}  oile_q {info['oile_q']}"
    )
    print(f"platform {info['platform']}")
    print(f"cpu {info['cpu']}  cpu_count {info['cpu_count']}  usable {info['cpus_usable']}")
    env = ", ".join(f"{k}={v}" for k, v in info["blas_threads_env"].items())
    print(
        f"BLAS threads: 1 ({env}, set before importing numpy"
        + ("; threadpoolctl also limits to 1)" if info["threadpoolctl"] else "; threadpoolctl not installed)")
    )
    print(
        f"numba: NUMBA_NUM_THREADS={info['numba_num_threads']} (irrelevant: the kernels are serial, "
        "one core does all the work)"
    )


# --------------------------------------------------------------------------- 1. oile throughput


def bench_oile(n, steps, propagator, repeats, seed):
    sc = scenario(n)
    t_end = steps * sc.gamma
    enc = steps * (n // 2)

    def go():
        return oile_q.run(sc, "oile", steps=steps, times=[t_end], schedule="matching", seed=seed, propagator=propagator)

    best, alls, ds = best_of(go, repeats)
    assert ds.sizes["time"] == 1 and np.all(np.isfinite(ds["P"].values))
    return {
        "N": n,
        "propagator": propagator,
        "steps": steps,
        "encounters": enc,
        "wall_s": best,
        "wall_all_s": alls,
        "encounters_per_s": enc / best,
        "ns_per_encounter": best / enc * 1e9,
    }


def bench_run_overhead(n, repeats, seed):
    """Wall time of a one-step ``run`` call: the fixed cost (scenario conversion, result
    Dataset, its JSON scenario attribute) that long runs amortise."""
    sc = scenario(n)
    best, alls, _ = best_of(lambda: oile_q.run(sc, "oile", steps=1, times=[sc.gamma], seed=seed), repeats)
    return {"N": n, "wall_s": best, "wall_all_s": alls}


def bench_breakdown(n, steps, repeats, seed):
    """Schedule generation alone and the encounter kernel alone (private API, read-only:
    ``oile_q._kernels.ensemble_steps`` on pre-generated pairs, mass basis)."""
    from oile_q import _kernels
    from oile_q.conventions import flavor_to_mass
    from oile_q.schedules import make_schedule

    sc = scenario(n)
    enc = steps * (n // 2)
    sched = make_schedule("matching", n, seed=seed)
    t_sched, _, pairs = best_of(lambda: sched.chunk(0, steps), repeats)
    P = np.ascontiguousarray(flavor_to_mass(sc.P0, sc.theta))
    wt = np.ascontiguousarray(sc.omega / sc.mu * sc.gamma)
    vel = np.ascontiguousarray(sc.velocity)
    record = np.zeros(steps, dtype=np.bool_)
    out = np.empty((1, n, 3))
    paired = np.zeros(n, dtype=np.bool_)
    # the engine's choice: tabulated per-pair coefficients when encounters outnumber 4 N^2
    from oile_q.engines.oile import PAIR_TABLE_MAX_N

    if n <= PAIR_TABLE_MAX_N and enc > 4 * n * n:
        table = _kernels.pair_table(wt, vel, sc.gamma)
    else:
        table = np.empty((0, 0, 7))

    def kern():
        return _kernels.ensemble_steps(P, wt, vel, pairs, sc.gamma, _kernels.MODE_EXACT, record, out, 0, paired, table)

    t_kern, _, _ = best_of(kern, repeats)
    return {
        "N": n,
        "steps": steps,
        "encounters": enc,
        "schedule_s": t_sched,
        "schedule_ns_per_encounter": t_sched / enc * 1e9,
        "kernel_s": t_kern,
        "kernel_ns_per_encounter": t_kern / enc * 1e9,
        "kernel_encounters_per_s": enc / t_kern,
    }


# --------------------------------------------------------------------------- 2. paper I run


def bench_paper(seed):
    from oile_q.engines.oile import CHUNK_ENCOUNTERS
    from oile_q.schedules import make_schedule

    n, gamma, t_end = 100, 1e-3, 1000.0
    sc = scenario(n, gamma=gamma)
    steps = int(round(t_end / gamma))
    enc = steps * (n // 2)
    t0 = perf()
    ds = oile_q.run(sc, "oile", times=[t_end], schedule="matching", seed=seed)
    wall = perf() - t0
    assert ds.sizes["time"] == 1 and np.all(np.isfinite(ds["P"].values))

    sched = make_schedule("matching", n, seed=seed)
    # one call for all steps, as asked: a (10^6, 50, 2) int32 array = 400 MB
    t0 = perf()
    pairs = sched.chunk(0, steps)
    t_one = perf() - t0
    nbytes = pairs.nbytes
    del pairs
    # in the engine's own chunks (bounded memory), which is what run() actually spends
    chunk = max(1, CHUNK_ENCOUNTERS // (n // 2))
    t0 = perf()
    for start in range(0, steps, chunk):
        sched.chunk(start, min(chunk, steps - start))
    t_chunked = perf() - t0
    return {
        "N": n,
        "gamma": gamma,
        "t_end": t_end,
        "steps": steps,
        "encounters": enc,
        "wall_s": wall,
        "encounters_per_s": enc / wall,
        "schedule_one_call_s": t_one,
        "schedule_one_call_bytes": nbytes,
        "schedule_chunked_s": t_chunked,
        "schedule_chunk_steps": chunk,
        "non_schedule_s": wall - t_chunked,
        "target_s": TARGET_PAPER_S,
    }


# --------------------------------------------------------------------------- 3. naive reference


def naive_run(P0, omega, vel, pairs, *, gamma, theta, mu):
    """One encounter at a time, 4x4 density matrices, flavor basis, exact propagator."""
    import scipy.linalg

    from oile_q.encounter import pair_hamiltonian

    I2 = np.eye(2, dtype=complex)
    X = np.array([[0, 1], [1, 0]], dtype=complex)
    Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
    Z = np.array([[1, 0], [0, -1]], dtype=complex)
    tau = gamma / mu
    P = np.array(P0, dtype=float)
    for step in pairs:
        for a, b in step:
            if a < 0:
                continue
            g = 1.0 - float(vel[a] @ vel[b])
            H = pair_hamiltonian(omega[a], omega[b], g, theta=theta, mu=mu)
            U = scipy.linalg.expm(-1j * tau * H)
            pa, pb = P[a], P[b]
            rho_a = 0.5 * (I2 + pa[0] * X + pa[1] * Y + pa[2] * Z)
            rho_b = 0.5 * (I2 + pb[0] * X + pb[1] * Y + pb[2] * Z)
            rho = U @ np.kron(rho_a, rho_b) @ U.conj().T
            r = rho.reshape(2, 2, 2, 2)
            ra = np.trace(r, axis1=1, axis2=3)  # trace out b
            rb = np.trace(r, axis1=0, axis2=2)  # trace out a
            P[a] = (2.0 * ra[0, 1].real, -2.0 * ra[0, 1].imag, (ra[0, 0] - ra[1, 1]).real)
            P[b] = (2.0 * rb[0, 1].real, -2.0 * rb[0, 1].imag, (rb[0, 0] - rb[1, 1]).real)
    return P


def bench_naive(encounters, seed):
    from oile_q.schedules import generate

    n = 100
    sc = scenario(n)
    steps = max(1, encounters // (n // 2))
    enc = steps * (n // 2)
    pairs = generate("matching", n, steps, seed=seed)
    kw = dict(gamma=sc.gamma, theta=sc.theta, mu=sc.mu)
    naive_run(sc.P0, sc.omega, sc.velocity, pairs[:1], **kw)  # warm-up (scipy imports, first expm)
    t0 = perf()
    P_naive = naive_run(sc.P0, sc.omega, sc.velocity, pairs, **kw)
    wall = perf() - t0
    ds = oile_q.run(sc, "oile", times=[steps * sc.gamma], schedule=pairs)
    P_engine = ds["P"].values[-1]
    diff = float(np.max(np.abs(P_engine - P_naive)))
    moved = float(np.max(np.abs(P_engine - sc.P0)))
    # At gamma = 1e-3 a few thousand encounters hardly move the states, so check the
    # agreement once more where they move by O(1): gamma = 0.3 (phi ~ 0.3 per encounter).
    sc2 = scenario(n, gamma=0.3)
    steps2 = min(steps, 20)
    pairs2 = pairs[:steps2]
    P2_naive = naive_run(sc2.P0, sc2.omega, sc2.velocity, pairs2, gamma=sc2.gamma, theta=sc2.theta, mu=sc2.mu)
    P2_engine = oile_q.run(sc2, "oile", times=[steps2 * sc2.gamma], schedule=pairs2)["P"].values[-1]
    return {
        "N": n,
        "steps": steps,
        "encounters": enc,
        "wall_s": wall,
        "encounters_per_s": enc / wall,
        "us_per_encounter": wall / enc * 1e6,
        "max_abs_diff_vs_engine": diff,
        "max_change_from_initial": moved,
        "check_large_gamma": {
            "gamma": sc2.gamma,
            "steps": steps2,
            "encounters": steps2 * (n // 2),
            "max_abs_diff_vs_engine": float(np.max(np.abs(P2_engine - P2_naive))),
            "max_change_from_initial": float(np.max(np.abs(P2_engine - sc2.P0))),
        },
    }


# --------------------------------------------------------------------------- 4. O(N) right-hand sides


class _CountingSolveIvp:
    """Temporarily replace scipy.integrate.solve_ivp with a wrapper that counts and times
    calls of the right-hand side it is given (the library's own closure). oile_q.engines._ode
    imports solve_ivp from scipy.integrate at call time, so the wrapper is what it gets."""

    def __enter__(self):
        import scipy.integrate

        self.mod = scipy.integrate
        self.orig = scipy.integrate.solve_ivp
        self.stats = None
        orig = self.orig
        box = self

        def solve_ivp(fun, t_span, y0, *args, **kwargs):
            calls = [0, 0.0]

            def timed(t, y):
                t0 = perf()
                r = fun(t, y)
                calls[1] += perf() - t0
                calls[0] += 1
                return r

            t0 = perf()
            sol = orig(timed, t_span, y0, *args, **kwargs)
            box.stats = {
                "rhs_calls": calls[0],
                "rhs_s": calls[1],
                "solve_ivp_s": perf() - t0,
                "solver_nfev": int(sol.nfev),
            }
            return sol

        scipy.integrate.solve_ivp = solve_ivp
        return self

    def __exit__(self, *exc):
        self.mod.solve_ivp = self.orig
        return False


def bench_rhs(n, engine, t_end):
    sc = scenario(n)
    with _CountingSolveIvp() as probe:
        t0 = perf()
        ds = oile_q.run(sc, engine, times=[t_end])
        wall = perf() - t0
    st = probe.stats
    if st is None or st["rhs_calls"] == 0:
        raise RuntimeError("the solve_ivp wrapper was not used; the RHS could not be timed this way")
    assert np.all(np.isfinite(ds["P"].values))
    per = st["rhs_s"] / st["rhs_calls"]
    return {
        "N": n,
        "engine": engine,
        "t_end": t_end,
        "rhs_calls": st["rhs_calls"],
        "solver_nfev": st["solver_nfev"],
        "rhs_total_s": st["rhs_s"],
        "rhs_per_eval_s": per,
        "rhs_ns_per_particle": per / n * 1e9,
        "solve_ivp_per_eval_s": st["solve_ivp_s"] / st["rhs_calls"],
        "run_wall_s": wall,
        "solve_ivp_s": st["solve_ivp_s"],
    }


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Benchmark the oile-q engines: oile encounters/s (N = 100 and 1e5), paper I's "
        "gamma = 1e-3 run, a naive 4x4 numpy reference, and the O(N) meanfield/master "
        "right-hand sides. Prints a table; BLAS is limited to one thread."
    )
    ap.add_argument("--json", metavar="PATH", help="also write all figures as JSON to PATH")
    ap.add_argument("--repeats", type=int, default=3, help="repetitions per timing; the best is reported (default 3)")
    sizes = (
        ("--steps-small", 100_000, "steps of the N = 100 oile runs (default 100000 = 5e6 encounters)"),
        ("--steps-large", 100, "steps of the N = 1e5 oile runs (default 100 = 5e6 encounters)"),
        ("--large-n", 100_000, "N of the large oile run (default 100000)"),
        ("--naive-encounters", 4000, "encounters of the naive numpy reference at N = 100 (default 4000)"),
    )
    for flag, default, what in sizes:
        ap.add_argument(flag, type=int, default=default, help=what)
    ap.add_argument(
        "--rhs-n",
        type=int,
        nargs="+",
        default=[1000, 1_000_000],
        help="N values for the RHS timings (default 1000 1000000)",
    )
    ap.add_argument("--no-paper", action="store_true", help="skip paper I's N = 100, mu t = 1000 run (about 7 s here)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small sizes for a smoke run (a few seconds; no paper run, RHS at N = 1e3, 1e5)",
    )
    ap.add_argument("--seed", type=int, default=12345, help="schedule seed (default 12345)")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 2)
        args.steps_small = min(args.steps_small, 10_000)
        args.steps_large = min(args.steps_large, 10)
        args.naive_encounters = min(args.naive_encounters, 1000)
        args.rhs_n = [min(n, 100_000) for n in args.rhs_n]
        args.no_paper = True
    for name in ("repeats", "steps_small", "steps_large", "naive_encounters"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.large_n < 2 or args.large_n % 2 or any(n < 2 for n in args.rhs_n):
        ap.error("--large-n must be even and >= 2; --rhs-n values must be >= 2")
    return args


def warm_up(seed, large_n):
    """numba loads its on-disk cache (or compiles) on the first call of each kernel."""
    t0 = perf()
    sc = scenario(100)
    for prop in ("exact", "split", "symmetric"):
        oile_q.run(sc, "oile", steps=5, times=[5 * sc.gamma], seed=seed, propagator=prop)
    oile_q.run(scenario(large_n), "oile", steps=1, times=[1e-3], seed=seed)
    from oile_q.schedules import generate, make_schedule

    make_schedule("matching", 100, seed=seed).chunk(0, 2)
    pairs = generate("matching", 100, 2, seed=seed)
    oile_q.run(sc, "oile", times=[2 * sc.gamma], schedule=pairs)
    oile_q.run(sc, "meanfield", times=[0.01])
    oile_q.run(sc, "master", times=[0.01])
    return perf() - t0


def main(argv=None):
    args = parse_args(argv)
    t_start = perf()
    results = {"machine": machine_info(), "args": vars(args)}
    if threadpool_limits is not None:
        threadpool_limits(1)
    print_machine(results["machine"])
    print(
        f"\nscenario: two groups (nu_e, omega = {OMEGAS[0]}; nu_x, omega = {OMEGAS[1]}; mu = 1), "
        f"theta = {THETA}, isotropic velocities, gamma = 1e-3, random matchings; only the final "
        "time is recorded."
    )

    results["warmup_s"] = warm_up(args.seed, args.large_n)
    print(f"warm-up (numba cache load / compile, first calls): {results['warmup_s']:.2f} s")

    # 1 ------------------------------------------------------------------
    section(f"1. oile engine through oile_q.run: pair encounters per second (best of {args.repeats})")
    rows = []
    for prop in ("exact", "split", "symmetric"):
        rows.append(bench_oile(100, args.steps_small, prop, args.repeats, args.seed))
    rows.append(bench_oile(args.large_n, args.steps_large, "exact", args.repeats, args.seed))
    results["oile"] = rows
    print(
        table(
            ["N", "propagator", "steps", "encounters", "wall", "encounters/s", "ns/encounter"],
            [
                [
                    r["N"],
                    r["propagator"],
                    r["steps"],
                    f"{r['encounters']:.2e}",
                    fmt_time(r["wall_s"]),
                    fmt_rate(r["encounters_per_s"]),
                    f"{r['ns_per_encounter']:.1f}",
                ]
                for r in rows
            ],
        )
    )
    r100 = rows[0]["encounters_per_s"]
    verdict = "met" if r100 >= TARGET_RATE_N100 else f"MISSED: {r100 / TARGET_RATE_N100:.2f} x target"
    print(f"target >= {TARGET_RATE_N100:.0e} encounters/s at N = 100 (exact): {verdict}")

    # breakdown
    print(
        "\nwhere the time goes (exact propagator; schedule = matching_chunk alone, kernel = "
        "_kernels.ensemble_steps alone on pre-generated pairs; run() fixed cost = a 1-step run):"
    )
    brk_rows, brk = [], []
    try:
        for n, steps in ((100, args.steps_small), (args.large_n, args.steps_large)):
            b = bench_breakdown(n, steps, args.repeats, args.seed)
            ov = bench_run_overhead(n, args.repeats, args.seed)
            b["run_fixed_cost_s"] = ov["wall_s"]
            full = next(r for r in rows if r["N"] == n and r["propagator"] == "exact")
            b["run_wall_s"] = full["wall_s"]
            b["unaccounted_s"] = full["wall_s"] - b["schedule_s"] - b["kernel_s"] - ov["wall_s"]
            brk.append(b)
            brk_rows.append(
                [
                    n,
                    f"{b['encounters']:.2e}",
                    fmt_time(full["wall_s"]),
                    fmt_time(b["schedule_s"]),
                    f"{b['schedule_ns_per_encounter']:.1f}",
                    fmt_time(b["kernel_s"]),
                    f"{b['kernel_ns_per_encounter']:.1f}",
                    fmt_rate(b["kernel_encounters_per_s"]),
                    fmt_time(ov["wall_s"]),
                ]
            )
        print(
            table(
                [
                    "N",
                    "encounters",
                    "run() wall",
                    "schedule",
                    "ns/enc",
                    "kernel",
                    "ns/enc",
                    "kernel enc/s",
                    "run() fixed cost",
                ],
                brk_rows,
            )
        )
    except Exception as err:  # private API may change under concurrent development
        print(f"  breakdown unavailable: {type(err).__name__}: {err}")
    results["oile_breakdown"] = brk

    # 2 ------------------------------------------------------------------
    section("2. paper I gamma = 1e-3 run: N = 100 to mu t = 1000 (10^6 steps, 5e7 encounters)")
    if args.no_paper:
        print("skipped (--no-paper / --quick)")
        results["paper"] = None
    else:
        p = bench_paper(args.seed)
        results["paper"] = p
        print(
            table(
                ["what", "wall", "encounters/s", "note"],
                [
                    [
                        "oile_q.run end to end",
                        fmt_time(p["wall_s"]),
                        fmt_rate(p["encounters_per_s"]),
                        f"target <= {p['target_s']:.0f} s: "
                        + ("met" if p["wall_s"] <= p["target_s"] else f"MISSED by {p['wall_s'] - p['target_s']:.2f} s"),
                    ],
                    [
                        "matchings alone, chunk(0, 10^6)",
                        fmt_time(p["schedule_one_call_s"]),
                        fmt_rate(p["encounters"] / p["schedule_one_call_s"]),
                        f"one {p['schedule_one_call_bytes'] / 2**20:.0f} MiB array",
                    ],
                    [
                        "matchings alone, engine's chunks",
                        fmt_time(p["schedule_chunked_s"]),
                        fmt_rate(p["encounters"] / p["schedule_chunked_s"]),
                        f"{p['schedule_chunk_steps']} steps per chunk",
                    ],
                    [
                        "run minus matchings (encounters)",
                        fmt_time(p["non_schedule_s"]),
                        fmt_rate(p["encounters"] / p["non_schedule_s"]),
                        "kernel + run() overhead",
                    ],
                ],
            )
        )

    # 3 ------------------------------------------------------------------
    section("3. naive reference: one encounter at a time, numpy 4x4 density matrices + scipy expm")
    nv = bench_naive(args.naive_encounters, args.seed)
    results["naive"] = nv
    eng = rows[0]
    nv["engine_encounters_per_s"] = eng["encounters_per_s"]
    nv["speedup_engine_over_naive"] = eng["encounters_per_s"] / nv["encounters_per_s"]
    print(
        table(
            ["implementation", "encounters", "wall", "encounters/s", "us/encounter"],
            [
                [
                    "naive numpy (N = 100)",
                    nv["encounters"],
                    fmt_time(nv["wall_s"]),
                    fmt_rate(nv["encounters_per_s"]),
                    f"{nv['us_per_encounter']:.2f}",
                ],
                [
                    "oile engine (N = 100, exact, sec. 1)",
                    f"{eng['encounters']:.2e}",
                    fmt_time(eng["wall_s"]),
                    fmt_rate(eng["encounters_per_s"]),
                    f"{eng['ns_per_encounter'] / 1e3:.4f}",
                ],
            ],
        )
    )
    print(f"engine / naive: {nv['speedup_engine_over_naive']:.0f} x")
    print(
        f"agreement on the same explicit schedule ({nv['steps']} steps, {nv['encounters']} encounters): "
        f"max |P_engine - P_naive| = {nv['max_abs_diff_vs_engine']:.2e} "
        f"(gamma = 1e-3; the states moved by up to {nv['max_change_from_initial']:.1e})"
    )
    ck = nv["check_large_gamma"]
    print(
        f"same check at gamma = {ck['gamma']:g} ({ck['steps']} steps, {ck['encounters']} encounters): "
        f"max |P_engine - P_naive| = {ck['max_abs_diff_vs_engine']:.2e} "
        f"(the states moved by up to {ck['max_change_from_initial']:.2f})"
    )

    # 4 ------------------------------------------------------------------
    section("4. O(N) right-hand sides: time per evaluation")
    print(
        "approach: oile_q.run(sc, engine, times=[t_end]) with default DOP853, rtol 1e-10, atol 1e-12; "
        "scipy.integrate.solve_ivp\nwrapped for the duration of the call (restored after) to count "
        "and time every call of the library's own RHS closure."
    )
    rhs_rows, rhs = [], []
    for n in args.rhs_n:
        t_end = 0.2 if n <= 20_000 else 2e-3
        for engine in ("meanfield", "master"):
            r = bench_rhs(n, engine, t_end)
            rhs.append(r)
            rhs_rows.append(
                [
                    n,
                    engine,
                    r["t_end"],
                    r["rhs_calls"],
                    fmt_time(r["rhs_per_eval_s"]),
                    f"{r['rhs_ns_per_particle']:.1f}",
                    fmt_time(r["solve_ivp_per_eval_s"]),
                    fmt_time(r["run_wall_s"]),
                ]
            )
    results["rhs"] = rhs
    print(
        table(
            ["N", "engine", "mu t_end", "RHS calls", "per RHS eval", "ns/particle", "solve_ivp / eval", "run() wall"],
            rhs_rows,
        )
    )
    print(
        "(solve_ivp / eval includes the integrator's own array work; run() wall also includes "
        "building the result Dataset)"
    )

    results["total_s"] = perf() - t_start
    print(f"\ntotal benchmark time: {results['total_s']:.1f} s")

    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(results, fh, indent=2, default=float)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
