#!/usr/bin/env python
"""Wall time and peak memory of the multi-beam exact solver (a benchmark, not a test; issue 11).

Cases (every one recorded at 201 evenly spaced mu t in [0, 20], default observables: P,
purity, beam-pair two-body observables, energy, beam-vs-rest entropy where the Schmidt
matrix has a side <= 1024; theta = 0.1):

* ``2beams``: the flavor pendulum of ``comparisons/onset_time``: N/2 nu_e along +z with
  omega = -0.5 mu, N/2 nu_x along -z with omega = +0.5 mu (g = 2 across, 0 within);
* ``3beams``: N/3 nu_e along +z (omega 0.5), N/3 nu_x at 120 deg (omega -0.3), N/3 nu_e at
  240 deg (omega 1.0), in the xz plane;
* ``4beams``: tetrahedral directions, flavors e, x, e, x, omega 0.5, -0.5, 1.0, -1.0.

The propagator is ``--propagator`` (default "auto": spectral -- sector eigenpairs in the
energy window -- for two beams, Chebyshev otherwise). Each beams case runs in its own
subprocess (peak RSS = VmHWM of that process). ``--ratio``
also runs the generic ``exact`` engine (2^N amplitudes, Chebyshev) and the beams solver on
the same scenario at N = 20 (N = 21 for three beams) and prints the time ratio and the
largest difference of P. ``--spectrum`` adds, per case, the energy spread sigma_E of the
initial state and the spectral half-width r of H on the kept sectors (Lanczos, 80 steps from a
random vector), i.e. the ~ r t products a Chebyshev propagator needs (column "mv/eig":
Chebyshev products summed over chunks, or the number of kept eigenpairs for "spectral").
``--meanfield`` fits the exponent of the exact-vs-meanfield distance
at fixed mu t against N for a stable pendulum.

    python benchmarks/bench_beams.py                          # all issue-11 cases
    python benchmarks/bench_beams.py --cases 2beams:1024 3beams:300 --spectrum
    python benchmarks/bench_beams.py --ratio --cases none      # generic engine vs beams, N = 20
    python benchmarks/bench_beams.py --meanfield --cases none
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from _cases import peak_rss_gb, run_case

DEFAULT_CASES = ["2beams:1024", "2beams:4096", "2beams:16384", "3beams:300", "4beams:120"]


def scenario(kind, n, theta=0.1):
    from oile_q import Scenario

    if kind == "2beams":
        groups = [
            dict(name="nu_e", count=n // 2, flavor="e", omega=-0.5, velocity=[0, 0, 1]),
            dict(name="nu_x", count=n - n // 2, flavor="x", omega=0.5, velocity=[0, 0, -1]),
        ]
    elif kind == "3beams":
        a = 2 * np.pi / 3
        dirs = [[0, 0, 1], [np.sin(a), 0, np.cos(a)], [np.sin(2 * a), 0, np.cos(2 * a)]]
        sizes = [n // 3, n // 3, n - 2 * (n // 3)]
        groups = [
            dict(name=f"b{i}", count=c, flavor=f, omega=w, velocity=list(map(float, d)))
            for i, (c, f, w, d) in enumerate(zip(sizes, "exe", (0.5, -0.3, 1.0), dirs))
        ]
    elif kind == "4beams":
        dirs = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)
        sizes = [n // 4] * 3 + [n - 3 * (n // 4)]
        groups = [
            dict(name=f"b{i}", count=c, flavor=f, omega=w, velocity=d.tolist())
            for i, (c, f, w, d) in enumerate(zip(sizes, "exex", (0.5, -0.5, 1.0, -1.0), dirs))
        ]
    else:
        raise SystemExit(f"unknown case kind {kind!r}")
    return Scenario.from_groups(groups, gamma=0.05, theta=theta)


def spectrum(struct, tol):
    """(sigma_E of the initial state, spectral half-width of H on the kept sectors)."""
    import scipy.sparse as sp
    from scipy.linalg import eigh_tridiagonal

    from oile_q.exact.beams import sector_plan
    from oile_q.exact.beams.basis import Basis, initial_state
    from oile_q.exact.beams.hamiltonian import chunk_hamiltonian

    keep, _, _ = sector_plan(struct, tol=tol)
    basis = Basis(struct.sizes, keep)
    H = sp.block_diag(
        [chunk_hamiltonian(struct, basis, int(basis.offsets[i]), int(basis.offsets[i + 1])) for i in range(keep.size)],
        format="csr",
    )
    psi = initial_state(struct, basis)
    hp = H @ psi
    e = np.vdot(psi, hp).real
    sigma = float(np.sqrt(max(np.vdot(hp, hp).real - e * e, 0.0)))
    q = np.random.default_rng(1).normal(size=basis.dim)
    q /= np.linalg.norm(q)
    qp = np.zeros_like(q)
    al, be, b = [], [], 0.0
    for _ in range(min(80, basis.dim)):
        w = H @ q - b * qp
        a = q @ w
        w -= a * q
        b = np.linalg.norm(w)
        al.append(a)
        if b < 1e-12:
            break
        be.append(b)
        qp, q = q, w / b
    ev = eigh_tridiagonal(np.array(al), np.array(be[: len(al) - 1]), eigvals_only=True)
    return sigma, float(0.5 * (ev[-1] - ev[0]))


def one_case(args):
    from oile_q.exact.beams import beam_structure, evolve_beams

    kind, n = args.case.split(":")
    n = int(n)
    sc = scenario(kind, n, args.theta)
    times = np.linspace(0.0, args.t_max, args.outputs)
    t0 = time.perf_counter()
    struct = beam_structure(sc)
    stats = {}
    out = evolve_beams(struct, times, tol=args.tol, stats=stats, propagator=args.propagator)
    wall = time.perf_counter() - t0
    j = struct.sizes / 2
    res = dict(
        case=args.case,
        wall=wall,
        rss=peak_rss_gb(),
        stats=stats,
        s3=float(np.ptp(out["S3_total"])),
        energy=float(np.ptp(out["energy"])),
        spin=float((np.abs(out["spin_total"] - j * (j + 1)) / (j * (j + 1))).max()),
        norm=float(1 - out["norm"].min()),
        entropy_done=int(np.isfinite(out["entropy"][-1]).sum()),
        P_end=out["P"][-1].round(6).tolist(),
    )
    if args.spectrum:
        res["sigma_E"], res["halfwidth"] = spectrum(struct, args.tol)
    print(json.dumps(res))


def ratio(args):
    """Generic exact engine vs the beams solver on the same scenarios at N ~ 20."""
    from oile_q import run
    from oile_q.conventions import mass_to_flavor
    from oile_q.exact.beams import beam_structure, evolve_beams

    print(f"\n{'case':>10} {'generic exact s':>16} {'beams s':>9} {'ratio':>8} {'max |dP|':>9}")
    for kind, n in (("2beams", 20), ("3beams", 21), ("4beams", 20)):
        sc = scenario(kind, n, args.theta)
        times = np.linspace(0.0, args.t_max, args.outputs)
        t0 = time.perf_counter()
        ds = run(sc, "exact", times=times, method="chebyshev")  # the 2^N method ("auto" would pick beams)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        s = beam_structure(sc)
        out = evolve_beams(s, times, tol=args.tol)
        t_b = time.perf_counter() - t0
        dP = float(np.abs(mass_to_flavor(s.broadcast(out["P"]), sc.theta) - ds.P.values).max())
        print(f"{kind + ':' + str(n):>10} {t_gen:>16.2f} {t_b:>9.3f} {t_gen / t_b:>8.0f} {dP:>9.1e}", flush=True)


def meanfield(args):
    """Exponent of max_beams |P_exact - P_meanfield| at mu t = T vs N (stable pendulum)."""
    from oile_q import Scenario, run
    from oile_q.conventions import mass_to_flavor
    from oile_q.exact.beams import beam_structure, evolve_beams

    Ns = [16, 32, 64, 128, 256, 512, 1024, 2048]
    T = 4.0
    times = np.linspace(0, T, 41)
    rows = []
    for n in Ns:
        sc = Scenario.beams([n // 2] * 2, flavor="ex", omega=[0.5, -0.5], directions="axis", gamma=0.05, theta=0.3)
        s = beam_structure(sc)
        ex = mass_to_flavor(evolve_beams(s, times, observables=())["P"], sc.theta)
        mf = run(sc, "meanfield", times=times, rtol=1e-12, atol=1e-14).P.values
        mf = np.stack([mf[:, m[0]] for m in s.members], axis=1)
        d = np.abs(ex - mf).max(axis=(1, 2))
        rows.append((n, d[-1], d.max()))
    Ns_, dT, dmax = map(np.array, zip(*rows))
    print(f"\nmean-field limit, stable pendulum (omega_e = +0.5, omega_x = -0.5, theta = 0.3), mu t <= {T:g}")
    print(f"{'N':>6} {'|dP| at T':>11} {'max_t |dP|':>11}")
    for n, a, b in rows:
        print(f"{n:>6} {a:>11.3e} {b:>11.3e}")
    for label, y in (("at T", dT), ("max over t", dmax)):
        slope, _ = np.polyfit(np.log(Ns_), np.log(y), 1)
        print(f"fit |dP| ({label}) ~ N^{slope:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=DEFAULT_CASES, help="kind:N, or 'none'")
    ap.add_argument("--t-max", type=float, default=20.0, dest="t_max")
    ap.add_argument("--outputs", type=int, default=201)
    ap.add_argument("--theta", type=float, default=0.1)
    ap.add_argument("--tol", type=float, default=1e-12)
    ap.add_argument("--propagator", default="auto", choices=["auto", "chebyshev", "spectral"])
    ap.add_argument("--spectrum", action="store_true")
    ap.add_argument("--ratio", action="store_true")
    ap.add_argument("--meanfield", action="store_true")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case is not None:
        one_case(args)
        return 0
    cases = [c for c in args.cases if c != "none"]
    if cases:
        print(
            f"{'case':>13} {'prop':>5} {'dim kept/full':>22} {'sectors':>7} {'build s':>7} {'evolve s':>8} "
            f"{'observe s':>9} "
            f"{'total s':>8} {'mv/eig':>7} {'peak GB':>7}  checks (drift of S3, energy, |J^2/(j(j+1)) - 1|, 1-norm)"
            + ("  sigma_E  r  r*t" if args.spectrum else "")
        )
    for case in cases:
        opts = ["--case", case, "--t-max", str(args.t_max), "--outputs", str(args.outputs), "--theta", str(args.theta)]
        opts += ["--tol", str(args.tol), "--propagator", args.propagator] + (["--spectrum"] if args.spectrum else [])
        r = run_case(__file__, opts, f"{case:>13}")
        if r is None:
            continue
        st = r["stats"]
        dims = f"{st['dimension']:,}/{st['dimension_full']:,}"
        line = (
            f"{case:>13} {st['propagator'][:5]:>5} {dims:>22} {st['sectors']:>7} {st['build_s']:>7.2f} "
            f"{st['evolve_s']:>8.2f} "
            f"{st['observe_s']:>9.2f} {r['wall']:>8.2f} {st.get('matvecs', st.get('eigenpairs', 0)):>7} "
            f"{r['rss']:>7.2f}  "
            f"{r['s3']:.1e}, {r['energy']:.1e}, {r['spin']:.1e}, {r['norm']:.1e}"
        )
        if args.spectrum:
            line += f"  {r['sigma_E']:.2f} {r['halfwidth']:.0f} {r['halfwidth'] * args.t_max:.0f}"
        print(line, flush=True)
    if args.ratio:
        ratio(args)
    if args.meanfield:
        meanfield(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
