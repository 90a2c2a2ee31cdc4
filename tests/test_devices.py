"""circuits/devices.py: qubit selection from reported errors, ESP, QPU time, layout report."""

import copy
import itertools
import math
import time

import pytest

pytest.importorskip("qiskit")
pytest.importorskip("qiskit_ibm_runtime")

import rustworkx as rx  # noqa: E402
from qiskit import QuantumCircuit  # noqa: E402
from qiskit.transpiler import CouplingMap, InstructionProperties, Target, generate_preset_pass_manager  # noqa: E402
from qiskit_ibm_runtime.fake_provider import FakeFez, FakeManilaV2  # noqa: E402

from oile_q.circuits.devices import (  # noqa: E402
    DEFAULT_REP_DELAY,
    device_seconds,
    estimated_fidelity,
    interaction_graph,
    layout_report,
    select_qubits,
)
from oile_q.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def fez():
    return FakeFez()


@pytest.fixture(scope="module")
def manila():
    return FakeManilaV2()


def path_circuit(k):
    qc = QuantumCircuit(k, k)
    for i in range(k):
        qc.h(i)
    for i in range(k - 1):
        qc.cx(i, i + 1)
    qc.measure(range(k), range(k))
    return qc


def err(target, name, qargs):
    props = target[name].get(qargs) if name in target.operation_names else None
    return props.error if props is not None and props.error is not None else 0.0


def edge_err(target, gate, p, q):
    return min(err(target, gate, qa) for qa in ((p, q), (q, p)) if qa in target[gate])


def log_keep(e):
    return math.log(1 - e) if e < 1 else -math.inf  # the devices report some broken couplers with error 1


def hand_log_score(target, gate, phys, measured):
    """log of prod(1-e) over consecutive path edges, readout of measured, sx of all: the documented score."""
    s = sum(log_keep(edge_err(target, gate, a, b)) for a, b in zip(phys, phys[1:]))
    s += sum(log_keep(err(target, "measure", (phys[i],))) for i in measured)
    return s + sum(log_keep(err(target, "sx", (p,))) for p in phys)


def coupling_edges(target, gate):
    return {(min(q), max(q)) for q in target[gate]}


def test_interaction_graph():
    qc = QuantumCircuit(5)
    qc.h(0)
    qc.cx(3, 1)
    qc.barrier()
    qc.ccx(0, 2, 4)
    qc.measure_all()
    assert interaction_graph(qc) == {(1, 3), (0, 2), (0, 4), (2, 4)}
    assert interaction_graph(QuantumCircuit(2)) == set()


@pytest.mark.parametrize("k,measured", [(2, None), (3, None), (3, [0]), (4, [3]), (5, None)])
def test_select_matches_brute_force_on_manila(manila, k, measured):
    t = manila.target
    edges = coupling_edges(t, "cx")
    layout, info = select_qubits(manila, path_circuit(k), measured=measured)
    meas = list(range(k)) if measured is None else measured
    scores = {}
    for perm in itertools.permutations(range(5), k):
        if all((min(a, b), max(a, b)) in edges for a, b in zip(perm, perm[1:])):
            scores[perm] = hand_log_score(t, "cx", perm, meas)
    best = max(scores.values())
    assert tuple(layout) in scores
    assert math.log(info["score"]) == pytest.approx(best, abs=1e-12)
    assert scores[tuple(layout)] == pytest.approx(best, abs=1e-12)
    assert layout == list(min(p for p, s in scores.items() if s >= best - 1e-12))  # tie: smallest list
    assert sorted(info["readout"]) == sorted(layout[i] for i in meas)
    assert [(a, b) for a, b, _ in info["edges"]] == list(zip(layout, layout[1:]))


@pytest.mark.parametrize("k", [2, 3, 5])
def test_select_on_fez_beats_every_embedding(fez, k):
    t = fez.target
    edges = sorted(coupling_edges(t, "cz"))
    layout, info = select_qubits(fez, path_circuit(k))
    assert all((min(a, b), max(a, b)) in edges for a, b in zip(layout, layout[1:]))
    assert len(set(layout)) == k
    g = rx.PyGraph()
    g.add_nodes_from(range(t.num_qubits))
    g.add_edges_from_no_data(edges)
    paths = [
        list(p)
        for by_end in rx.all_pairs_all_simple_paths(g, min_depth=k, cutoff=k).values()
        for ps in by_end.values()
        for p in ps
        if len(p) == k
    ]
    if k == 2:
        paths = [[a, b] for a, b in edges] + [[b, a] for a, b in edges]
    assert info["candidates"] == len(paths)
    best = max(hand_log_score(t, "cz", p, range(k)) for p in paths)
    assert hand_log_score(t, "cz", layout, range(k)) == pytest.approx(best, abs=1e-12)
    assert info["score"] == pytest.approx(math.exp(best), rel=1e-12)


def test_select_follows_the_logical_path_order(fez):
    qc = QuantumCircuit(4, 1)
    qc.cx(2, 0)
    qc.cz(0, 3)
    qc.cx(3, 1)
    qc.measure(1, 0)
    layout, info = select_qubits(fez, qc)
    edges = coupling_edges(fez.target, "cz")
    chain = [layout[1], layout[3], layout[0], layout[2]]  # the path 1-3-0-2, from its smaller end
    assert all((min(a, b), max(a, b)) in edges for a, b in zip(chain, chain[1:]))
    assert [(a, b) for a, b, _ in info["edges"]] == list(zip(chain, chain[1:]))
    assert list(info["readout"]) == [layout[1]]


def test_weighted_counts_each_use_of_an_edge(fez):
    t = fez.target
    qc = QuantumCircuit(3, 3)
    for _ in range(4):
        qc.cx(0, 1)
    qc.cx(1, 2)
    qc.measure(range(3), range(3))
    layout, info = select_qubits(fez, qc, weighted=True)
    assert info["interaction"] == {(0, 1): 4, (1, 2): 1}
    edges = coupling_edges(t, "cz")

    def score(p):  # (1 - e01)^4 (1 - e12), readout and sx of all three
        return hand_log_score(t, "cz", p, range(3)) + 3 * log_keep(edge_err(t, "cz", p[0], p[1]))

    nbrs = {}
    for a, b in edges:
        nbrs.setdefault(a, []).append(b)
        nbrs.setdefault(b, []).append(a)
    paths = [(a, b, c) for b in nbrs for a in nbrs[b] for c in nbrs[b] if a != c]  # every 3-qubit embedding
    best = max(score(p) for p in paths)
    assert score(layout) == pytest.approx(best, abs=1e-12)
    assert math.log(info["score"]) == pytest.approx(best, abs=1e-12)
    plain, _ = select_qubits(fez, qc)
    assert score(plain) <= best and plain != layout  # the once-per-edge choice differs (FakeFez's data)


def test_select_avoids_a_bad_edge(fez, manila):
    layout, _ = select_qubits(fez, path_circuit(2))
    t = copy.deepcopy(fez.target)
    for qargs in (tuple(layout), tuple(layout[::-1])):
        old = t["cz"][qargs]
        t.update_instruction_properties("cz", qargs, InstructionProperties(duration=old.duration, error=0.5))
    new, info = select_qubits(t, path_circuit(2))
    assert {new[0], new[1]} != set(layout)
    assert info["edges"][0][2] < 0.5
    # on Manila's line 0-1-2-3-4 a 4-qubit path must avoid a bad (3, 4): only 0-1-2-3 is left
    t = copy.deepcopy(manila.target)
    for qargs in ((3, 4), (4, 3)):
        t.update_instruction_properties("cx", qargs, InstructionProperties(duration=t["cx"][qargs].duration, error=0.5))
    assert select_qubits(t, path_circuit(4))[0] in ([0, 1, 2, 3], [3, 2, 1, 0])
    assert select_qubits(manila, path_circuit(4))[0] in ([1, 2, 3, 4], [4, 3, 2, 1])


def test_select_without_edges_and_idle_qubits(manila):
    t = manila.target
    qc = QuantumCircuit(3, 2)
    qc.h(0)
    qc.x(2)
    qc.measure([0, 2], [0, 1])
    layout, info = select_qubits(manila, qc)
    one = {p: math.log(1 - err(t, "sx", (p,))) + math.log(1 - err(t, "measure", (p,))) for p in range(5)}
    best = max(one[a] + one[b] for a, b in itertools.permutations(range(5), 2))
    assert one[layout[0]] + one[layout[2]] == pytest.approx(best, abs=1e-12)
    assert layout[1] == min(set(range(5)) - {layout[0], layout[2]})  # idle: smallest free qubit
    assert info["edges"] == [] and sorted(info["readout"]) == sorted([layout[0], layout[2]])


def test_select_returns_none_when_it_cannot_choose(manila):
    star = QuantumCircuit(4)
    star.cx(0, 1)
    star.cx(0, 2)
    star.cx(0, 3)
    layout, info = select_qubits(manila, star)
    assert layout is None and "not a simple path" in info["reason"]
    tri = QuantumCircuit(3)
    tri.ccx(0, 1, 2)
    assert select_qubits(manila, tri)[0] is None
    split = QuantumCircuit(5)  # a path 0-1 and a cycle 2-3-4: as many edges as a path of 5
    split.cx(0, 1)
    split.ccx(2, 3, 4)
    layout, info = select_qubits(manila, split)
    assert layout is None and "not a simple path" in info["reason"]
    from qiskit_aer import AerSimulator

    layout, info = select_qubits(AerSimulator(), path_circuit(3))
    assert layout is None and "coupling map" in info["reason"]
    bare = Target.from_configuration(
        basis_gates=["cx", "sx", "rz", "x", "measure"], num_qubits=5, coupling_map=CouplingMap.from_line(5)
    )
    layout, info = select_qubits(bare, path_circuit(3))
    assert layout is None and "no gate or readout errors" in info["reason"]


def test_select_bad_input(manila):
    with pytest.raises(InputError, match="`circuit` has 6 qubits"):
        select_qubits(manila, path_circuit(6))
    with pytest.raises(InputError, match="`measured`"):
        select_qubits(manila, path_circuit(3), measured=[3])
    with pytest.raises(InputError, match="`measured`"):
        select_qubits(manila, path_circuit(3), measured=[0.5])
    with pytest.raises(InputError, match="`backend`"):
        select_qubits("fez", path_circuit(3))


def test_select_is_fast_on_fez(fez):
    select_qubits(fez, path_circuit(2))  # the target's qargs are built on first use
    start = time.perf_counter()
    layout, info = select_qubits(fez, path_circuit(8))
    assert time.perf_counter() - start < 1.0
    assert len(set(layout)) == 8 and info["candidates"] > 1000


def test_transpiler_keeps_the_selected_layout(fez):
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.cx(0, 1)
    qc.ry(0.3, 2)
    qc.cx(1, 2)
    qc.rzz(0.4, 0, 1)
    qc.measure(range(3), range(3))
    layout, _ = select_qubits(fez, qc)
    pm = generate_preset_pass_manager(optimization_level=3, backend=fez, initial_layout=layout, seed_transpiler=0)
    isa = pm.run(qc)
    assert isa.layout.initial_index_layout()[:3] == layout
    assert isa.layout.final_index_layout()[:3] == layout  # no routing permutation either
    assert layout_report(isa, fez)["circuits"][0]["qubits"] == sorted(layout)


def test_estimated_fidelity_is_the_hand_product(manila):
    t = manila.target
    isa = QuantumCircuit(5, 2)
    isa.sx(1)
    isa.rz(0.3, 1)
    isa.cx(1, 2)
    isa.x(2)
    isa.barrier()
    isa.delay(160, 0, unit="dt")
    isa.reset(3)
    isa.measure(1, 0)
    isa.measure(2, 1)
    e = lambda name, *q: t[name][q].error  # noqa: E731
    assert t["reset"][(3,)].error is None
    hand = (1 - e("sx", 1)) * (1 - e("cx", 1, 2)) * (1 - e("x", 2)) * (1 - e("measure", 1)) * (1 - e("measure", 2))
    assert estimated_fidelity(isa, manila) == pytest.approx(hand, rel=1e-12, abs=0)
    assert estimated_fidelity(isa, t) == estimated_fidelity(isa, manila)
    logical = QuantumCircuit(2)
    logical.h(0)
    with pytest.raises(InputError, match="`isa_circuit` has 'h'"):
        estimated_fidelity(logical, manila)


def test_device_seconds(manila):
    t = manila.target
    qc = QuantumCircuit(5, 1)
    qc.x(0)
    qc.measure(0, 0)
    one = t["x"][(0,)].duration + t["measure"][(0,)].duration
    assert manila.default_rep_delay == DEFAULT_REP_DELAY == 250e-6
    assert device_seconds(qc, manila, 1000) == pytest.approx(1000 * (one + 250e-6), rel=1e-12)
    assert device_seconds(qc, t, 1000, rep_delay=1e-4) == pytest.approx(1000 * (one + 1e-4), rel=1e-12)
    assert device_seconds([qc, qc], t, 1000) == pytest.approx(2 * device_seconds(qc, t, 1000), rel=1e-12)
    assert device_seconds(qc, manila, 4096) == 4 * device_seconds(qc, manila, 1024)
    assert device_seconds(qc, manila, 3000) / device_seconds(qc, manila, 1000) == pytest.approx(3, rel=1e-15)
    assert device_seconds(qc, manila, 1) > one
    with pytest.raises(InputError, match="`shots`"):
        device_seconds(qc, manila, 0)
    with pytest.raises(InputError, match="`rep_delay`"):
        device_seconds(qc, manila, 10, rep_delay=-1e-6)
    branch = QuantumCircuit(5, 1)
    branch.measure(0, 0)
    with branch.if_test((branch.clbits[0], 1)):
        branch.x(1)
    with pytest.raises(InputError, match=r"`isa_circuits`\[0\]: the target gives no duration"):
        device_seconds(branch, manila, 10)


def test_layout_report(manila):
    pm = generate_preset_pass_manager(optimization_level=1, backend=manila, seed_transpiler=0)
    isas = pm.run([path_circuit(2), path_circuit(3)])
    rep = layout_report(isas, manila)
    rows = rep["circuits"]
    assert [r["two_qubit"] for r in rows] == [1, 2]
    assert rep["two_qubit"] == {"min": 1, "max": 2, "mean": 1.5}
    assert rep["depth"]["max"] == max(c.depth() for c in isas)
    assert rows[0]["fidelity"] == estimated_fidelity(isas[0], manila) > rows[1]["fidelity"]
    assert rep["fidelity"]["mean"] == pytest.approx((rows[0]["fidelity"] + rows[1]["fidelity"]) / 2, rel=1e-15)
    assert [len(r["qubits"]) for r in rows] == [2, 3]
