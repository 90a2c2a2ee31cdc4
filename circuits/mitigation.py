"""Error mitigation for the circuit engine: readout correction (mthree), zero-noise
extrapolation by folding the encounters, Pauli twirling of the two-qubit gates and dynamical
decoupling of idle qubits.

How one measured circuit (a record point in one Pauli basis) becomes one mitigated number:

1. **ZNE folding** (``fold_encounters``), on the logical circuit: every encounter ``G``
   becomes ``G (G^dag G)^k`` for the noise scale ``c = 2k + 1``, with barriers between the
   factors so that the transpiler cannot cancel them. Resets, state preparations and vacuum
   rotations are not folded: the ideal output is unchanged (checked on exact Aer) and the
   noise of the encounters, which dominates, is scaled by ``c``.
2. **Transpile** to the device's ISA (one pass manager, the same layout for every scale).
3. **Pauli twirling** (``qiskit.circuit.pauli_twirl_2q_gates``): ``twirls`` random Pauli
   frames around every two-qubit gate; the shots are split over the twirled copies and their
   counts pooled (coherent two-qubit errors become Pauli noise, which ZNE extrapolates well).
4. **Scheduling** (``idle_noise``) and **dynamical decoupling**: ALAP scheduling with delays
   on the active qubits, so that an Aer noise model applies thermal relaxation while a qubit
   waits (for a partner's reset, say); ``dd`` fills those waits with X-X pulses.
5. **Readout correction** (``mthree``): the assignment matrices of the measured physical
   qubits are measured on the same backend (two calibration circuits: all qubits in 0, all
   in 1, repeated to ``readout_shots``), stored with the result; M3 corrects each circuit's
   counts and the error is the binomial one carried through the inverse assignment matrix.
6. **Extrapolation** (``extrapolate``) of the scale series to zero noise, linear, Richardson
   or exponential, with the standard error propagated from the shot errors.

The total shots of a circuit (``shots``, per record point and basis) are the same with and
without mitigation: ZNE and twirling divide them (``shots // (scales * twirls)`` each); the
readout calibration comes on top (``readout_shots`` per state, reported).

On IBM hardware twirling and dynamical decoupling are the Runtime sampler's own options
(``twirling.enable_gates``, ``dynamical_decoupling.enable``): the service performs them.
Readout correction and ZNE stay client-side (the Sampler primitive offers neither), their
circuits travel in the same job. On fake backends (local testing mode, where the service
options have no effect) and on Aer noise models every step is done here.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from oile_q.errors import InputError, InputTypeError, describe

from .backends import expval_from_counts
from .modes import ENCOUNTER_NAMES

__all__ = [
    "Mitigation",
    "METHODS",
    "FITS",
    "DD_SEQUENCES",
    "parse_methods",
    "parse_scales",
    "fold_encounters",
    "twirl",
    "schedule",
    "readout_calibration_circuits",
    "assignment_matrices",
    "readout_correct",
    "extrapolate",
]

METHODS = ("readout", "zne", "twirl", "dd")
FITS = ("linear", "richardson", "exponential")
DD_SEQUENCES = ("XX", "XpXm", "XY4")  # the Runtime's; client-side: XX


def parse_methods(value):
    """The mitigation methods of the ``mitigate`` option: a comma-separated string or a list of
    "readout", "zne", "twirl", "dd", or "all" / "none". Returns a sorted tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise InputTypeError(
            f"`mitigate` must be a comma-separated string or a list of {list(METHODS)}, "
            f"'all' or 'none'; got {describe(value)}."
        )
    if items in (["none"], []):
        return ()
    if items == ["all"]:
        return METHODS
    bad = [v for v in items if v not in METHODS]
    if bad:
        raise InputError(f"`mitigate` takes {', '.join(METHODS)}, 'all' or 'none'; got {bad[0]!r}.")
    return tuple(m for m in METHODS if m in items)


def parse_scales(value):
    """ZNE noise scales: odd integers >= 1, increasing, at least two, starting at 1."""
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"`zne_scales` must be odd integers such as '1,3,5'; got {value!r}.") from None
    if isinstance(value, (numbers.Number, bytes)) or not hasattr(value, "__iter__"):
        raise InputTypeError(f"`zne_scales` must be a list of odd integers such as [1, 3, 5]; got {describe(value)}.")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or v != int(v) or int(v) < 1 or int(v) % 2 == 0:
            raise InputError(f"`zne_scales` must be odd integers >= 1 (gate folding G (G^dag G)^k); got {v!r}.")
        out.append(int(v))
    if len(out) < 2 or out[0] != 1 or any(b <= a for a, b in zip(out, out[1:])):
        raise InputError(f"`zne_scales` must start at 1 and increase, with at least two scales; got {out}.")
    return tuple(out)


def _uses(method: str) -> property:
    """A read-only flag of ``Mitigation``: whether ``method`` is among its methods."""
    return property(lambda self: method in self.methods, doc=f"Whether {method!r} is among the methods.")


@dataclass(frozen=True)
class Mitigation:
    """What to do to every measured circuit (see the module docstring)."""

    methods: tuple = ()
    scales: tuple = (1, 3, 5)
    fit: str = "richardson"
    twirls: int = 16
    dd_sequence: str = "XX"
    readout_shots: int = 10_000
    idle_noise: bool = False

    readout = _uses("readout")
    zne = _uses("zne")
    twirl = _uses("twirl")
    dd = _uses("dd")

    @property
    def zne_scales(self):
        return self.scales if self.zne else (1,)

    def copies(self, service_twirls: bool = False):
        """Instances per measured circuit: noise scales times twirled copies made here."""
        return len(self.zne_scales) * (self.twirls if self.twirl and not service_twirls else 1)


# --------------------------------------------------------------------------- folding


def fold_encounters(qc, scale: int):
    """``qc`` with every encounter G replaced by G (G^dag G)^((scale-1)/2), the factors
    separated by barriers on the encounter's qubits (the transpiler must not cancel them).
    Everything else (resets, preparations, vacuum rotations, measurements) is kept as is, so
    noise that is not in the encounters (readout, resets, a qubit's idle wait during its
    partner's reset) is not scaled and stays in the extrapolated value."""
    scale = int(scale)
    if scale == 1:
        return qc
    k = (scale - 1) // 2
    out = qc.copy_empty_like()
    for inst in qc.data:
        op = inst.operation
        out._append(inst)
        if op.name in ENCOUNTER_NAMES:
            inv = _inverse(op)
            for _ in range(k):
                out.barrier(*inst.qubits)
                out._append(inst.replace(operation=inv))
                out.barrier(*inst.qubits)
                out._append(inst)
    return out


def _inverse(op):
    """G^dag of an encounter gate: ``EncounterGate.inverse`` where it is an encounter again
    (exact and symmetric modes), else a ``UnitaryGate`` of the conjugate-transposed matrix
    (split encounters, the two-CNOT isometry), which the transpiler synthesises and Aer runs."""
    if op.name == "encounter" and getattr(op, "mode", None) != "split":
        return op.inverse()
    from qiskit.circuit.library import UnitaryGate

    return UnitaryGate(np.asarray(op, dtype=complex).conj().T, label=f"{op.name}_dg", check_input=False)


# --------------------------------------------------------------------------- twirling, scheduling


def twirl(isa, target, num: int, seed: int):
    """``num`` Pauli-twirled copies of an ISA circuit (two-qubit gates of the target), in the
    target's basis."""
    from qiskit.circuit import pauli_twirl_2q_gates

    out = pauli_twirl_2q_gates(isa, num_twirls=int(num), seed=int(seed), target=target)
    return out if isinstance(out, list) else [out]


def _active_qubits(qc):
    used = set()
    for inst in qc.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        used.update(qc.find_bit(q).index for q in inst.qubits)
    return sorted(used)


def schedule(isa, target, *, dd: str | None = None):
    """ALAP-schedule an ISA circuit and pad the idle time of its active qubits with delays
    (``dd=None``) or with X-X dynamical decoupling (``dd="XX"``) and delays.

    Only qubits the circuit uses get delays, so Aer still drops the idle rest of a large
    device; an Aer noise model of a device applies thermal relaxation to the delays. (XY4 and
    XpXm need gates IBM targets do not list; the Runtime service does them on hardware.)
    """
    from qiskit.circuit.library import XGate
    from qiskit.transpiler import PassManager
    from qiskit.transpiler.passes import ALAPScheduleAnalysis, PadDelay, PadDynamicalDecoupling

    if dd not in (None, "XX"):
        raise InputError(
            f"`dd_sequence` {dd!r} is done by the IBM Runtime service only; client-side "
            "dynamical decoupling (Aer noise models, fake backends) uses 'XX'."
        )
    active = _active_qubits(isa)
    passes = [ALAPScheduleAnalysis(target=target)]
    if dd is not None:
        passes.append(
            PadDynamicalDecoupling(
                target=target, dd_sequence=[XGate(), XGate()], qubits=active, skip_reset_qubits=False
            )
        )
    passes.append(PadDelay(target=target))
    out = PassManager(passes).run(isa)
    keep = set(active)
    drop = [
        i
        for i, inst in enumerate(out.data)
        if inst.operation.name == "delay" and out.find_bit(inst.qubits[0]).index not in keep
    ]
    for i in reversed(drop):
        del out.data[i]
    return out


# --------------------------------------------------------------------------- readout


def measured_physical(isa):
    """The physical qubit measured into each bit of the register "c" (bit order)."""
    creg = next(r for r in isa.cregs if r.name == "c")
    phys = [None] * creg.size
    for inst in isa.data:
        if inst.operation.name == "measure":
            clbit = isa.find_bit(inst.clbits[0])
            for reg, j in clbit.registers:
                if reg.name == "c":
                    phys[j] = isa.find_bit(inst.qubits[0]).index
    if any(p is None for p in phys):
        raise RuntimeError("a bit of register 'c' is never measured in the transpiled circuit.")
    return phys


def readout_calibration_circuits(qubits, num_qubits: int):
    """Two ISA circuits on a device of ``num_qubits``: every qubit of ``qubits`` prepared in
    |0> (resp. |1> by an X gate) and measured into register "c" (bit j = ``qubits[j]``)."""
    from qiskit import ClassicalRegister, QuantumCircuit

    out = []
    for prep in (0, 1):
        qc = QuantumCircuit(num_qubits, name=f"readout_cal_{prep}")
        creg = ClassicalRegister(len(qubits), "c")
        qc.add_register(creg)
        if prep:
            for q in qubits:
                qc.x(q)
        qc.barrier(*qubits)
        for j, q in enumerate(qubits):
            qc.measure(q, creg[j])
        out.append(qc)
    return out


def _marginal_zero(counts, j):
    n = tot = 0
    for key, c in counts.items():
        bits = key.replace(" ", "")
        tot += c
        if bits[-1 - j] == "0":
            n += c
    return n, tot


def assignment_matrices(cal_counts, qubits):
    """Per-qubit assignment matrices A[measured, prepared] (mthree's convention: column 0 =
    prepared |0>) from the counts of ``readout_calibration_circuits``. Returns (Q, 2, 2)."""
    A = np.zeros((len(qubits), 2, 2))
    for j in range(len(qubits)):
        n0, tot0 = _marginal_zero(cal_counts[0], j)
        n1, tot1 = _marginal_zero(cal_counts[1], j)
        A[j, :, 0] = [n0 / tot0, 1 - n0 / tot0]
        A[j, :, 1] = [n1 / tot1, 1 - n1 / tot1]
    return A


def readout_correct(counts_list, phys_list, matrices: dict, cal_shots: int):
    """<Z> of every bit after M3 correction, with its standard error.

    counts_list: counts dicts; phys_list: the physical qubit of each bit, per circuit;
    matrices: physical qubit -> 2x2 assignment matrix, measured with ``cal_shots`` shots per
    calibration circuit. The value is M3's; the error is the binomial error of the raw marginal
    carried through the inverse of the bit's assignment matrix (exact for tensored readout
    errors, which M3 assumes), plus the calibration's own shot noise, in quadrature. (M3's
    ``stddev`` is an upper bound that ignores the 1 - <Z>^2 factor.) Returns (values, errors),
    lists of arrays (one entry per bit).
    """
    import mthree

    size = max(max(p) for p in phys_list) + 1
    cals = [None] * size
    for q, A in matrices.items():
        if q < size:
            cals[q] = np.asarray(A, dtype=np.float32)
    mit = mthree.M3Mitigation()
    mit.cals_from_matrices(cals)
    vals, errs = [], []
    for counts, phys in zip(counts_list, phys_list):
        quasi = mit.apply_correction(counts, list(phys))
        nb = len(phys)
        ops = ["".join("Z" if nb - 1 - i == j else "I" for i in range(nb)) for j in range(nb)]
        v = np.atleast_1d(np.asarray(quasi.expval(ops if nb > 1 else "Z"), dtype=float))
        raw, raw_err = expval_from_counts(counts, nb)
        e = np.zeros(nb)
        for j, q in enumerate(phys):
            A = np.asarray(matrices[q], dtype=float)
            e0, e1 = A[1, 0], A[0, 1]  # P(1|0), P(0|1)
            D = 1.0 - e0 - e1
            s0 = np.sqrt(e0 * (1 - e0) / cal_shots)
            s1 = np.sqrt(e1 * (1 - e1) / cal_shots)
            e[j] = np.sqrt((raw_err[j] / D) ** 2 + ((1 + v[j]) * s0 / D) ** 2 + ((1 - v[j]) * s1 / D) ** 2)
        vals.append(v)
        errs.append(e)
    return vals, errs


# --------------------------------------------------------------------------- extrapolation


def extrapolate(scales, values, errors, fit: str = "exponential"):
    """Zero-noise value and its standard error from expectation values at noise scales.

    ``linear``: weighted least-squares line; ``richardson``: the polynomial through all points
    (degree len - 1); both are linear in the data, so the error is sqrt(sum w_i^2 s_i^2).
    ``exponential``: y = a exp(-b c) (decay to the fully mixed value 0 of a Pauli expectation),
    weighted least squares; error from the fit's covariance (linearised). When the points do not
    share one sign (no decay to fit) or the fit fails it falls back to linear and says so.
    Returns (value, stderr, fit used).
    """
    c = np.asarray(scales, dtype=float)
    y = np.asarray(values, dtype=float)
    s = np.maximum(np.asarray(errors, dtype=float), 1e-12)
    if fit not in FITS:
        raise InputError(f"`zne_fit` must be one of {list(FITS)}; got {fit!r}.")
    if fit == "richardson":
        w = np.array([np.prod([c[j] / (c[j] - c[i]) for j in range(len(c)) if j != i]) for i in range(len(c))])
        return float(w @ y), float(np.sqrt(np.sum((w * s) ** 2))), fit
    if fit == "exponential":
        out = _exp_fit(c, y, s)
        if out is not None:
            return (*out, fit)
    X = np.column_stack([np.ones_like(c), c]) / s[:, None]
    pinv = np.linalg.pinv(X)  # beta = pinv @ (y / s)
    w = pinv[0] / s
    return float(w @ y), float(np.sqrt(np.sum((w * s) ** 2))), "linear"


def _exp_fit(c, y, s):
    # a decay needs points of one sign, each clear of zero, shrinking with the scale
    if not (np.all(y > 2 * s) or np.all(y < -2 * s)) or not abs(y[-1]) < abs(y[0]):
        return None
    sign = 1.0 if y[0] > 0 else -1.0
    ya = sign * y
    # start from the log-linear fit, then weighted nonlinear least squares
    b0, la0 = np.polyfit(c, np.log(ya), 1, w=ya / s)
    from scipy.optimize import least_squares

    def res(p):
        return (p[0] * np.exp(-p[1] * c) - ya) / s

    try:
        r = least_squares(res, [np.exp(la0), -b0], method="lm")
    except Exception:  # pragma: no cover - scipy failures fall back to linear
        return None
    if not r.success or not np.all(np.isfinite(r.x)) or r.x[1] <= 0:
        return None
    J = r.jac
    try:
        cov = np.linalg.inv(J.T @ J)
    except np.linalg.LinAlgError:
        return None
    return float(sign * r.x[0]), float(np.sqrt(max(cov[0, 0], 0.0)))
