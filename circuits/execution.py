"""Running a planned circuit request, and what its result records.

Two paths, both called by ``CircuitEngine.run`` once ``planning.plan`` has accepted a request:

* ``exact_bloch``: exact Aer, Bloch vectors from saved density matrices (also the ideal
  reference of shot runs and of the dry run's prediction);
* ``shot_run``: the shot pipeline of ``shots`` (prepare, execute, collect), with the
  transpile statistics (``isa_attrs``), what the mitigation did (``mitigation_attrs``), the
  extra variables (standard errors, per-scale values, readout matrices) and the ideal
  reference (``ideal_reference``).

This module imports Qiskit (through the circuit specs) and xarray; the engine imports it only when
it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import xarray as xr

from oile_q.conventions import rho_to_bloch
from oile_q.engine import Request
from oile_q.errors import InputError

from .backends import BackendChoice, run_exact
from .devices import layout_report
from .mitigation import Mitigation
from .options import mitigation_of
from .planning import exact_method
from .shots import ShotPlan, logical_circuits, measure, on_records, prepare_with
from .specs import CircuitSpec, first_encounter, save_label, with_saves
from .transpile import circuit_stats, encounter_stats, pass_manager, to_aer

__all__ = [
    "exact_bloch",
    "ShotRun",
    "shot_run",
    "isa_attrs",
    "mitigation_attrs",
    "ideal_reference",
    "particles_computed",
]


def exact_bloch(specs: Sequence[CircuitSpec], nrec: int, n: int, bar=None) -> tuple[np.ndarray, str]:
    """Exact Bloch vectors from saved density matrices on Aer, one circuit at a time.

    Parameters
    ----------
    specs : list of CircuitSpec
        The circuits of a request (``planning.plan``).
    nrec : int
        Number of recorded times.
    n : int
        Number of particles.
    bar : Progress, optional
        Updated after each circuit with the number of circuits done.

    Returns
    -------
    P : ndarray, shape (nrec, n, 3)
        Bloch vectors of the particles the specs hold; NaN for the others.
    method : str
        The Aer method used (``planning.exact_method``).

    Raises
    ------
    InputError
        When the circuits are too large for an exact simulation (``planning.exact_method``:
        up to ``AER_DM_MAX_QUBITS`` qubits with resets, ``AER_SV_MAX_QUBITS`` without).

    Examples
    --------
    >>> from oile_q import Scenario
    >>> from oile_q.circuits.builders import foreground_circuit
    >>> spec = foreground_circuit(Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1), 2)
    >>> P, method = exact_bloch([spec], 3, 1)
    >>> P.shape, method, bool(np.allclose(P[0, 0], [0, 0, 1]))
    ((3, 1, 3), 'density_matrix', True)
    """
    method = exact_method(specs)
    P = np.full((nrec, n, 3), np.nan)
    for c, spec in enumerate(specs):
        d = run_exact([to_aer(with_saves(spec))], method=method)[0]
        for k, _, qubits in spec.records:
            for j, _q in enumerate(qubits):
                rho = np.asarray(d[save_label(k, j)])
                P[k, spec.particles[j]] = rho_to_bloch(rho)
        if bar is not None:
            bar.update(c + 1)
    return P, method


def isa_attrs(specs: Sequence[CircuitSpec], plan: ShotPlan, choice: BackendChoice, options: Mapping) -> dict:
    """Transpile statistics of a device run, for the result's attrs.

    Two-qubit gates and depth of one encounter and of the scale-1, untwirled device circuits,
    their estimated fidelities (ESP) and the physical qubits used.

    Parameters
    ----------
    specs : list of CircuitSpec
        The logical circuits.
    plan : ShotPlan
        The prepared device circuits (``shots.prepare``).
    choice : BackendChoice
        The device backend (``choice.needs_isa``).
    options : Mapping
        The request's options (``optimization_level``, ``seed_transpiler``, ``layout``).

    Returns
    -------
    dict
        Attribute name -> number or string.
    """
    out = {"optimization_level": options["optimization_level"]}
    enc_gate = first_encounter(specs)
    if enc_gate is not None:
        pm = pass_manager(
            choice.backend, optimization_level=options["optimization_level"], seed_transpiler=options["seed_transpiler"]
        )
        st = encounter_stats(enc_gate, pm, fresh_partner=enc_gate.name == "encounter_iso")
        out["transpiled_2q_per_encounter"] = st["two_qubit"]
        out["transpiled_depth_per_encounter"] = st["depth"]
    cs = circuit_stats(plan.isa_base, max(s.encounters for s in specs))
    out["transpiled_2q_total"] = cs["two_qubit_total"]
    out["transpiled_depth_max"] = cs["depth_max"]
    out["transpiled_2q_per_encounter_in_circuit"] = cs["two_qubit_per_encounter_in_circuit"]
    rep = layout_report(plan.isa_base, choice.backend.target)
    out["estimated_fidelity_min"] = float(rep["fidelity"]["min"])
    out["estimated_fidelity_max"] = float(rep["fidelity"]["max"])
    lay = [x for x in plan.layouts if x is not None]
    how = "auto" if options["layout"] == "auto" else "given"
    out["layout"] = f"{how}: " + ";".join(",".join(map(str, x)) for x in lay) if lay else "transpiler"
    return out


def mitigation_attrs(plan: ShotPlan, info: Mapping) -> dict:
    """What the mitigation did, for the result's attrs (strings and numbers only).

    Parameters
    ----------
    plan : ShotPlan
        The prepared circuits (methods done here and by the service, shots, calibration).
    info : Mapping
        What ``shots.collect`` reports (the ZNE fits used).

    Returns
    -------
    dict
        Attribute name -> number or string.
    """
    mit = plan.mitigation
    out = {
        "mitigation": ",".join(mit.methods) or "none",
        "mitigation_client_side": ",".join(plan.client) or "none",
        "mitigation_service_side": ",".join(plan.service) or "none",
        "shots_per_instance": int(plan.shots),
        "instances": len(plan.instances),
        "total_shots": int(plan.total_shots),
        "idle_noise": int(bool(mit.idle_noise or "dd" in plan.client)),
    }
    if mit.zne:
        out["zne_scales"] = ",".join(map(str, mit.zne_scales))
        out["zne_fit"] = mit.fit
        out["zne_fits_used"] = ",".join(f"{k}:{v}" for k, v in sorted(info.get("zne_fits_used", {}).items()))
    if mit.twirl:
        out["twirls"] = int(mit.twirls)
    if mit.dd:
        out["dd_sequence"] = mit.dd_sequence
    if mit.readout:
        out["readout_shots"] = int(plan.readout_shots)
        out["readout_qubits"] = ",".join(map(str, plan.cal_qubits))
    return out


def _mitigation_extras(mit: Mitigation, info: Mapping, specs, index, nrec: int, n: int) -> dict:
    """The per-scale values of ZNE and the measured readout matrices, as result variables."""
    extras = {}
    if mit.zne:
        V = on_records(specs, index, [ps[0] for ps in info["per_scale"]], nrec, n)
        extras["P_noise_scaled"] = xr.DataArray(
            V,
            dims=("noise_scale", "time", "particle", "component"),
            coords={"noise_scale": list(mit.zne_scales)},
            attrs={"long_name": "P at each ZNE noise scale (folded encounters), before extrapolation"},
        )
    if mit.readout:
        extras["readout_matrices"] = xr.DataArray(
            info["readout_matrices"],
            dims=("readout_qubit", "measured", "prepared"),
            coords={"readout_qubit": info["readout_qubits"]},
            attrs={
                "long_name": "assignment matrices A[measured, prepared] of the measured physical "
                "qubits, measured with the run"
            },
        )
    return extras


def ideal_reference(specs: Sequence[CircuitSpec], P: np.ndarray, E: np.ndarray, nrec: int, n: int) -> tuple[dict, dict]:
    """The ideal (exact Aer) Bloch vectors of a shot run and how far the run is from them.

    Parameters
    ----------
    specs : list of CircuitSpec
        The logical circuits.
    P, E : ndarray, shape (nrec, n, 3)
        The run's Bloch vectors and their standard errors.
    nrec, n : int
        Recorded times and particles.

    Returns
    -------
    extras : dict
        ``P_ideal`` as a DataArray; empty when the circuits are too large for exact Aer.
    attrs : dict
        ``max_deviation_from_ideal`` and ``max_deviation_in_stderr``; empty likewise.
    """
    try:
        Pi, _ = exact_bloch(specs, nrec, n)
    except InputError:
        return {}, {}
    extras = {
        "P_ideal": xr.DataArray(
            Pi, dims=("time", "particle", "component"), attrs={"long_name": "ideal (exact Aer) Bloch vector"}
        )
    }
    dev = np.nanmax(np.abs(P - Pi)) if np.isfinite(P).any() else np.nan
    attrs = {"max_deviation_from_ideal": float(dev)}
    with np.errstate(invalid="ignore"):
        z = np.abs(P - Pi) / np.where(E > 0, E, np.nan)
    attrs["max_deviation_in_stderr"] = float(np.nanmax(z)) if np.isfinite(z).any() else float("nan")
    return extras, attrs


class ShotRun(NamedTuple):
    """What a shot run gives the engine's ``Output``.

    Parameters
    ----------
    P : ndarray, shape (time, particle, 3)
        Mitigated Bloch vectors (NaN for particles not computed).
    extras : dict
        Extra result variables (``P_stderr``, ``P_noise_scaled``, ``readout_matrices``,
        ``P_ideal``).
    attrs : dict
        Result attributes (transpile statistics, mitigation, shots, job ids, deviations).
    circuits : int
        Circuits sent to the backend (instances and readout calibrations).
    """

    P: np.ndarray
    extras: dict
    attrs: dict
    circuits: int


def shot_run(request: Request, choice: BackendChoice, specs: Sequence[CircuitSpec], shots: int, seed) -> ShotRun:
    """Run a planned request on a shot backend (everything but exact Aer).

    Parameters
    ----------
    request : Request
        The validated request (its options and recorded times).
    choice, specs, shots
        Its plan (``planning.plan``).
    seed : int or None
        Seed of the shot sampling (None on IBM hardware).

    Returns
    -------
    ShotRun
        Bloch vectors, extra variables, attrs and the number of circuits run.
    """
    o = request.options
    n, nrec = request.scenario.n, len(request.times)
    mit = mitigation_of(o)
    logical, index = logical_circuits(specs)
    plan = prepare_with(o, choice, specs, logical, mit, shots=shots)
    attrs = isa_attrs(specs, plan, choice, o) if choice.needs_isa else {}
    P, E, info, jids = measure(
        choice, plan, specs, index, nrec, n, seed=seed, on_submit=o["on_submit"], job_ids=o["job_ids"]
    )
    attrs.update(mitigation_attrs(plan, info))
    extras = _mitigation_extras(mit, info, specs, index, nrec, n)
    extras["P_stderr"] = xr.DataArray(
        E,
        dims=("time", "particle", "component"),
        attrs={"long_name": "standard error of P (binomial per basis, propagated through the mitigation)"},
    )
    attrs["shots"] = int(shots)
    if choice.kind == "ibm":
        attrs["job_ids"] = ",".join(jids)
    if o["reference"]:
        more_extras, more_attrs = ideal_reference(specs, P, E, nrec, n)
        extras.update(more_extras)
        attrs.update(more_attrs)
    return ShotRun(P, extras, attrs, len(plan.instances) + len(plan.calibration))


def particles_computed(specs: Sequence[CircuitSpec], n: int) -> xr.DataArray:
    """1 for the particles some circuit holds, 0 for the others (NaN in the result's P).

    Parameters
    ----------
    specs : list of CircuitSpec
        The circuits of a request.
    n : int
        Number of particles.

    Returns
    -------
    xarray.DataArray
        int8 over the dimension "particle".
    """
    computed = np.zeros(n, dtype=np.int8)
    for s in specs:
        computed[list(s.particles)] = 1
    return xr.DataArray(computed, dims=("particle",))
