"""The shot pipeline of the circuit engine: measured logical circuits -> device instances
(folded, transpiled on chosen qubits, twirled, scheduled) -> one job -> mitigated Bloch
components with standard errors.

``prepare`` builds everything that runs (and is all a dry run needs); ``collect`` turns the
counts back into one value and error per measured bit of every logical circuit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from oile_q.errors import InputError

from . import backends
from .backends import BackendChoice, expval_from_counts
from .devices import select_qubits
from .mitigation import (
    Mitigation,
    assignment_matrices,
    extrapolate,
    fold_encounters,
    measured_physical,
    readout_calibration_circuits,
    readout_correct,
    schedule,
    twirl,
)
from .specs import BASES, measured
from .transpile import pass_manager, to_aer

__all__ = [
    "ShotPlan",
    "logical_circuits",
    "prepare",
    "prepare_with",
    "execute",
    "collect",
    "measure",
    "on_records",
]


@dataclass
class ShotPlan:
    """What one run of measured circuits sends to the backend."""

    instances: list  # circuits to run (ISA or Aer-ready), in order
    owner: list  # instance -> (logical circuit index, scale index)
    shots: int  # shots per instance
    calibration: list = field(default_factory=list)  # readout calibration circuits (after instances)
    cal_qubits: list = field(default_factory=list)  # physical qubits they calibrate
    readout_shots: int = 0  # shots per calibration state (pooled over its copies)
    cal_copies: int = 0  # copies of each calibration circuit
    phys: list = field(default_factory=list)  # logical circuit -> physical qubit per bit
    nbits: list = field(default_factory=list)  # logical circuit -> bits measured
    layouts: list = field(default_factory=list)  # spec -> physical qubits (or None)
    layout_info: list = field(default_factory=list)
    isa_base: list = field(default_factory=list)  # logical circuit -> ISA circuit at scale 1, untwirled
    client: tuple = ()  # methods done here
    service: tuple = ()  # methods the IBM service performs
    mitigation: Mitigation = Mitigation()

    @property
    def total_shots(self) -> int:
        return self.shots * (len(self.instances) + len(self.calibration))


def logical_circuits(specs):
    """The measured circuits of specs (``specs.measured``: every record point in the X, Y, Z
    bases) as (spec index, circuit), and the (spec index, record) of each group of three."""
    logical, index = [], []
    for si, spec in enumerate(specs):
        for r in range(len(spec.records)):
            for b in BASES:
                logical.append((si, measured(spec, r, b)))
            index.append((si, r))
    return logical, index


def on_records(specs, index, arrays, nrec: int, n: int):
    """Per-logical-circuit arrays (..., bits) placed into (..., time, particle, component)
    (NaN where nothing was measured)."""
    lead = np.shape(arrays[0])[:-1] if arrays else ()
    out = np.full(lead + (nrec, n, 3), np.nan)
    for c, (si, r) in enumerate(index):
        spec = specs[si]
        k = spec.records[r][0]
        for b in range(3):
            a = np.asarray(arrays[3 * c + b])
            for j, p in enumerate(spec.particles):
                out[..., k, p, b] = a[..., j]
    return out


def _layout_for(choice, spec, option):
    """Physical qubits for a spec's circuits: ``option`` "auto" (chosen from the backend's
    reported errors where the interaction graph is a path), "transpiler", or a list."""
    if option == "transpiler" or not choice.needs_isa:
        return None, {"reason": "transpiler's own layout" if choice.needs_isa else "no device"}
    if option == "auto":
        return select_qubits(choice.backend, spec.circuit, measured=[spec.records[0][2][0]] if spec.records else None)
    layout = list(option)
    if len(layout) != spec.num_qubits:
        raise InputError(
            f"`layout` must list {spec.num_qubits} physical qubits (one per circuit qubit); got {len(layout)}."
        )
    return layout, {"physical": layout, "reason": "given"}


def prepare(
    choice, specs, logical, mit: Mitigation, *, shots: int, optimization_level: int, seed_transpiler: int, layout="auto"
) -> ShotPlan:
    """Build the instances of every logical measured circuit.

    logical: list of (spec index, QuantumCircuit) -- the measured circuits of ``specs.measured``.
    """
    service = ()
    client = tuple(mit.methods)
    if choice.kind == "ibm":
        service = tuple(m for m in mit.methods if m in ("twirl", "dd"))
        client = tuple(m for m in mit.methods if m not in service)
    twirls = mit.twirls if "twirl" in client else 1
    per = max(1, shots // (len(mit.zne_scales) * twirls))
    plan = ShotPlan([], [], per, client=client, service=service, mitigation=mit)
    target = getattr(choice.backend, "target", None) if choice.needs_isa else None
    pms = {}
    for si, spec in enumerate(specs):
        lay, info = _layout_for(choice, spec, layout)
        plan.layouts.append(lay)
        plan.layout_info.append(info)
        if choice.needs_isa:
            pms[si] = pass_manager(
                choice.backend,
                optimization_level=optimization_level,
                seed_transpiler=seed_transpiler,
                initial_layout=lay,
            )
    for ci, (si, qc) in enumerate(logical):
        for k, scale in enumerate(mit.zne_scales):
            folded = fold_encounters(qc, scale)
            if not choice.needs_isa:
                plan.instances.append(to_aer(folded))
                plan.owner.append((ci, k))
                if k == 0:
                    plan.phys.append(measured_physical(folded))
                    plan.nbits.append(len(plan.phys[-1]))
                    plan.isa_base.append(folded)
                continue
            isa = pms[si].run(folded)
            if k == 0:
                plan.phys.append(measured_physical(isa))
                plan.nbits.append(len(plan.phys[-1]))
                plan.isa_base.append(isa)
            copies = twirl(isa, target, twirls, seed_transpiler + 7919 * ci + 104729 * k) if twirls > 1 else [isa]
            for c in copies:
                if mit.idle_noise or "dd" in client:
                    c = schedule(c, target, dd=mit.dd_sequence if "dd" in client else None)
                plan.instances.append(c)
                plan.owner.append((ci, k))
    if mit.readout:
        qubits = sorted({q for p in plan.phys for q in p})
        nq = choice.backend.num_qubits if choice.needs_isa else max(qubits) + 1
        cal = readout_calibration_circuits(qubits, nq)
        if not choice.needs_isa:
            cal = [to_aer(c) for c in cal]
        # one job, one shot count (the Runtime sampler takes no per-circuit shots): each calibration
        # circuit is repeated until it has at least `readout_shots` shots, and its counts pooled
        plan.cal_copies = -(-mit.readout_shots // per)
        plan.calibration = [c for c in cal for _ in range(plan.cal_copies)]
        plan.cal_qubits = qubits
        plan.readout_shots = plan.cal_copies * per
    return plan


def prepare_with(options: Mapping, choice: BackendChoice, specs, logical, mit: Mitigation, *, shots: int) -> ShotPlan:
    """``prepare`` with the transpiler settings of a circuit-engine request's options
    (``optimization_level``, ``seed_transpiler``, ``layout``): the engine's run and the dry run
    send the same circuits."""
    return prepare(
        choice,
        specs,
        logical,
        mit,
        shots=shots,
        optimization_level=options["optimization_level"],
        seed_transpiler=options["seed_transpiler"],
        layout=options["layout"],
    )


def execute(choice, plan: ShotPlan, *, seed=None, on_submit=None, job_ids=None):
    """Counts of every instance and calibration circuit (one job on IBM services)."""
    circuits = plan.instances + plan.calibration
    service = {}
    if choice.kind == "ibm":
        mit = plan.mitigation
        if "twirl" in plan.service:
            service["twirling"] = {"enable_gates": True, "num_randomizations": mit.twirls}
        if "dd" in plan.service:
            service["dynamical_decoupling"] = {"enable": True, "sequence_type": mit.dd_sequence}
    counts, jids = backends.run_counts(  # looked up at call time: the dry-run test replaces it
        choice, circuits, shots=plan.shots, seed=seed, on_submit=on_submit, job_ids=job_ids, service_options=service
    )
    return counts[: len(plan.instances)], counts[len(plan.instances) :], jids


def _pool(dicts):
    out = {}
    for d in dicts:
        for k, c in d.items():
            out[k] = out.get(k, 0) + c
    return out


def collect(plan: ShotPlan, counts, cal_counts):
    """Mitigated <Z> and standard error of every bit of every logical circuit.

    Returns (values, errors, info): lists of arrays, one per logical circuit, and a dict for
    the result's attrs (assignment matrices, per-scale values, fits used).
    """
    mit = plan.mitigation
    nlog = len(plan.phys)
    nscale = len(mit.zne_scales)
    pooled = [[[] for _ in range(nscale)] for _ in range(nlog)]
    for (ci, k), c in zip(plan.owner, counts):
        pooled[ci][k].append(c)
    pooled = [[_pool(lst) for lst in row] for row in pooled]
    info = {}
    vals = np.zeros((nlog, nscale), dtype=object)
    errs = np.zeros((nlog, nscale), dtype=object)
    if mit.readout:
        k = plan.cal_copies
        A = assignment_matrices([_pool(cal_counts[:k]), _pool(cal_counts[k : 2 * k])], plan.cal_qubits)
        mats = dict(zip(plan.cal_qubits, A))
        info["readout_matrices"] = A
        info["readout_qubits"] = list(plan.cal_qubits)
        for k in range(nscale):
            v, s = readout_correct([pooled[ci][k] for ci in range(nlog)], plan.phys, mats, plan.readout_shots)
            for ci in range(nlog):
                vals[ci, k], errs[ci, k] = v[ci], s[ci]
    else:
        for ci in range(nlog):
            for k in range(nscale):
                vals[ci, k], errs[ci, k] = expval_from_counts(pooled[ci][k], plan.nbits[ci])
    out_v, out_e = [], []
    fits = {}
    per_scale = []
    for ci in range(nlog):
        V = np.array([vals[ci, k] for k in range(nscale)])  # (scale, bits)
        E = np.array([errs[ci, k] for k in range(nscale)])
        per_scale.append((V, E))
        if nscale == 1:
            out_v.append(V[0])
            out_e.append(E[0])
            continue
        v = np.zeros(V.shape[1])
        e = np.zeros(V.shape[1])
        for j in range(V.shape[1]):
            v[j], e[j], used = extrapolate(mit.zne_scales, V[:, j], E[:, j], mit.fit)
            fits[used] = fits.get(used, 0) + 1
        out_v.append(v)
        out_e.append(e)
    info["per_scale"] = per_scale
    if fits:
        info["zne_fits_used"] = fits
    return out_v, out_e, info


def measure(choice: BackendChoice, plan: ShotPlan, specs, index, nrec: int, n: int, **execute_kwargs):
    """Run a prepared plan and place its mitigated values on the records.

    ``execute`` (``execute_kwargs``: seed, on_submit, job_ids), ``collect``, then ``on_records``
    for the values and their standard errors. Returns (P, stderr, info, job ids): P and stderr
    of shape (nrec, n, 3), NaN where nothing was measured; info as ``collect`` gives it.
    """
    counts, cal_counts, jids = execute(choice, plan, **execute_kwargs)
    vals, errs, info = collect(plan, counts, cal_counts)
    return on_records(specs, index, vals, nrec, n), on_records(specs, index, errs, nrec, n), info, jids
