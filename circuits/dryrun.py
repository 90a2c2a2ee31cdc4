"""``oile-q circuit ... --dry-run``: what a run would send to a device, and what the device's
noise model predicts, without submitting anything.

For ``ibm:<name>`` the backend (its calibration data) is fetched from the service; nothing is
submitted. The prediction runs the same circuits on ``AerSimulator.from_backend`` of that
backend (its reported gate, readout and relaxation errors), with and without the requested
mitigation, and compares with the ideal (exact Aer) Bloch vectors.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

__all__ = ["dry_run", "format_report"]


def dry_run(engine, request, *, predict: bool = True) -> dict:
    """Everything about a circuit run but the run: circuits, shots, two-qubit gates, depth,
    estimated fidelity (ESP), qubits, estimated device time and (``predict``) the deviation of
    the backend's noise model from the ideal map, unmitigated and mitigated."""
    from oile_q.errors import InputError

    from .backends import BackendChoice
    from .devices import device_seconds, layout_report
    from .engine import _exact_bloch, mitigation_of
    from .mitigation import Mitigation
    from .shots import collect, execute, logical_circuits, on_records, prepare

    choice, specs, kind, shots = engine._plan(request)
    if choice.exact:
        raise InputError("`--dry-run` is for shot backends (aer-noise:, fake_, ibm:); backend 'aer' is exact.")
    o = request.options
    mit = mitigation_of(o)
    logical, index = logical_circuits(specs)
    t0 = time.perf_counter()
    plan = prepare(
        choice,
        specs,
        logical,
        mit,
        shots=shots,
        optimization_level=o["optimization_level"],
        seed_transpiler=o["seed_transpiler"],
        layout=o["layout"],
    )
    rep = {
        "backend": choice.name,
        "circuit": kind,
        "logical_circuits": len(logical),
        "instances": len(plan.instances),
        "calibration_circuits": len(plan.calibration),
        "shots_per_instance": plan.shots,
        "readout_shots": plan.readout_shots,
        "total_shots": plan.total_shots,
        "mitigation": ",".join(mit.methods) or "none",
        "client_side": ",".join(plan.client) or "none",
        "service_side": ",".join(plan.service) or "none",
        "prepare_s": time.perf_counter() - t0,
    }
    if choice.needs_isa:
        target = choice.backend.target
        lr = layout_report(plan.isa_base, target)
        rep.update(two_qubit=lr["two_qubit"], depth=lr["depth"], fidelity=lr["fidelity"])
        rep["per_circuit"] = [
            {
                "name": qc.name,
                "two_qubit": row["two_qubit"],
                "depth": row["depth"],
                "fidelity": row["fidelity"],
                "qubits": row["qubits"],
            }
            for (_, qc), row in zip(logical, lr["circuits"])
        ]
        rep["layouts"] = [info.get("physical") for info in plan.layout_info]
        rep["layout_reasons"] = sorted({info.get("reason", "chosen by reported errors") for info in plan.layout_info})
        rep["device_s"] = device_seconds(plan.instances + plan.calibration, target, plan.shots)
        rep["device_s_note"] = (
            "sum over circuits of shots x (critical-path duration from the backend's gate "
            "durations + a 250 us repetition delay); no queue, compilation or session "
            "overhead; the Sampler returns no estimate before submission"
        )
    if not predict:
        return rep
    if not choice.needs_isa:
        rep["prediction"] = "none: the backend has no device noise model"
        return rep
    from qiskit_aer import AerSimulator

    t0 = time.perf_counter()
    noisy = BackendChoice(f"aer-noise:{choice.name}", "aer-noise", AerSimulator.from_backend(choice.backend))
    n, nrec = request.scenario.n, len(request.times)
    try:
        ideal, _ = _exact_bloch(specs, nrec, n)
    except InputError as err:
        rep["prediction"] = f"none: no exact reference ({err})"
        return rep
    seed = o["seed_simulator"] if o["seed_simulator"] is not None else 0
    runs = [("unmitigated", Mitigation(idle_noise=True))]
    if mit.methods:
        runs.append(("mitigated", replace(mit, idle_noise=True)))
    for label, m in runs:
        p = prepare(
            noisy,
            specs,
            logical,
            m,
            shots=shots,
            optimization_level=o["optimization_level"],
            seed_transpiler=o["seed_transpiler"],
            layout=o["layout"],
        )
        counts, cal, _ = execute(noisy, p, seed=seed)
        vals, errs, _ = collect(p, counts, cal)
        P, E = on_records(specs, index, vals, nrec, n), on_records(specs, index, errs, nrec, n)
        d = P - ideal
        ok = np.isfinite(d)
        rep[f"predicted_max_deviation_{label}"] = float(np.max(np.abs(d[ok])))
        rep[f"predicted_rms_deviation_{label}"] = float(np.sqrt(np.mean(d[ok] ** 2)))
        rep[f"predicted_stderr_{label}"] = float(np.mean(E[ok]))
    rep["prediction"] = (
        "the backend's noise model on Aer (its reported gate, readout and relaxation errors; "
        "idle waits included), same shots and seed"
    )
    rep["predict_s"] = time.perf_counter() - t0
    return rep


def format_report(rep: dict) -> str:
    """The dry-run report as lines for a terminal."""
    lines = [
        f"dry run: backend {rep['backend']}, {rep['circuit']} circuit; nothing is submitted",
        f"  circuits: {rep['logical_circuits']} measured circuits -> {rep['instances']} device circuits"
        + (
            f" + {rep['calibration_circuits']} readout calibrations (2 states, repeated to "
            f"{rep['readout_shots']} shots each)"
            if rep["calibration_circuits"]
            else ""
        ),
        f"  shots: {rep['shots_per_instance']} per device circuit; {rep['total_shots']} in all",
        f"  mitigation: {rep['mitigation']} (here: {rep['client_side']}; by the service: {rep['service_side']})",
    ]
    if "two_qubit" in rep:
        tq, dp, fi = rep["two_qubit"], rep["depth"], rep["fidelity"]
        lines.append(
            f"  two-qubit gates per circuit: {tq['min']}..{tq['max']}; depth {dp['min']}..{dp['max']}; "
            f"estimated fidelity (ESP) {fi['min']:.3f}..{fi['max']:.3f}"
        )
        rows = rep["per_circuit"]
        shown = rows if len(rows) <= 12 else rows[:6] + [None] + rows[-5:]
        lines.append("  per measured circuit (noise scale 1, before twirling): two-qubit gates, depth, ESP")
        for r in shown:
            lines.append(
                "    ..."
                if r is None
                else f"    {r['name']:<28s} {r['two_qubit']:>5d} {r['depth']:>6d}  {r['fidelity']:.3f}"
            )
        lay = [x for x in rep["layouts"] if x is not None]
        lines.append(
            "  qubits: "
            + ("; ".join(",".join(map(str, x)) for x in lay) if lay else "the transpiler's")
            + f" ({'; '.join(rep['layout_reasons'])})"
        )
        lines.append(f"  estimated device time: {rep['device_s']:.1f} s ({rep['device_s_note']})")
    if "predicted_rms_deviation_unmitigated" in rep:
        for label in ("unmitigated", "mitigated"):
            if f"predicted_rms_deviation_{label}" in rep:
                lines.append(
                    f"  predicted deviation from the ideal map, {label}: rms "
                    f"{rep[f'predicted_rms_deviation_{label}']:.4f}, max "
                    f"{rep[f'predicted_max_deviation_{label}']:.4f} (mean stderr "
                    f"{rep[f'predicted_stderr_{label}']:.4f})"
                )
        lines.append(f"  ({rep['prediction']}; {rep['predict_s']:.1f} s)")
    elif "prediction" in rep:
        lines.append(f"  prediction: {rep['prediction']}")
    return "\n".join(lines)
