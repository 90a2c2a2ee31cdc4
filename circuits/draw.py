"""Circuit diagrams as PNG: one encounter (logical and compiled) and the whole circuit."""

from __future__ import annotations

import io
from pathlib import Path

from qiskit import QuantumCircuit

from oile_q.engine import Request
from oile_q.io import atomic_write

from .planning import plan
from .specs import first_encounter
from .transpile import pass_manager, two_qubit_count

__all__ = ["draw_encounter", "draw_circuit", "draw_request"]

MAX_DRAWN_INSTRUCTIONS = 240


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110, bbox_inches="tight"), mode="wb")
    _mpl().close(fig)
    return Path(path)


def draw_encounter(gate, path, *, fresh_partner=False, basis_gates=("cx", "rz", "sx", "x")):
    """One encounter: the gate, its definition, and the circuit compiled to ``basis_gates``
    at optimization level 3 (two-qubit count in the title)."""
    plt = _mpl()
    top = QuantumCircuit(2)
    if fresh_partner:
        top.reset(1)
    top.append(gate, [0, 1])
    mid = top.decompose(gates_to_decompose=[gate.name])
    low = pass_manager(basis_gates=basis_gates, optimization_level=3).run(top)
    titles = [
        f"encounter instruction {gate.name!r}, params {[round(float(p), 4) for p in gate.params]}",
        "its definition",
        f"compiled to {list(basis_gates)} at level 3: {two_qubit_count(low)} two-qubit gates, depth {low.depth()}",
    ]
    images = []
    for qc in (top, mid, low):
        sub = qc.draw("mpl", fold=-1, scale=0.8)
        buf = io.BytesIO()
        sub.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(sub)
        buf.seek(0)
        images.append(plt.imread(buf))
    width = max(im.shape[1] for im in images)
    heights = [im.shape[0] + 40 for im in images]
    fig, axes = plt.subplots(3, 1, figsize=(width / 110, sum(heights) / 110), gridspec_kw={"height_ratios": heights})
    for ax, im, title in zip(axes, images, titles):
        ax.imshow(im)
        ax.set_xlim(0, width)
        ax.set_axis_off()
        ax.set_title(title, fontsize=9, loc="left")
    return _save(fig, path)


def draw_circuit(qc: QuantumCircuit, path, *, title=None):
    """The whole logical circuit (encounters as boxes); long circuits are cut after
    ``MAX_DRAWN_INSTRUCTIONS`` instructions, and the title says so."""
    _mpl()
    n = len(qc.data)
    shown = qc
    note = ""
    if n > MAX_DRAWN_INSTRUCTIONS:
        shown = qc.copy_empty_like()
        for inst in qc.data[:MAX_DRAWN_INSTRUCTIONS]:
            shown._append(inst)
        note = f" (first {MAX_DRAWN_INSTRUCTIONS} of {n} instructions)"
    fig = shown.draw("mpl", fold=40, scale=0.6)
    fig.suptitle((title or qc.name) + note, fontsize=11)
    return _save(fig, path)


def draw_request(request: Request, prefix: str) -> list[Path]:
    """Draw one encounter and the (first) circuit of a validated circuit-engine request (the
    CLI's ``--draw`` and ``oile-q circuit draw``)."""
    _, specs, kind, _ = plan(request)
    spec = specs[0]
    out = []
    gate = first_encounter([spec])
    if gate is not None:
        out.append(draw_encounter(gate, f"{prefix}_encounter.png", fresh_partner=gate.name == "encounter_iso"))
    what = {
        "foreground": "foreground collision model",
        "closed": "closed N-qubit circuit",
        "tree": f"light-cone tree of particle {spec.particles[0]}",
    }[kind]
    out.append(
        draw_circuit(
            spec.circuit,
            f"{prefix}_circuit.png",
            title=f"{what}: {spec.encounters} encounters, {spec.num_qubits} qubits",
        )
    )
    return out
