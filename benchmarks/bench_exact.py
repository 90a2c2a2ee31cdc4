#!/usr/bin/env python
"""Wall time and peak memory of the ``exact`` and ``closed`` engines (a benchmark, not a test).

Scenario: a two-group bipolar gas, N/2 nu_e with omega = +0.5 mu and N/2 nu_x with
omega = -0.5 mu, theta = 0.1, isotropic random velocities (seed 1). ``exact`` records
100 evenly spaced times up to mu t = T (default 50); ``closed`` runs 1,000 round-robin
steps of gamma = 0.05 and records every 10th step. Every case runs in its own
subprocess, so the peak RSS (VmHWM) is that case's own.

Columns: N, engine, sectors (occupied S_3 sectors) / dimension, setup time (exact: the
diagonal, the Gershgorin and Lanczos spectral bounds; there is no stored Hamiltonian to
build), evolution time, total wall time of ``oile_q.run``, matrix-vector products, peak RSS,
number of output times.

    python benchmarks/bench_exact.py                       # N = 12, 16, 20, mu t = 50
    python benchmarks/bench_exact.py --n 22 24 --t-max 10  # the large sizes
    python benchmarks/bench_exact.py --closed 20           # closed, N = 20, 1,000 steps
    python benchmarks/bench_exact.py --method expm --n 12 16   # QuSpin expm_multiply sectors
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from _cases import peak_rss_gb, run_case


def scenario(n):
    from oile_q import Scenario

    return Scenario.from_groups(
        [dict(name="e", count=n // 2, flavor="e", omega=0.5), dict(name="x", count=n - n // 2, flavor="x", omega=-0.5)],
        gamma=0.05,
        theta=0.1,
        seed=1,
    )


def one_case(args):
    import numpy as np

    from oile_q import run

    n = args.case_n
    sc = scenario(n)
    t0 = time.perf_counter()
    if args.case_engine == "closed":
        ds = run(
            sc, "closed", steps=args.steps, schedule="round-robin", times=np.arange(0, args.steps + 1, 10) * sc.gamma
        )
    else:
        times = np.linspace(args.t_max / args.outputs, args.t_max, args.outputs)
        ds = run(sc, "exact", times=times, method=args.method)
    wall = time.perf_counter() - t0
    stats = json.loads(ds.attrs["engine_stats"])
    out = dict(
        n=n,
        engine=args.case_engine,
        method=args.method,
        wall=wall,
        rss=peak_rss_gb(),
        outputs=int(ds.sizes["time"]),
        stats=stats,
        s3_drift=float(np.ptp(ds.S3_total.values)),
        norm_drift=float(np.ptp(ds.norm.values)),
    )
    if "energy" in ds:
        out["energy_drift"] = float(np.ptp(ds.energy.values))
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="*", default=[12, 16, 20])
    ap.add_argument("--t-max", type=float, default=50.0, dest="t_max")
    ap.add_argument("--outputs", type=int, default=100)
    ap.add_argument("--method", default="chebyshev", choices=["chebyshev", "expm"])
    ap.add_argument("--closed", type=int, nargs="*", default=[], help="N for closed runs")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--case-n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--case-engine", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case_n is not None:
        one_case(args)
        return 0
    cases = [("exact", n) for n in args.n] + [("closed", n) for n in args.closed]
    print(
        f"{'N':>3} {'engine':>16} {'sectors/dim':>16} {'setup s':>8} {'evolve s':>9} {'total s':>8} "
        f"{'matvecs':>8} {'peak GB':>8} {'outputs':>7}  checks (drift of S3, norm, energy)"
    )
    for engine, n in cases:
        opts = ["--case-n", str(n), "--case-engine", engine, "--t-max", str(args.t_max), "--outputs", str(args.outputs)]
        opts += ["--method", args.method, "--steps", str(args.steps)]
        r = run_case(__file__, opts, f"{n:>3} {engine:>16}")
        if r is None:
            continue
        st = r["stats"]
        setup = st.get("bounds_s", 0.0)
        label = engine if engine == "closed" else f"exact/{r['method']}"
        sect = f"{st.get('sectors', '-')}/{2**n:,}"
        checks = f"{r['s3_drift']:.1e}, {r['norm_drift']:.1e}" + (
            f", {r['energy_drift']:.1e}" if "energy_drift" in r else ""
        )
        print(
            f"{n:>3} {label:>16} {sect:>16} {setup:>8.2f} {r['wall'] - setup:>9.2f} {r['wall']:>8.2f} "
            f"{st.get('matvecs', '-')!s:>8} {r['rss']:>8.2f} {r['outputs']:>7}  {checks}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
