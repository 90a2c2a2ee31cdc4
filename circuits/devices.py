"""Devices: qubit selection from reported errors, estimated fidelity and QPU time.

The errors and durations read here are what a backend's ``Target`` reports (calibration data
of IBM devices; the snapshots stored in the fake backends). Functions that take ``target``
also accept a backend and read ``backend.target``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from qiskit import QuantumCircuit
from qiskit.exceptions import QiskitError
from qiskit.transpiler import Target

from oile_q.errors import InputError, InputTypeError, check_bool, check_int, check_real, describe

from .transpile import two_qubit_count

__all__ = [
    "interaction_graph",
    "select_qubits",
    "estimated_fidelity",
    "device_seconds",
    "layout_report",
    "DEFAULT_REP_DELAY",
]

DEFAULT_REP_DELAY = 250e-6  # s, IBM's default delay between shots, used when the backend reports none
_TIE = 1e-12  # log-scores closer than this are ties


def _target(name: str, value) -> Target:
    if isinstance(value, Target):
        return value
    target = getattr(value, "target", None)
    if isinstance(target, Target):
        return target
    raise InputTypeError(f"`{name}` must be a Qiskit backend or Target; got {describe(value)}.")


def _circuit(name: str, value) -> QuantumCircuit:
    if not isinstance(value, QuantumCircuit):
        raise InputTypeError(f"`{name}` must be a QuantumCircuit; got {describe(value)}.")
    return value


def _circuits(name: str, value) -> list:
    items = [value] if isinstance(value, QuantumCircuit) else value
    try:
        items = list(items)
    except TypeError:
        raise InputTypeError(f"`{name}` must be a QuantumCircuit or a list of them; got {describe(value)}.") from None
    if not items:
        raise InputError(f"`{name}` must hold at least one circuit; got an empty list.")
    for c in items:
        if not isinstance(c, QuantumCircuit):
            raise InputTypeError(f"`{name}` must hold QuantumCircuits; got {describe(c)} among them.")
    return items


def _skip(op) -> bool:
    return getattr(op, "_directive", False) or op.name == "barrier"


def _walk(qc: QuantumCircuit, qubits):
    """(operation, outer qubit indices) of every instruction, control-flow bodies included."""
    for inst in qc.data:
        idx = [qubits[qc.find_bit(q).index] for q in inst.qubits]
        blocks = getattr(inst.operation, "blocks", ())
        if blocks:
            for block in blocks:
                yield from _walk(block, idx)
        else:
            yield inst.operation, idx


def _pair_counts(qc: QuantumCircuit) -> dict:
    """Logical pair (i < j) -> number of multi-qubit instructions on it."""
    counts = {}
    for op, idx in _walk(qc, list(range(qc.num_qubits))):
        if len(idx) < 2 or _skip(op):
            continue
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                key = (min(idx[a], idx[b]), max(idx[a], idx[b]))
                counts[key] = counts.get(key, 0) + 1
    return counts


def interaction_graph(circuit) -> set[tuple[int, int]]:
    """Undirected logical qubit pairs (i < j) touched by a multi-qubit instruction.

    Barriers and other directives are excluded; an instruction on k >= 3 qubits contributes
    all its pairs; control-flow bodies are included.
    """
    return set(_pair_counts(_circuit("circuit", circuit)))


def _error(target: Target, name: str, qargs) -> float:
    """Reported error of ``name`` on ``qargs``; 0 when not reported."""
    if name not in target.operation_names:
        return 0.0
    props = target[name].get(qargs)
    return float(props.error) if props is not None and props.error is not None else 0.0


def _log_keep(e: float) -> float:
    return math.log1p(-e) if e < 1.0 else -math.inf


def _edge_errors(target: Target) -> dict | None:
    """Undirected coupling edge (p < q) -> smallest reported error over the fixed two-qubit
    gates (cz, ecr, cx, ...) and both directions; None when the target has no coupling map."""
    gates = []
    for name in target.operation_names:
        op = target.operation_from_name(name)
        if not isinstance(op, type) and getattr(op, "num_qubits", 0) == 2 and not _skip(op):
            gates.append((bool(op.params), name))
    fixed = [n for param, n in gates if not param]
    edges = {}
    for name in fixed or [n for _, n in gates]:
        for qargs, props in target[name].items():
            if qargs is None:
                return None
            e = float(props.error) if props is not None and props.error is not None else 0.0
            key = (min(qargs), max(qargs))
            edges[key] = min(e, edges.get(key, e))
    return edges or None


def _has_errors(target: Target, edges: dict) -> bool:
    if any(e > 0 for e in edges.values()):
        return True
    for name in ("sx", "measure"):
        if name in target.operation_names and any(p is not None and p.error for p in target[name].values()):
            return True
    return False


def _path_order(pairs) -> list | None:
    """The logical path (starting at its smaller end) of ``pairs``; [] when there are none;
    None when the pairs are not one simple path."""
    if not pairs:
        return []
    adj = {}
    for a, b in pairs:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    ends = sorted(v for v, nb in adj.items() if len(nb) == 1)
    if any(len(nb) > 2 for nb in adj.values()) or len(ends) != 2 or len(pairs) != len(adj) - 1:
        return None
    order, prev = [ends[0]], None
    while len(order) < len(adj):
        nxt = [v for v in adj[order[-1]] if v != prev]
        if not nxt:  # a path plus a cycle elsewhere
            return None
        prev = order[-1]
        order.append(nxt[0])
    return order


def _no_search_reason(order, edges, target: Target) -> str | None:
    """Why no layout is searched (the circuit is not a path, or the target reports no coupling
    map or no errors); None when a search can be made."""
    if order is None:
        return "the two-qubit interaction graph is not a simple path"
    if edges is None:
        return "the target reports no coupling map"
    if not _has_errors(target, edges):
        return "the target reports no gate or readout errors"
    return None


def _used_and_measured(qc: QuantumCircuit, measured, target: Target) -> tuple[set, list]:
    """The logical qubits the circuit uses (the measured ones included), and the measured ones:
    ``measured`` checked, or by default those the circuit measures, else qubit 0. Refuses a
    circuit without qubits or with more than the target has."""
    n = qc.num_qubits
    if n == 0:
        raise InputError("`circuit` must have at least one qubit; got 0.")
    if target.num_qubits is not None and n > target.num_qubits:
        raise InputError(f"`circuit` has {n} qubits; the backend has only {target.num_qubits}.")
    used, meas = set(), set()
    for op, idx in _walk(qc, list(range(n))):
        if not _skip(op):
            used.update(idx)
            if op.name == "measure":
                meas.update(idx)
    if measured is None:
        measured = sorted(meas) or [0]
    else:
        try:
            measured = sorted({check_int("measured", q) for q in measured})
        except TypeError:
            raise InputTypeError(f"`measured` must be logical qubit indices; got {describe(measured)}.") from None
        if any(not 0 <= q < n for q in measured):
            raise InputError(f"`measured` must be qubit indices in 0..{n - 1}; got {measured}.")
    used.update(measured)
    return used, measured


class _PathSearch:
    """Every embedding of the logical path ``order`` into the coupling graph, with its log-score
    (the sum of log(1 - error) of ``select_qubits``); ``run`` returns them as (score, layout)."""

    def __init__(self, target: Target, edges: dict, order: list, used: set, measured: list, uses, n: int):
        self.edges, self.order, self.n = edges, order, n
        self.mset = set(measured)
        qargs = target.qargs or ()
        self.physical = [p for p in range(target.num_qubits) if (p,) in qargs]  # qubits the target reports
        self.sx = {p: _error(target, "sx", (p,)) for p in self.physical}
        self.ro = {p: _error(target, "measure", (p,)) for p in self.physical}
        self.adj = {}
        for a, b in sorted(edges):
            self.adj.setdefault(a, []).append(b)
            self.adj.setdefault(b, []).append(a)
        on_path = set(order)
        # used qubits off the path, measured ones first; every physical qubit ranked for each
        self.lone = sorted((v for v in used if v not in on_path), key=lambda v: (v not in self.mset, v))
        self.ranked = {read: sorted(self.physical, key=lambda p: (-self.node(p, read), p)) for read in (True, False)}
        # uses: logical pair -> multi-qubit instructions (``weighted``), else each edge counts once
        self.weight = [uses[(min(a, b), max(a, b))] if uses is not None else 1 for a, b in zip(order, order[1:])]
        self.candidates = []

    def node(self, p: int, read: bool) -> float:
        """log(1 - error) of one sx on physical qubit p, and of its readout if ``read``."""
        return _log_keep(self.sx.get(p, 0.0)) + (_log_keep(self.ro.get(p, 0.0)) if read else 0.0)

    def finish(self, path: list, score: float) -> None:
        """Complete a path embedding with the qubits off the path (greedily, measured ones
        first) and the idle ones (smallest free indices), and keep it as a candidate."""
        layout, taken = dict(zip(self.order, path)), set(path)
        for v in self.lone:
            p = next((p for p in self.ranked[v in self.mset] if p not in taken), None)
            if p is None:
                return
            layout[v] = p
            taken.add(p)
            score += self.node(p, v in self.mset)
        n = self.n
        if len(layout) < n:  # idle qubits: the smallest free indices
            free = [p for p in self.physical if p not in taken][: n - len(layout)]
            if len(free) < n - len(layout):
                return
            layout.update(zip((v for v in range(n) if v not in layout), free))
        self.candidates.append((score, [layout[v] for v in range(n)]))

    def dfs(self, path: list, score: float) -> None:
        """Extend ``path`` by every coupling-graph neighbour not on it, depth first."""
        if len(path) == len(self.order):
            self.finish(path, score)
            return
        last = path[-1]
        for p in self.adj[last]:
            if p not in path:
                e = self.edges[(min(last, p), max(last, p))]
                i = len(path)
                self.dfs(
                    path + [p], score + self.weight[i - 1] * _log_keep(e) + self.node(p, self.order[i] in self.mset)
                )

    def run(self) -> list:
        """All embeddings as (log-score, layout list)."""
        if self.order:
            for p in sorted(self.adj):
                self.dfs([p], self.node(p, self.order[0] in self.mset))
        else:
            self.finish([], 0.0)
        return self.candidates

    def best(self, measured: list, used: set) -> tuple[list, dict]:
        """The best candidate (scores within ``_TIE`` are ties, broken by the smallest layout
        list) and what ``select_qubits`` reports about it."""
        best = max(s for s, _ in self.candidates)
        score, layout = min(((s, lay) for s, lay in self.candidates if s >= best - _TIE), key=lambda c: c[1])
        edges = self.edges
        return layout, dict(
            physical=layout,
            score=math.exp(score),
            edges=[
                (layout[a], layout[b], edges[(min(layout[a], layout[b]), max(layout[a], layout[b]))])
                for a, b in zip(self.order, self.order[1:])
            ],
            readout={layout[v]: self.ro.get(layout[v], 0.0) for v in measured},
            sx={layout[v]: self.sx.get(layout[v], 0.0) for v in sorted(used)},
        )


def select_qubits(
    backend, circuit: QuantumCircuit, *, measured: Iterable[int] | None = None, weighted: bool = False
) -> tuple[list[int] | None, dict]:
    """Physical qubits for ``circuit`` chosen from the backend's reported errors.

    Works when the circuit's two-qubit interaction graph (``interaction_graph``) is one simple
    path, a single edge or has no edge: every embedding of the path into the coupling map
    (simple paths of the coupling graph, found by depth-first search, both directions) is
    scored by the sum of log(1 - error) over the path's two-qubit gate errors (each edge used
    once unless ``weighted``; the smallest error of the fixed two-qubit gates, cz/ecr/cx, over both directions),
    the readout errors of the measured qubits and the sx errors of all used qubits, and the
    best one is taken: the i-th logical qubit along the path (from its end with the smaller
    index) gets the i-th physical qubit of the embedding.
    Used qubits outside the path (no two-qubit gate) then take the best remaining qubits,
    greedily (measured ones first); idle qubits the smallest free indices. Errors not
    reported count as 0; an edge not in the coupling map is never used. Scores within 1e-12
    are ties, broken by the smallest layout list.

    Parameters
    ----------
    backend : BackendV2 or Target
    circuit : QuantumCircuit (logical)
    measured : iterable of int, optional
        Logical qubits that are read out; default: those the circuit measures, else qubit 0.
    weighted : bool
        Count each path edge as many times as the circuit has multi-qubit instructions on
        its logical pair (edge factor (1 - error)**uses, in the score too), instead of once.
        Better for circuits that use some pairs more often than others.

    Returns
    -------
    layout : list of int or None
        ``layout[i]`` is the physical qubit of logical qubit i (``initial_layout`` of the
        transpiler); None when the interaction graph is not a path, the target reports no
        coupling map or no errors, or no embedding exists: the transpiler's layout is then used.
    info : dict
        "physical" (the layout), "score" (product of (1 - error) over one use of each path
        edge (``weighted``: its uses), one readout of each measured qubit and one sx of each
        used qubit: an estimated success probability), "edges" (list of (p, q, error) along
        the path), "readout" (physical -> error), "sx" (physical -> error), "interaction"
        (logical pair -> number of multi-qubit instructions), "candidates" (embeddings scored)
        and "reason" when the layout is None.

    Raises
    ------
    InputError
        For a circuit without qubits or with more than the backend, or bad ``measured``;
        ``InputTypeError`` for a backend, circuit or ``measured`` of the wrong kind.
    """
    target = _target("backend", backend)
    qc = _circuit("circuit", circuit)
    used, measured = _used_and_measured(qc, measured, target)
    weighted = check_bool("weighted", weighted)
    uses = _pair_counts(qc)
    info = {
        "physical": None,
        "score": None,
        "edges": [],
        "readout": {},
        "sx": {},
        "interaction": dict(sorted(uses.items())),
        "candidates": 0,
    }
    order = _path_order(set(uses))
    edges = _edge_errors(target)
    reason = _no_search_reason(order, edges, target)
    if reason is not None:
        info["reason"] = reason
        return None, info
    search = _PathSearch(target, edges, order, used, measured, uses if weighted else None, qc.num_qubits)
    candidates = search.run()
    info["candidates"] = len(candidates)
    if not candidates:
        info["reason"] = f"the coupling map has no simple path of {len(order)} qubits"
        return None, info
    layout, chosen = search.best(measured, used)
    info.update(chosen)
    return layout, info


def estimated_fidelity(isa_circuit, target) -> float:
    """Estimated success probability (ESP) of a transpiled circuit: the product over its
    instructions of (1 - error) reported by the target.

    Gates, measure and reset count with ``target[name][qargs].error`` (None -> 0 error);
    barriers and delays count 1. Qubit indices are physical (those of the transpiled circuit).
    ESP ignores decoherence while qubits idle and crosstalk, so it overestimates the fidelity
    of long or dense circuits.
    """
    qc = _circuit("isa_circuit", isa_circuit)
    tgt = _target("target", target)
    keep = 1.0
    for inst in qc.data:
        op = inst.operation
        if _skip(op) or op.name == "delay":
            continue
        if getattr(op, "blocks", ()):
            raise InputError(
                f"`isa_circuit` contains control flow ({op.name!r}); its estimated fidelity "
                "depends on run-time branches and is not computed."
            )
        qargs = tuple(qc.find_bit(q).index for q in inst.qubits)
        if not tgt.instruction_supported(op.name, qargs):
            raise InputError(
                f"`isa_circuit` has {op.name!r} on qubits {qargs}, which the target does not "
                "support; transpile it to the target first."
            )
        props = tgt[op.name].get(qargs)
        if props is not None and props.error is not None:
            keep *= 1.0 - props.error
    return float(keep)


def _rep_delay(backend) -> float:
    """The backend's default delay between shots in s (its configuration's), else the default."""
    value = getattr(backend, "default_rep_delay", None)
    if value is None and hasattr(backend, "configuration"):
        value = getattr(backend.configuration(), "default_rep_delay", None)
    return float(value) if value is not None else DEFAULT_REP_DELAY


def device_seconds(isa_circuits, target, shots, *, rep_delay=None) -> float:
    """Estimated QPU time in s: sum over circuits of shots * (duration + rep_delay).

    The duration of one shot is the critical path of the target's instruction durations
    (``QuantumCircuit.estimate_duration``). ``rep_delay`` (s) defaults to the backend's
    ``default_rep_delay`` (250e-6 s on the fake IBM devices), else ``DEFAULT_REP_DELAY`` =
    250e-6 s (also when a bare Target is given). Session, compilation and data transfer
    overheads are not included.
    """
    circuits = _circuits("isa_circuits", isa_circuits)
    tgt = _target("target", target)
    shots = check_int("shots", shots, low=1)
    if rep_delay is None:
        rep_delay = DEFAULT_REP_DELAY if isinstance(target, Target) else _rep_delay(target)
    rep_delay = check_real("rep_delay", rep_delay, nonnegative=True)
    per_shot = 0.0
    for i, qc in enumerate(circuits):
        try:
            per_shot += float(qc.estimate_duration(tgt)) + rep_delay
        except QiskitError as err:  # missing durations, control flow, unbound delays
            raise InputError(
                f"`isa_circuits`[{i}]: the target gives no duration estimate ({str(err).splitlines()[0]})."
            ) from None
    return shots * per_shot


def layout_report(isa_circuits, target) -> dict:
    """Two-qubit gate count, depth, estimated fidelity (``estimated_fidelity``) and physical
    qubits used of each transpiled circuit, and the min/max/mean of the first three.

    Returns {"circuits": [{"two_qubit", "depth", "fidelity", "qubits"}, ...],
    "two_qubit": {"min", "max", "mean"}, "depth": {...}, "fidelity": {...}}.
    """
    circuits = _circuits("isa_circuits", isa_circuits)
    tgt = _target("target", target)
    rows = []
    for qc in circuits:
        active = {
            qc.find_bit(q).index
            for inst in qc.data
            if not _skip(inst.operation) and inst.operation.name != "delay"
            for q in inst.qubits
        }
        rows.append(
            {
                "two_qubit": two_qubit_count(qc),
                "depth": int(qc.depth()),
                "fidelity": estimated_fidelity(qc, tgt),
                "qubits": sorted(active),
            }
        )
    out = {"circuits": rows}
    for key in ("two_qubit", "depth", "fidelity"):
        vals = [r[key] for r in rows]
        out[key] = {"min": min(vals), "max": max(vals), "mean": float(np.mean(vals))}
    return out
