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
from qiskit_aer import AerSimulator

from oile_q.engine import Request
from oile_q.errors import InputError

from .backends import BackendChoice
from .devices import device_seconds, layout_report
from .engine import CircuitEngine
from .execution import exact_bloch
from .mitigation import Mitigation
from .options import mitigation_of
from .shots import ShotPlan, logical_circuits, measure, prepare_with

__all__ = ["dry_run", "format_report"]

DEVICE_TIME_NOTE = (
    "sum over circuits of shots x (critical-path duration from the backend's gate "
    "durations + a 250 us repetition delay); no queue, compilation or session "
    "overhead; the Sampler returns no estimate before submission"
)


def _device_report(plan: ShotPlan, logical: list, target) -> dict:
    """Two-qubit gates, depth and ESP of every measured circuit, the qubits and the device time."""
    lr = layout_report(plan.isa_base, target)
    return {
        "two_qubit": lr["two_qubit"],
        "depth": lr["depth"],
        "fidelity": lr["fidelity"],
        "per_circuit": [
            {
                "name": qc.name,
                "two_qubit": row["two_qubit"],
                "depth": row["depth"],
                "fidelity": row["fidelity"],
                "qubits": row["qubits"],
            }
            for (_, qc), row in zip(logical, lr["circuits"])
        ],
        "layouts": [info.get("physical") for info in plan.layout_info],
        "layout_reasons": sorted({info.get("reason", "chosen by reported errors") for info in plan.layout_info}),
        "device_s": device_seconds(plan.instances + plan.calibration, target, plan.shots),
        "device_s_note": DEVICE_TIME_NOTE,
    }


def _prediction(choice: BackendChoice, request: Request, specs, logical, index, mit: Mitigation, shots: int) -> dict:
    """The deviation from the ideal map that the backend's noise model predicts, without and
    with the requested mitigation (idle noise included), at the run's shots and seed."""
    t0 = time.perf_counter()
    noisy = BackendChoice(f"aer-noise:{choice.name}", "aer-noise", AerSimulator.from_backend(choice.backend))
    o = request.options
    n, nrec = request.scenario.n, len(request.times)
    try:
        ideal, _ = exact_bloch(specs, nrec, n)
    except InputError as err:
        return {"prediction": f"none: no exact reference ({err})"}
    seed = o["seed_simulator"] if o["seed_simulator"] is not None else 0
    runs = [("unmitigated", Mitigation(idle_noise=True))]
    if mit.methods:
        runs.append(("mitigated", replace(mit, idle_noise=True)))
    rep = {}
    for label, m in runs:
        p = prepare_with(o, noisy, specs, logical, m, shots=shots)
        P, E, _, _ = measure(noisy, p, specs, index, nrec, n, seed=seed)
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


def dry_run(engine: CircuitEngine, request: Request, *, predict: bool = True) -> dict:
    """Everything about a circuit run but the run.

    Circuits, shots, two-qubit gates, depth, estimated fidelity (ESP), qubits, estimated device
    time and (``predict``) the deviation of the backend's noise model from the ideal map,
    unmitigated and mitigated. Nothing is submitted.

    Parameters
    ----------
    engine : CircuitEngine
        The engine that validated ``request`` (its plan is reused).
    request : Request
        A validated circuit-engine request on a shot backend.
    predict : bool
        Also run the circuits on the backend's noise model (device backends only).

    Returns
    -------
    dict
        The report (``format_report`` prints it).

    Raises
    ------
    InputError
        For the exact backend "aer" (nothing to dry-run).

    Examples
    --------
    >>> import oile_q
    >>> from oile_q.runner import prepare
    >>> sc = oile_q.Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.2)
    >>> engine, request = prepare(sc, "circuit", steps=2, backend="aer-shots", shots=100)
    >>> rep = dry_run(engine, request)
    >>> rep["logical_circuits"], rep["total_shots"], rep["prediction"]
    (9, 900, 'none: the backend has no device noise model')
    """
    choice, specs, kind, shots = engine.plan_of(request)
    if choice.exact:
        raise InputError("`--dry-run` is for shot backends (aer-noise:, fake_, ibm:); backend 'aer' is exact.")
    mit = mitigation_of(request.options)
    logical, index = logical_circuits(specs)
    t0 = time.perf_counter()
    plan = prepare_with(request.options, choice, specs, logical, mit, shots=shots)
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
        rep.update(_device_report(plan, logical, choice.backend.target))
    if not predict:
        return rep
    if not choice.needs_isa:
        rep["prediction"] = "none: the backend has no device noise model"
        return rep
    rep.update(_prediction(choice, request, specs, logical, index, mit, shots))
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
