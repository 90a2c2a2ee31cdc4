"""Error mitigation of the circuit engine: folding, twirling, scheduling and dynamical
decoupling, readout correction, extrapolation, the engine's mitigation options, and the IBM
path up to the service call.

Exact algebra (folded, twirled or decoupled circuits on noiseless Aer, extrapolation of exact
data, readout inversion of exact counts) must hold to 1e-10..1e-12; shot results lie within
4 standard errors of what they estimate, and effects that must show do so by more than 5.
"""

import json
import re

import numpy as np
import pytest

pytest.importorskip("qiskit_aer")
pytest.importorskip("qiskit_ibm_runtime")
pytest.importorskip("mthree")

from conftest import random_bloch  # noqa: E402
from qiskit_aer import AerSimulator  # noqa: E402
from qiskit_aer.library import SaveDensityMatrix  # noqa: E402
from qiskit_aer.noise import NoiseModel, ReadoutError  # noqa: E402
from qiskit_ibm_runtime.fake_provider import FakeManilaV2  # noqa: E402

from oile_q import Scenario, run  # noqa: E402
from oile_q.circuits import backends  # noqa: E402
from oile_q.circuits.backends import (
    BackendChoice,
    fake_backend,
    resolve_backend,
    run_counts,
    run_exact,  # noqa: E402
    runtime_sampler,
)
from oile_q.circuits.builders import (
    BASES,
    foreground_circuit,
    measured,
    save_label,
    tree_circuit,  # noqa: E402
    with_saves,
)
from oile_q.circuits.mitigation import (
    Mitigation,
    assignment_matrices,
    extrapolate,
    fold_encounters,  # noqa: E402
    readout_calibration_circuits,
    readout_correct,
    schedule,
    twirl,
)
from oile_q.circuits.shots import execute, prepare  # noqa: E402
from oile_q.circuits.transpile import pass_manager, to_aer, two_qubit_count  # noqa: E402
from oile_q.errors import InputError  # noqa: E402
from oile_q.schedules import generate  # noqa: E402

MITIGATION_OPTIONS = ("mitigate", "zne_scales", "zne_fit", "twirls", "dd_sequence", "readout_shots")


def foreground():
    return Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.3, omega=0.7, theta=0.4)


def run_foreground(steps, time, backend, **options):
    """The circuit engine on ``foreground()`` for ``steps`` steps, recording the one time ``time``."""
    return run(foreground(), "circuit", steps=steps, times=[time], backend=backend, **options)


def tree_scenario():
    """4 particles, pure but one (particle 2, |P| = 0.6, needs a purifier)."""
    rng = np.random.default_rng(20240205)
    P0 = random_bloch(rng, 4, pure=True)
    P0[2] *= 0.6
    return Scenario(P0, rng.normal(0, 1, 4), random_bloch(rng, 4, pure=True), gamma=0.3, theta=0.2)


def encounter_instructions(qc):
    """Encounters and their inverses (an inverse may be a unitary labelled ``encounter_iso_dg``)."""
    return sum(
        1
        for inst in qc.data
        if inst.operation.name.startswith("encounter") or (inst.operation.label or "").startswith("encounter")
    )


# --------------------------------------------------------------------------- folding


def fold_spec(case):
    kind, compile = case.split("-")
    if kind == "foreground":
        return foreground_circuit(foreground(), 6, compile=compile)
    return tree_circuit(tree_scenario(), generate("matching", 4, 3, seed=1), 0, compile=compile)


@pytest.mark.parametrize("scale", [3, 5])
@pytest.mark.parametrize("case", ["foreground-exact", "foreground-isometry", "tree-exact", "tree-isometry"])
def test_folding_keeps_the_ideal_output(case, scale):
    spec = fold_spec(case)
    assert spec.resets > 0 and (spec.isometries > 0) == case.endswith("isometry")
    base = with_saves(spec)
    folded = fold_encounters(base, scale)
    assert encounter_instructions(folded) == scale * spec.encounters
    assert folded.count_ops()["reset"] == base.count_ops()["reset"] == spec.resets
    ref, got = run_exact([to_aer(base), to_aer(folded)], method="density_matrix")
    labels = [save_label(k, j) for k, _, qubits in spec.records for j in range(len(qubits))]
    assert len(labels) == (4 if spec.kind == "tree" else 7)
    for label in labels:
        np.testing.assert_allclose(np.asarray(got[label]), np.asarray(ref[label]), rtol=0, atol=1e-10, err_msg=label)


def test_folding_scales_the_noise_on_a_device_noise_model():
    shots = 12_000
    ds = run_foreground(6, 1.8, "aer-noise:fake_manila", shots=shots, mitigate="zne", seed_simulator=3)
    assert ds.P_noise_scaled.noise_scale.values.tolist() == [1, 3, 5]
    per = ds.attrs["shots_per_instance"]
    assert per == shots // 3
    V = ds.P_noise_scaled.values[:, -1, 0]  # (scale, component)
    err = np.sqrt((1 - V**2) / per)
    length = np.linalg.norm(V, axis=1)
    length_err = np.sqrt(np.sum((V / length[:, None] * err) ** 2, axis=1))
    drop = length[:-1] - length[1:]
    assert (drop > 5 * np.hypot(length_err[:-1], length_err[1:])).all(), (length, length_err)
    ideal = np.linalg.norm(ds.P_ideal.values[-1, 0])
    assert ideal - length[0] > 5 * length_err[0]
    # Richardson through three scales leaves the third order of the decay (~3e-3 here, << the errors)
    z = np.abs(ds.P.values[-1, 0] - ds.P_ideal.values[-1, 0]) / ds.P_stderr.values[-1, 0]
    assert z.max() < 4, z


# --------------------------------------------------------------------------- readout

E0, E1 = 0.04, 0.10  # P(1|0), P(0|1) of the readout-only noise model


@pytest.fixture(scope="module")
def readout_only():
    """An AerSimulator whose only noise is an asymmetric readout error on every qubit."""
    nm = NoiseModel(basis_gates=["cx", "rz", "sx", "x"])
    nm.add_all_qubit_readout_error(ReadoutError([[1 - E0, E0], [E1, 1 - E1]]))
    return AerSimulator(noise_model=nm)


def test_an_aer_simulator_with_a_noise_model_is_a_device(readout_only):
    choice = resolve_backend(readout_only)
    assert choice.kind == "object" and choice.needs_isa
    assert not resolve_backend(AerSimulator()).needs_isa  # plain Aer: no ISA, no noise


def test_readout_mitigation_against_readout_errors_only(readout_only):
    kw = dict(steps=6, times=[0.2, 0.4, 0.6], backend=readout_only, shots=4000, seed_simulator=3)
    sc = Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    raw = run(sc, "circuit", **kw)
    mit = run(sc, "circuit", mitigate="readout", readout_shots=20_000, **kw)
    ideal = mit.P_ideal.values
    np.testing.assert_allclose(raw.P_ideal.values, ideal, rtol=0, atol=1e-12)
    # unmitigated: the readout map <Z> -> (1 - e0 - e1) <Z> + (e1 - e0), off by many errors
    distorted = (1 - E0 - E1) * ideal + (E1 - E0)
    assert (np.abs(raw.P.values - distorted) < 4 * raw.P_stderr.values).all()
    assert (np.abs(raw.P.values - ideal) / raw.P_stderr.values).max() > 8
    # mitigated: the ideal within 4 standard errors, which the correction enlarges
    z = np.abs(mit.P.values - ideal) / mit.P_stderr.values
    assert z.max() < 4, z
    assert (mit.P_stderr.values > raw.P_stderr.values).all()
    A = mit.readout_matrices.values
    want = np.array([[1 - E0, E1], [E0, 1 - E1]])
    assert A.shape == (1, 2, 2)
    assert (np.abs(A[0] - want) < 4 * np.sqrt(want * (1 - want) / 20_000)).all(), A
    assert mit.attrs["mitigation"] == "readout" and raw.attrs["mitigation"] == "none"
    assert mit.attrs["total_shots"] == 9 * 4000 + 2 * 20_000 and raw.attrs["total_shots"] == 9 * 4000


def assignment(e0, e1):
    """A[measured, prepared] with P(1|0) = e0, P(0|1) = e1."""
    return np.array([[1 - e0, e1], [e0, 1 - e1]])


def test_assignment_matrices_and_readout_correction_of_hand_made_counts():
    # physical qubits 5 (bit 0) and 2 (bit 1); dyadic errors make every count exact
    A5, A2 = assignment(1 / 16, 1 / 8), assignment(1 / 32, 1 / 4)
    cal_shots = 1024

    def counts_of(p, shots):  # p over keys "b1b0"
        return {f"{i >> 1}{i & 1}": int(round(c)) for i, c in enumerate(np.asarray(p) * shots) if c}

    cal = [counts_of(np.kron(A2[:, 0], A5[:, 0]), cal_shots), counts_of(np.kron(A2[:, 1], A5[:, 1]), cal_shots)]
    assert sum(cal[0].values()) == sum(cal[1].values()) == cal_shots
    got = assignment_matrices(cal, [5, 2])
    np.testing.assert_allclose(got, [A5, A2], rtol=0, atol=1e-12)
    # a correlated true distribution over "b1b0": <Z0> = 1/4, <Z1> = 0
    p = np.array([3, 1, 2, 2]) / 8
    shots = 4 * 4096
    two = counts_of(np.kron(A2, A5) @ p, shots)
    one = {"0": 3 * 1024, "1": 1024}  # qubit 2 alone, measured <Z'>
    vals, errs = readout_correct([two, one], [[5, 2], [2]], {5: A5, 2: A2}, cal_shots)
    z_one = (0.5 - (1 / 4 - 1 / 32)) / (1 - 1 / 32 - 1 / 4)  # Z = (Z' - e1 + e0) / (1 - e0 - e1)
    # M3 works in single precision: exact for these dyadic numbers, ~1e-8 for z_one = 9/23
    np.testing.assert_allclose(vals[0], [0.25, 0.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(vals[1], [z_one], rtol=0, atol=1e-6)

    # first-order propagation through Z = (Z' - e1 + e0) / D: dZ/dZ' = 1/D, dZ/de0 = (1 + Z)/D,
    # dZ/de1 = -(1 - Z)/D; Z' binomial over the shots, e0 and e1 over the calibration shots
    def err(z, raw, n, e0, e1):
        D = 1 - e0 - e1
        s0, s1 = np.sqrt(e0 * (1 - e0) / cal_shots), np.sqrt(e1 * (1 - e1) / cal_shots)
        return np.sqrt((1 - raw**2) / n / D**2 + ((1 + z) * s0 / D) ** 2 + ((1 - z) * s1 / D) ** 2)

    raw0 = (1 - 1 / 16 - 1 / 8) * 0.25 + (1 / 8 - 1 / 16)
    raw1 = (1 - 1 / 32 - 1 / 4) * 0.0 + (1 / 4 - 1 / 32)
    np.testing.assert_allclose(
        errs[0], [err(0.25, raw0, shots, 1 / 16, 1 / 8), err(0.0, raw1, shots, 1 / 32, 1 / 4)], rtol=1e-12
    )
    np.testing.assert_allclose(errs[1], [err(z_one, 0.5, 4096, 1 / 32, 1 / 4)], rtol=1e-6)


# --------------------------------------------------------------------------- twirling, scheduling


@pytest.fixture(scope="module", params=["fake_manila", "fake_fez"])
def device_isa(request):
    """(target, ISA circuit): the foreground circuit measured in the Y basis at its last record."""
    backend = fake_backend(request.param)
    spec = foreground_circuit(foreground(), 6)
    isa = pass_manager(backend, optimization_level=1, seed_transpiler=0).run(measured(spec, len(spec.records) - 1, "y"))
    return backend.target, isa


def saving(qc):
    """``qc`` with its one measurement replaced by a save of the measured qubit's density matrix."""
    assert qc.count_ops()["measure"] == 1
    out = qc.copy_empty_like()
    for inst in qc.data:
        if inst.operation.name == "measure":
            out.append(SaveDensityMatrix(1, label="rho"), [inst.qubits[0]])
        else:
            out._append(inst)
    return out


def noiseless_rho(circuits):
    return [np.asarray(d["rho"]) for d in run_exact([saving(c) for c in circuits], method="density_matrix")]


def active(qc):
    return {
        qc.find_bit(q).index for inst in qc.data if inst.operation.name not in ("barrier", "delay") for q in inst.qubits
    }


def test_twirled_copies_keep_the_ideal_output_in_the_target_basis(device_isa):
    target, isa = device_isa
    copies = twirl(isa, target, 4, seed=11)
    assert len(copies) == 4
    assert any(c.count_ops() != isa.count_ops() for c in copies)  # Paulis were inserted
    for c in copies:
        assert set(c.count_ops()) <= set(target.operation_names), c.count_ops()
        assert two_qubit_count(c) == two_qubit_count(isa)
    ref, *rhos = noiseless_rho([isa, *copies])
    for rho in rhos:
        np.testing.assert_allclose(rho, ref, rtol=0, atol=1e-10)


def test_client_side_decoupling_is_xx_only(device_isa):
    target, isa = device_isa
    with pytest.raises(InputError, match="dd_sequence.*IBM Runtime service only"):
        schedule(isa, target, dd="XY4")
    with pytest.raises(InputError, match="dd_sequence.*uses 'XX'"):
        run_foreground(2, 0.6, "fake_manila", shots=100, mitigate="dd", dd_sequence="XY4")


@pytest.mark.parametrize("dd", [None, "XX"])
def test_schedule_keeps_the_ideal_output_and_pads_only_active_qubits(device_isa, dd):
    target, isa = device_isa
    out = schedule(isa, target, dd=dd)
    ops = out.count_ops()
    assert set(ops) <= set(target.operation_names), ops
    assert "y" not in ops and "y" not in target.operation_names
    used = active(isa)
    assert len(used) == 2 < target.num_qubits
    delayed = {out.find_bit(inst.qubits[0]).index for inst in out.data if inst.operation.name == "delay"}
    assert delayed and delayed <= used, (delayed, used)
    assert active(out) == used  # the decoupling pulses too
    if dd is not None:
        assert ops.get("x", 0) > isa.count_ops().get("x", 0)  # pulses were inserted
    ref, rho = noiseless_rho([isa, out])
    np.testing.assert_allclose(rho, ref, rtol=0, atol=1e-10)


def test_decoupling_on_a_large_device_noise_model():
    ds = run_foreground(4, 1.2, "aer-noise:fake_fez", shots=2000, mitigate="dd", seed_simulator=3)
    a = ds.attrs
    assert a["mitigation_client_side"] == "dd" and a["dd_sequence"] == "XX" and a["idle_noise"] == 1
    # with estimated fidelity F, at most a fraction 1 - F of the state is wrong: |dP| <= 2 (1 - F),
    # plus relaxation during the idle waits (~us against T1, T2 of ~100 us) and 4 standard errors
    bound = 2 * (1 - a["estimated_fidelity_min"]) + 0.1 + 4 * ds.P_stderr.values[-1, 0]
    dev = np.abs(ds.P.values[-1, 0] - ds.P_ideal.values[-1, 0])
    assert (dev < bound).all(), (dev, bound)


# --------------------------------------------------------------------------- extrapolation


def test_linear_extrapolation_is_weighted_least_squares():
    c = np.array([1.0, 3.0, 5.0, 7.0])
    s = np.array([0.01, 0.02, 0.02, 0.04])
    value, error, fit = extrapolate(c, 0.9 - 0.07 * c, s, "linear")
    assert fit == "linear"
    assert value == pytest.approx(0.9, abs=1e-12)
    # intercept of the weighted line: w_i = u_i (Scc - Sc c_i) / (S Scc - Sc^2), u = 1/s^2
    u = 1 / s**2
    S, Sc, Scc = u.sum(), (u * c).sum(), (u * c * c).sum()
    w = u * (Scc - Sc * c) / (S * Scc - Sc**2)
    assert error == pytest.approx(np.sqrt(np.sum(w**2 * s**2)), rel=1e-12)
    y = np.array([0.8, 0.5, 0.45, 0.1])
    assert extrapolate(c, y, s, "linear")[0] == pytest.approx(w @ y, abs=1e-12)


@pytest.mark.parametrize("scales,weights", [((1, 3, 5), (15 / 8, -5 / 4, 3 / 8)), ((1, 3), (3 / 2, -1 / 2))])
def test_richardson_extrapolation_is_the_interpolating_polynomial(scales, weights):
    c = np.array(scales, dtype=float)
    s = np.array([0.01, 0.03, 0.05])[: len(c)]
    poly = 0.7 - 0.1 * c + (0.004 * c**2 if len(c) == 3 else 0)
    value, error, fit = extrapolate(c, poly, s, "richardson")
    assert fit == "richardson"
    assert value == pytest.approx(0.7, abs=1e-12)
    w = np.array(weights)  # Lagrange weights at c = 0
    assert error == pytest.approx(np.sqrt(np.sum(w**2 * s**2)), rel=1e-12)
    y = np.array([0.6, -0.2, 0.3])[: len(c)]
    assert extrapolate(c, y, s, "richardson")[0] == pytest.approx(w @ y, abs=1e-12)


@pytest.mark.parametrize("sign", [1, -1])
def test_exponential_extrapolation_recovers_a_decay(sign):
    c = np.array([1.0, 3.0, 5.0])
    s = np.array([0.01, 0.01, 0.02])
    y = sign * 0.8 * np.exp(-0.15 * c)
    value, error, fit = extrapolate(c, y, s, "exponential")
    assert fit == "exponential"
    assert value == pytest.approx(sign * 0.8, abs=1e-8)
    # at an exact fit the covariance error is the linear propagation of the data errors
    h = 1e-6
    grad = [
        (extrapolate(c, y + h * e, s, "exponential")[0] - extrapolate(c, y - h * e, s, "exponential")[0]) / (2 * h)
        for e in np.eye(3)
    ]
    assert error == pytest.approx(np.sqrt(np.sum((np.array(grad) * s) ** 2)), rel=1e-4)


@pytest.mark.parametrize(
    "y",
    [
        [0.5, 0.1, -0.2],  # changes sign
        [0.5, 0.3, 0.05],  # last point within 2 sigma of zero
        [0.3, 0.4, 0.5],
    ],  # grows
    ids=["sign", "zero", "growth"],
)
def test_exponential_extrapolation_falls_back_to_linear(y):
    c, s = [1, 3, 5], [0.03, 0.03, 0.03]
    value, error, fit = extrapolate(c, y, s, "exponential")
    assert fit == "linear"
    assert (value, error) == extrapolate(c, y, s, "linear")[:2]


def test_extrapolation_refuses_an_unknown_fit():
    with pytest.raises(InputError, match="`zne_fit` must be one of"):
        extrapolate([1, 3], [0.5, 0.4], [0.01, 0.01], "quadratic")


# --------------------------------------------------------------------------- engine options


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(backend="aer-shots", mitigate="bogus"), "mitigate"),
        (dict(backend="aer-shots", mitigate="zne", zne_scales=[1, 2]), "zne_scales"),
        (dict(backend="aer-shots", mitigate="zne", zne_scales=[3, 5]), "zne_scales"),
        (dict(backend="aer-shots", mitigate="zne", zne_scales=[1]), "zne_scales"),
        (dict(backend="aer-shots", mitigate="twirl"), "mitigate"),
        (dict(backend="aer-shots", mitigate="dd"), "mitigate"),
        (dict(mitigate="readout"), "mitigate"),
        (dict(backend="aer", mitigate="zne"), "mitigate"),
        (dict(backend="fake_manila", layout=[0, 7]), "layout"),
        (dict(backend="fake_manila", mitigate="zne,twirl", twirls=4, shots=10), "shots"),
    ],
    ids=[
        "bogus",
        "even-scale",
        "no-scale-1",
        "one-scale",
        "twirl-no-device",
        "dd-no-device",
        "readout-exact",
        "zne-exact",
        "layout-beyond-device",
        "shots-below-copies",
    ],
)
def test_bad_mitigation_requests_are_one_line_naming_the_option(kwargs, name):
    with pytest.raises(InputError) as info:
        run(foreground(), "circuit", steps=2, **kwargs)
    message = str(info.value)
    assert f"`{name}`" in message and "\n" not in message, message


def test_unmitigated_run_records_no_mitigation_options():
    ds = run_foreground(2, 0.6, "aer-shots", shots=200, seed_simulator=1)
    options = json.loads(ds.attrs["options"])
    assert not set(MITIGATION_OPTIONS + ("idle_noise", "layout")) & set(options), options
    assert ds.attrs["mitigation"] == "none" and ds.attrs["total_shots"] == 3 * 200


def test_mitigated_run_records_what_it_did_with_equal_total_shots():
    ds = run_foreground(2, 0.6, "aer-noise:fake_manila", shots=600, mitigate="zne,twirl", twirls=2, seed_simulator=1)
    a = ds.attrs
    assert a["mitigation"] == a["mitigation_client_side"] == "zne,twirl" and a["mitigation_service_side"] == "none"
    assert a["shots_per_instance"] == 100  # 600 over 3 scales x 2 twirls
    assert a["instances"] == 3 * 3 * 2 and a["total_shots"] == 3 * 600  # 3 bases, each 600 shots
    assert a["twirls"] == 2 and a["zne_scales"] == "1,3,5" and a["zne_fits_used"] == "richardson:3"
    options = json.loads(a["options"])
    assert options["mitigate"] == "zne,twirl" and options["zne_scales"] == [1, 3, 5] and options["twirls"] == 2
    assert "dd_sequence" not in options and "readout_shots" not in options


# --------------------------------------------------------------------------- IBM path (no network)

SENTINEL = "tok" + "0123456789abcdef" * 4  # token-like; must never reach a result


class FakeService:
    """Stands in for QiskitRuntimeService: hands out FakeManilaV2 (Runtime local testing mode)."""

    def __init__(self):
        self.token = SENTINEL
        self.asked = []

    def backend(self, name):
        self.asked.append(name)
        return FakeManilaV2()

    def __repr__(self):
        return f"FakeService(token={self.token!r})"


@pytest.fixture
def service(monkeypatch):
    svc = FakeService()
    monkeypatch.setattr(backends, "ibm_service", lambda: svc)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", SENTINEL)
    return svc


def ibm_plan(methods, *, shots, twirls=4, readout_shots=None):
    choice = BackendChoice("ibm:fake", "ibm", FakeManilaV2(), service=None)
    spec = foreground_circuit(foreground(), 3, record_steps=[3])
    logical = [(0, measured(spec, 0, b)) for b in BASES]
    mit = Mitigation(methods=methods, twirls=twirls, readout_shots=readout_shots or shots)
    return choice, logical, prepare(choice, [spec], logical, mit, shots=shots, optimization_level=1, seed_transpiler=0)


def test_an_ibm_name_resolves_through_the_service(service):
    choice = resolve_backend("ibm:fake_manila")
    assert (choice.kind, choice.name, choice.service) == ("ibm", "ibm:fake_manila", service)
    assert service.asked == ["fake_manila"] and choice.needs_isa
    assert resolve_backend(FakeManilaV2()).kind == "fake"  # the same device as an object


def test_ibm_prepare_leaves_twirling_and_decoupling_to_the_service():
    choice, logical, plan = ibm_plan(("readout", "zne", "twirl", "dd"), shots=1200)
    assert plan.service == ("twirl", "dd") and plan.client == ("readout", "zne")
    assert len(plan.instances) == len(logical) * 3  # no twirled copies, no client-side DD
    for inst in plan.instances:
        assert "delay" not in inst.count_ops()
    for ci in range(len(logical)):
        assert plan.instances[3 * ci] is plan.isa_base[ci]  # scale 1 untouched
    assert plan.cal_qubits == plan.phys[0] and len(plan.calibration) == 2 * plan.cal_copies


def test_ibm_prepare_keeps_the_shots_when_the_service_twirls():
    # the service splits each circuit's shots over its randomizations; dividing here as well
    # would run 1/twirls of the shots asked for
    _, logical, plan = ibm_plan(("zne", "twirl"), shots=1200)
    assert plan.shots == 1200 // 3
    assert plan.total_shots == 1200 * len(logical)


def test_ibm_execute_returns_counts_and_a_job_id():
    choice, logical, plan = ibm_plan(("readout", "twirl", "dd"), shots=400, readout_shots=400)
    submitted = []
    counts, cal_counts, jids = execute(choice, plan, seed=5, on_submit=submitted.append)
    assert len(counts) == len(plan.instances) == len(logical) and len(cal_counts) == 2 * plan.cal_copies
    assert all(sum(c.values()) == plan.shots for c in counts + cal_counts)
    assert plan.readout_shots == plan.cal_copies * plan.shots >= 400
    assert len(jids) == 1 and isinstance(jids[0], str) and jids[0] and submitted == [jids]


def test_calibration_circuits_are_repeated_to_the_readout_shots():
    # one job takes one shot count: each calibration state is repeated until it has readout_shots
    _, _, plan = ibm_plan(("readout", "zne"), shots=1200, readout_shots=1000)
    assert plan.shots == 400 and plan.cal_copies == 3 and plan.readout_shots == 1200
    assert len(plan.calibration) == 6
    assert [c.name for c in plan.calibration] == ["readout_cal_0"] * 3 + ["readout_cal_1"] * 3


def test_service_options_are_not_set_in_local_testing_mode():
    options = {
        "twirling": {"enable_gates": True, "num_randomizations": 4},
        "dynamical_decoupling": {"enable": True, "sequence_type": "XX"},
    }
    sampler = runtime_sampler(BackendChoice("ibm:fake", "ibm", FakeManilaV2()), seed=1, service_options=options)
    assert not sampler.options.twirling.enable_gates and not sampler.options.dynamical_decoupling.enable


def test_service_options_leave_local_testing_results_alone():
    # run_counts: "in local testing mode they have no effect"; the calibration circuits must
    # read their prepared states (FakeManila's readout errors are a few percent)
    cal = readout_calibration_circuits([0, 1], 5)
    options = {
        "twirling": {"enable_gates": True, "num_randomizations": 4},
        "dynamical_decoupling": {"enable": True, "sequence_type": "XX"},
    }
    counts, _ = run_counts(
        BackendChoice("ibm:fake", "ibm", FakeManilaV2()), cal, shots=1000, seed=1, service_options=options
    )
    assert counts[0].get("00", 0) > 850 and counts[1].get("11", 0) > 850, counts


def test_ibm_run_through_the_service_records_the_split_and_no_token(service):
    submitted = []
    ds = run_foreground(
        2,
        0.6,
        "ibm:fake_manila",
        shots=1000,
        readout_shots=1000,
        mitigate="dd,readout",
        seed_simulator=5,
        on_submit=submitted.append,
    )
    a = ds.attrs
    assert a["backend"] == "ibm:fake_manila" and service.asked == ["fake_manila"]
    assert a["mitigation_service_side"] == "dd" and a["mitigation_client_side"] == "readout"
    assert a["total_shots"] == 3 * 1000 + 2 * 1000
    assert len(submitted) == 1 and a["job_ids"] == ",".join(submitted[0])
    bound = 2 * (1 - a["estimated_fidelity_min"]) + 0.1 + 4 * ds.P_stderr.values  # as on fake_fez
    assert (np.abs(ds.P.values - ds.P_ideal.values) < bound).all()
    texts = [str(v) for v in a.values()] + [str(v) for var in ds.variables.values() for v in var.attrs.values()]
    assert not any(SENTINEL in t for t in texts)
    assert not any(re.search(r"[A-Za-z0-9]{32,}", t) for t in texts)


def test_noise_model_cut_to_the_used_qubits_gives_identical_counts():
    # Aer converts the whole noise model at every run (seconds for a 156-qubit device); run_counts
    # keeps only the used qubits' errors, which must not change a single count
    from qiskit import QuantumCircuit

    full = AerSimulator.from_backend(FakeManilaV2())
    qc = QuantumCircuit(5, 2)
    qc.sx(1)
    qc.cx(1, 2)
    qc.reset(2)
    qc.delay(20, 1, unit="us")
    qc.x(2)
    qc.measure([1, 2], [0, 1])
    isa = pass_manager(FakeManilaV2(), optimization_level=1).run(qc)
    cut = backends.restrict_noise_model(full, [isa])
    assert len(cut.options.noise_model.noise_qubits) < len(full.options.noise_model.noise_qubits)
    a = full.run(isa, shots=20000, seed_simulator=9).result().get_counts()
    b = cut.run(isa, shots=20000, seed_simulator=9).result().get_counts()
    assert a == b
