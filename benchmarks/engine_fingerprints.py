"""Fingerprints of fixed-seed runs of every engine, to check that a refactor changes no physics.

    python benchmarks/engine_fingerprints.py save  BEFORE.npz     # before the change
    python benchmarks/engine_fingerprints.py check BEFORE.npz     # after: oile bit-identical,
                                                                  # every other engine within 1e-12

``oile`` must reproduce its Bloch vectors bit for bit (sha256 of the float64 bytes); the ODE,
circuit and exact engines must agree to 1e-12 (they call BLAS/LAPACK and Aer, whose summation
order may legitimately change with threading).
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np

import oile_q
from oile_q import Scenario


def scenarios():
    ens = Scenario.from_groups(
        [dict(name="nu_e", count=6, flavor="e", omega=0.1), dict(name="nu_x", count=4, flavor="x", omega=-0.2)],
        gamma=0.05,
        theta=0.1,
        seed=3,
    )
    small = Scenario.from_groups(
        [dict(name="a", count=3, P=[0.6, 0.0, 0.8], omega=0.3), dict(name="b", count=3, flavor="x", omega=-0.1)],
        gamma=0.1,
        theta=0.2,
        seed=5,
    )
    fg = Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1, vdotu=0.2, omega=0.3, theta=0.05)
    explicit = oile_q.schedules.generate("matching", 10, 40, seed=11)
    gas = Scenario.from_groups(
        [dict(name="nu_e", count=12, flavor="e", omega=0.1), dict(name="nu_x", count=8, flavor="x", omega=0.2)],
        gamma=1e-3,
        theta=1e-3,
        seed=1,
    )
    beams = Scenario.beams([5, 4, 3], flavor="exe", omega=[0.9, -1.1, 0.4], gamma=0.1, theta=0.2)
    return [
        ("oile/matching", ens, "oile", dict(steps=200, seed=7)),
        ("oile/round-robin", ens, "oile", dict(steps=200, schedule="round-robin")),
        ("oile/poisson", ens, "oile", dict(steps=200, schedule="poisson", p=0.3, seed=2)),
        ("oile/split", ens, "oile", dict(steps=200, seed=7, propagator="split")),
        ("oile/symmetric", ens, "oile", dict(steps=200, seed=7, propagator="symmetric")),
        ("oile/explicit", ens, "oile", dict(steps=40, schedule=explicit)),
        ("oile/long", ens, "oile", dict(t_max=1000.0, seed=9)),
        ("oile/foreground", fg, "oile", dict(steps=300)),
        ("oile/foreground-poisson", fg, "oile", dict(steps=300, schedule="poisson", p=0.4, seed=4)),
        ("meanfield", ens, "meanfield", dict(t_max=5.0)),
        ("master", ens, "master", dict(t_max=5.0)),
        ("master/isotropic", ens, "master", dict(t_max=5.0, isotropic=True)),
        ("master/poisson", ens, "master", dict(t_max=5.0, schedule="poisson", p=0.2, seed=1)),
        ("master/foreground", fg, "master", dict(t_max=5.0)),
        ("circuit/foreground", fg, "circuit", dict(steps=20)),
        ("circuit/tree", small, "circuit", dict(steps=3, seed=1)),
        ("circuit/closed", small, "circuit", dict(steps=3, seed=1, circuit="closed")),
        ("exact/chebyshev", small, "exact", dict(t_max=2.0)),
        ("exact/expm", small, "exact", dict(t_max=1.0, method="expm")),
        ("closed", small, "closed", dict(steps=20, seed=1, pairs=[[0, 1], [2, 4]])),
        ("closed/foreground", fg, "closed", dict(steps=50)),
        ("exact/beams", beams, "exact", dict(t_max=3.0, method="beams")),
        ("misci", gas, "misci", dict(times=np.linspace(0, 1e4, 11))),
        ("misci/isotropic", gas, "misci", dict(times=np.linspace(0, 1e4, 11), weights="isotropic")),
        ("misci/poisson", gas, "misci", dict(times=np.linspace(0, 1e4, 11), schedule="poisson", p=0.5)),
    ]


def fingerprint():
    out = {}
    for name, sc, engine, kw in scenarios():
        ds = oile_q.run(sc, engine, **kw)
        out[name + "|P"] = np.asarray(ds["P"], dtype=np.float64)
        out[name + "|time"] = np.asarray(ds["time"], dtype=np.float64)
        for extra in (
            "entropy",
            "concurrence",
            "energy",
            "group_P3",
            "group_Pperp",
            "group_abs_mean",
            "group_mean_abs",
            "group_c",
            "Omega",
            "qss_m",
        ):
            if extra in ds:
                out[name + "|" + extra] = np.asarray(ds[extra], dtype=np.float64)
    return out


def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def main(argv):
    if len(argv) != 2 or argv[0] not in ("save", "check"):
        print(__doc__)
        return 2
    cur = fingerprint()
    if argv[0] == "save":
        np.savez(argv[1], **cur)
        for k, v in cur.items():
            print(f"{k:40s} {digest(v)}")
        return 0
    ref = dict(np.load(argv[1]))
    bad = 0
    for k in sorted(set(ref) | set(cur)):
        if k not in ref or k not in cur:
            print(f"{k:40s} MISSING ({'before' if k not in ref else 'after'})")
            bad += 1
            continue
        a, b = ref[k], cur[k]
        if a.shape != b.shape:
            print(f"{k:40s} SHAPE {a.shape} -> {b.shape}")
            bad += 1
            continue
        same = digest(a) == digest(b)
        diff = float(np.nanmax(np.abs(a - b))) if a.size else 0.0
        strict = k.startswith("oile/")
        ok = same if strict else diff <= 1e-12
        bad += not ok
        print(f"{k:40s} {'identical' if same else f'max diff {diff:.2e}'}{'' if ok else '  <-- FAIL'}")
    print("all within tolerance" if not bad else f"{bad} fingerprints changed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
