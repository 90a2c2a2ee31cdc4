"""Benchmark of the circuit engine (issue 3).

Prints
1. Aer (density-matrix) time of a 1,000-encounter foreground circuit;
2. Aer time of the light-cone tree of 10 steps (1,023 encounters, 11 qubits);
3. two-qubit gates and depth per encounter after transpiling, for each compile mode, on
   one fake IBM backend (default FakeSherbrooke, ECR) and on a bare CNOT basis.

Run:  .venv/bin/python benchmarks/bench_circuits.py [--backend fake_sherbrooke] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from oile_q import Scenario, run  # noqa: E402
from oile_q.circuits import EncounterGate, EncounterIsometryGate, fake_backend, pass_manager  # noqa: E402
from oile_q.circuits.backends import run_exact  # noqa: E402
from oile_q.circuits.builders import foreground_circuit, tree_circuit, with_saves  # noqa: E402
from oile_q.circuits.transpile import encounter_stats, to_aer  # noqa: E402
from oile_q.schedules import generate  # noqa: E402


def best(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="fake_sherbrooke", help="fake backend for the transpile table")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    print(f"circuit engine benchmark (best of {args.repeat})")
    print()
    # 1. foreground, 1,000 encounters
    fg = Scenario.foreground([0, 0, 1], [0.6, 0.0, 0.8], gamma=0.05, vdotu=0.2, omega=0.7, theta=0.3)
    spec = foreground_circuit(fg, 1000, record_steps=[0, 1000])
    qc = to_aer(with_saves(spec))
    t_aer, _ = best(lambda: run_exact([qc], method="density_matrix"), args.repeat)
    t_all, ds = best(lambda: run(fg, "circuit", steps=1000, times=[50.0]), args.repeat)
    ref = run(fg, "oile", steps=1000, times=[50.0])
    dev = float(np.abs(ds.P.values - ref.P.values).max())
    t_rec, _ = best(lambda: run(fg, "circuit", steps=1000), args.repeat)
    print("| case | encounters | qubits | Aer run (s) | run() total (s) | max abs diff vs oile |")
    print("|---|---|---|---|---|---|")
    print(
        f"| foreground, density matrix, final state | {spec.encounters} | {spec.num_qubits} | {t_aer:.3f} | "
        f"{t_all:.3f} | {dev:.1e} |"
    )
    print(
        f"| foreground, every step recorded (1,001 saves) | {spec.encounters} | {spec.num_qubits} | - | "
        f"{t_rec:.3f} | - |"
    )

    # 2. light-cone tree of 10 steps
    rng = np.random.default_rng(7)
    n = 8
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    P0 = rng.normal(size=(n, 3))
    P0 /= np.linalg.norm(P0, axis=1, keepdims=True)
    ens = Scenario(P0, rng.normal(size=n), v, gamma=0.2, theta=0.2)
    pairs = generate("matching", n, 10, seed=1)
    tspec = tree_circuit(ens, pairs, 0, record_steps=[0, 10])
    tqc = to_aer(with_saves(tspec))
    t0 = time.perf_counter()
    data = run_exact([tqc], method="density_matrix")[0]  # once: it takes a while
    t_tree = time.perf_counter() - t0
    from oile_q.conventions import rho_to_bloch

    P_tree = rho_to_bloch(np.asarray(data["r1_p0"]))
    tref = run(ens, "oile", steps=10, schedule=pairs, times=[2.0])
    tdev = float(np.abs(P_tree - tref.P.values[-1, 0]).max())
    print(
        f"| light-cone tree, 10 steps, one particle (run once) | {tspec.encounters} | {tspec.num_qubits} | "
        f"{t_tree:.3f} | - | {tdev:.1e} |"
    )
    print()

    # 3. transpile cost per encounter
    device = fake_backend(args.backend)
    pms = {
        f"{args.backend} (level 3)": pass_manager(device, optimization_level=3),
        "CX basis (level 3)": pass_manager(basis_gates=["cx", "rz", "sx", "x"], optimization_level=3),
    }
    phi, wa, wb, theta = 0.3 * 0.8, 0.21, -0.12, 0.3
    gates = {
        "split": (EncounterGate(phi, wa, wb, theta, "split"), False),
        "symmetric": (EncounterGate(phi, wa, wb, theta, "symmetric"), False),
        "exact": (EncounterGate(phi, wa, wb, theta, "exact"), False),
        "isometry": (EncounterIsometryGate(phi, wa, wb, theta, [0.6, 0.0, 0.8]), True),
    }
    print("| compile mode | " + " | ".join(f"{k}: 2q gates / depth" for k in pms) + " |")
    print("|---|" + "---|" * len(pms))
    for mode, (gate, fresh) in gates.items():
        cells = []
        for pm in pms.values():
            st = encounter_stats(gate, pm, fresh_partner=fresh)
            cells.append(f"{st['two_qubit']} / {st['depth']}")
        print(f"| {mode} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
