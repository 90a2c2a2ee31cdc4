"""The circuit engine: gates, builders and backends against the classical `oile` engine.

Exact (density-matrix) Aer results must equal `oile` to 1e-10; shots lie within 4 standard
errors of the exact Bloch vectors; noisy fake-backend runs deviate within a band set by
the device's own error rates.
"""

import numpy as np
import pytest
import scipy.linalg

pytest.importorskip("qiskit_aer")

from conftest import random_bloch  # noqa: E402
from qiskit import QuantumCircuit  # noqa: E402
from qiskit.circuit import Parameter  # noqa: E402
from qiskit.quantum_info import Operator, process_fidelity  # noqa: E402

from oile_q import Scenario, run  # noqa: E402
from oile_q.circuits import (
    EncounterGate,
    EncounterIsometryGate,
    SwapPowerGate,
    VacuumRotationGate,  # noqa: E402
    encounter_matrix,
    pass_manager,
    tree_cost,
)
from oile_q.circuits.builders import partner_table  # noqa: E402
from oile_q.circuits.transpile import two_qubit_count  # noqa: E402
from oile_q.conventions import IDENTITY2, PAULI, b_vector, bloch_to_rho, rho_to_bloch  # noqa: E402
from oile_q.encounter import SWAP, pair_propagator  # noqa: E402
from oile_q.schedules import generate  # noqa: E402

CX_BASIS = ["cx", "rz", "sx", "x"]


def core_to_qiskit(u):
    return SWAP @ u @ SWAP


# --------------------------------------------------------------------------- gates


@pytest.mark.parametrize("phi", [0.0, 0.05, 0.3, 1.2, -0.7, np.pi / 2])
def test_swap_power_gate_matrix_definition_inverse_power(phi):
    g = SwapPowerGate(phi)
    ref = scipy.linalg.expm(-1j * phi * SWAP)
    np.testing.assert_allclose(np.asarray(g), ref, atol=1e-12)
    np.testing.assert_allclose(Operator(g.definition).data, ref, atol=1e-12)  # with the global phase
    assert Operator(g).equiv(Operator(g.definition))
    np.testing.assert_allclose(np.asarray(g.inverse()) @ ref, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(np.asarray(g.power(3)), np.linalg.matrix_power(ref, 3), atol=1e-12)
    np.testing.assert_allclose(np.asarray(g.power(0.5)) @ np.asarray(g.power(0.5)), ref, atol=1e-12)


def test_swap_power_gate_takes_a_parameter_and_compiles_to_three_cnots():
    p = Parameter("phi")
    qc = QuantumCircuit(2)
    qc.append(SwapPowerGate(p), [0, 1])
    tq = pass_manager(basis_gates=CX_BASIS, optimization_level=3).run(qc)
    assert two_qubit_count(tq) == 3  # the template, unbound
    bound = tq.assign_parameters({p: 0.37})
    assert process_fidelity(Operator(bound), Operator(SwapPowerGate(0.37))) > 1 - 1e-12


@pytest.mark.parametrize("wt,theta", [(0.4, 0.0), (-1.3, 0.3), (2.0, -0.7)])
def test_vacuum_rotation_gate(wt, theta):
    g = VacuumRotationGate(wt, theta)
    B = b_vector(theta)
    H = -0.5 * np.einsum("i,ijk->jk", B, PAULI)  # H/omega, evolved for wt/omega
    ref = scipy.linalg.expm(-1j * wt * H)
    np.testing.assert_allclose(np.asarray(g), ref, atol=1e-12)
    np.testing.assert_allclose(Operator(g.definition).data, ref, atol=1e-12)
    np.testing.assert_allclose(np.asarray(g.inverse()), ref.conj().T, atol=1e-12)
    np.testing.assert_allclose(np.asarray(g.power(2)), ref @ ref, atol=1e-12)
    # dP/dt = -omega B x P: a rotation by -wt about B
    P = np.array([0.3, -0.5, 0.6])
    out = rho_to_bloch(ref @ bloch_to_rho(P) @ ref.conj().T)
    Bx = np.cross(B, P)
    expect = P * np.cos(wt) - Bx * np.sin(wt) + B * np.dot(B, P) * (1 - np.cos(wt))
    np.testing.assert_allclose(out, expect, atol=1e-12)


@pytest.mark.parametrize("mode", ["exact", "split", "symmetric"])
@pytest.mark.parametrize("frac", [1.0, 0.3], ids=["every_step", "poisson_step"])
def test_encounter_gate_equals_core_pair_propagator(mode, frac, rng):
    for _ in range(10):
        wa, wb = rng.normal(size=2)
        g, gamma, theta, mu = rng.uniform(0, 2), rng.uniform(0.01, 1), rng.uniform(-1, 1), rng.uniform(0.5, 2)
        tau = gamma * frac / mu
        ref = pair_propagator(wa, wb, g, gamma=gamma, theta=theta, mu=mu, duration=tau, propagator=mode)
        gate = EncounterGate(gamma * g, wa * tau, wb * tau, theta, mode)
        np.testing.assert_allclose(
            encounter_matrix(gamma * g, wa * tau, wb * tau, theta, mode, order="core"), ref, atol=1e-12
        )
        np.testing.assert_allclose(np.asarray(gate), core_to_qiskit(ref), atol=1e-12)
        np.testing.assert_allclose(Operator(gate.definition).data, core_to_qiskit(ref), atol=1e-12)
        np.testing.assert_allclose(Operator(gate.inverse()).data @ np.asarray(gate), np.eye(4), atol=1e-12)


def test_encounter_gate_qubit_order_matches_particles():
    # unequal omegas: the gate on [a, b] must precess a with omega_a (Qiskit qubit 0 = LSB)
    gate = EncounterGate(0.0, 0.9, 0.0, 0.0, "exact")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.h(1)
    qc.append(gate, [0, 1])
    from qiskit.quantum_info import DensityMatrix, partial_trace

    rho = DensityMatrix(qc)
    Pa = rho_to_bloch(np.asarray(partial_trace(rho, [1])))
    Pb = rho_to_bloch(np.asarray(partial_trace(rho, [0])))
    np.testing.assert_allclose(Pa, [np.cos(0.9), -np.sin(0.9), 0], atol=1e-12)  # rotated by -wt about z
    np.testing.assert_allclose(Pb, [1, 0, 0], atol=1e-12)


def _channel(u_core, Q):
    """Choi matrix of rho_a -> Tr_b[U (rho_a x rho_Q) U^dag]."""
    rq = bloch_to_rho(Q)
    C = np.zeros((4, 4), complex)
    for i in range(2):
        for j in range(2):
            e = np.zeros((2, 2))
            e[i, j] = 1
            r = (u_core @ np.kron(e, rq) @ u_core.conj().T).reshape(2, 2, 2, 2)
            C[2 * i : 2 * i + 2, 2 * j : 2 * j + 2] = np.einsum("ijkj->ik", r)
    return C


def test_isometry_channel_equals_exact_encounter_and_needs_two_cnots(rng):
    pm = pass_manager(basis_gates=CX_BASIS, optimization_level=3)
    for _ in range(8):
        wa, wb = rng.normal(size=2)
        phi, theta = rng.uniform(0.01, 1.5), rng.uniform(-1, 1)
        Q = random_bloch(rng, 1, pure=True)[0]
        iso = EncounterIsometryGate(phi, wa, wb, theta, Q)
        # the definition (2 CNOTs) with the partner in |0>, traced out
        W = core_to_qiskit(Operator(iso.definition).data)
        want = _channel(encounter_matrix(phi, wa, wb, theta, "exact", order="core"), Q)
        got = _channel(W, [0, 0, 1])
        assert np.abs(got - want).max() < 1e-10
        qc = QuantumCircuit(2)
        qc.reset(1)
        qc.append(iso, [0, 1])
        assert pm.run(qc).count_ops().get("cx", 0) == 2
        for mode in ("exact", "split"):
            gate = EncounterGate(phi, wa, wb, theta, mode)
            qc = QuantumCircuit(2)
            qc.append(gate, [0, 1])
            tq = pm.run(qc)
            assert tq.count_ops().get("cx", 0) == 3
            # a compiled exact unitary is ~1e-9 off (Weyl snapping): process fidelity, not equiv
            assert process_fidelity(Operator(tq), Operator(gate)) > 1 - 1e-8


def test_isometry_refuses_a_mixed_partner():
    with pytest.raises(ValueError, match="pure Bloch vector"):
        EncounterIsometryGate(0.2, 0.1, 0.1, 0.0, [0.5, 0, 0])


# --------------------------------------------------------------------------- exact engine vs oile


def foreground(P=(0, 0, 1), Q=(0.6, -0.2, 0.7), **kw):
    kw = {"gamma": 0.2, "vdotu": 0.3, "omega": 0.8, "theta": 0.3, **kw}
    return Scenario.foreground(list(P), list(Q), **kw)


@pytest.mark.parametrize("compile,propagator", [("exact", "exact"), ("split", "split"), ("symmetric", "symmetric")])
def test_foreground_density_matrix_equals_oile(compile, propagator):
    sc = foreground()
    ref = run(sc, "oile", steps=60, propagator=propagator)
    ds = run(sc, "circuit", steps=60, compile=compile)
    np.testing.assert_allclose(ds.P.values, ref.P.values, atol=1e-10)
    np.testing.assert_allclose(ds.time.values, ref.time.values)
    # Q is mixed (|Q| = 0.94): system, partner and the partner's purifier
    assert ds.attrs["engine"] == "circuit" and ds.attrs["encounters"] == 60 and ds.attrs["qubits"] == 3


def test_foreground_isometry_fresh_qubits_and_mixed_states_equal_oile():
    pure_q = foreground(P=(0.3, 0.1, 0.5), Q=(0.6, 0.0, 0.8))
    ref = run(pure_q, "oile", steps=30)
    np.testing.assert_allclose(run(pure_q, "circuit", steps=30, compile="isometry").P.values, ref.P.values, atol=1e-10)
    fresh = run(pure_q, "circuit", steps=8, reset=False)
    assert fresh.attrs["resets"] == 0 and fresh.attrs["qubits"] == 10  # 8 partners + 1 purifier + system
    np.testing.assert_allclose(fresh.P.values, ref.P.values[:9], atol=1e-10)
    mixed = foreground(P=(0.2, 0.0, 0.4), Q=(0.0, 0.5, -0.3))  # both mixed: purifications
    ds = run(mixed, "circuit", steps=40)
    assert ds.attrs["qubits"] == 3
    np.testing.assert_allclose(ds.P.values, run(mixed, "oile", steps=40).P.values, atol=1e-10)


def test_foreground_poisson_timing_equals_oile():
    sc = foreground()
    kw = dict(steps=50, schedule="poisson", p=0.3, seed=4)
    ds = run(sc, "circuit", **kw)
    np.testing.assert_allclose(ds.P.values, run(sc, "oile", **kw).P.values, atol=1e-10)
    assert 0 < ds.attrs["encounters"] < 50


def ensemble(rng, n=6, mixed=()):
    v = random_bloch(rng, n, pure=True)
    P0 = random_bloch(rng, n, pure=True)
    for i in mixed:
        P0[i] *= 0.6
    return Scenario(P0, rng.normal(0, 1, n), v, gamma=0.3, theta=0.2)


@pytest.mark.parametrize("compile", ["exact", "split", "isometry"])
def test_light_cone_tree_equals_oile(compile, rng):
    sc = ensemble(rng, n=6, mixed=(2,))
    pairs = generate("matching", 6, 5, seed=3)
    prop = "split" if compile == "split" else "exact"
    ref = run(sc, "oile", steps=5, schedule=pairs, propagator=prop)
    ds = run(sc, "circuit", steps=5, schedule=pairs, compile=compile)
    np.testing.assert_allclose(ds.P.values, ref.P.values, atol=1e-10)
    assert ds.attrs["encounters"] == 6 * (2**5 - 1)
    assert ds.attrs["qubits"] == 5 + 1 + 1  # n + 1, plus one purifier for the mixed particle
    if compile == "isometry":
        assert ds.attrs["isometry_encounters"] > 0
    assert "schedule_pairs" in ds


def test_light_cone_tree_poisson_schedule_and_particle_subset(rng):
    sc = ensemble(rng, n=6)
    pairs = generate("poisson", 6, 8, seed=5, p=0.4)
    ref = run(sc, "oile", steps=8, schedule=pairs, p=0.4)
    ds = run(sc, "circuit", steps=8, schedule=pairs, p=0.4, particles=[1, 4])
    np.testing.assert_allclose(ds.P.values[:, [1, 4]], ref.P.values[:, [1, 4]], atol=1e-10)
    assert np.isnan(ds.P.values[:, 0]).all()
    assert ds.particle_computed.values.tolist() == [0, 1, 0, 0, 1, 0]


def test_tree_cost_is_two_to_the_n_minus_one():
    partner = partner_table(generate("matching", 8, 10, seed=1), 8)
    assert [tree_cost(partner, 0, n) for n in range(11)] == [2**n - 1 for n in range(11)]


def closed_reference(sc, pairs, frac=1.0):
    """numpy density-matrix evolution of the closed N-qubit schedule (particle 0 first)."""
    n = sc.n
    rho = bloch_to_rho(sc.P0[0])
    for i in range(1, n):
        rho = np.kron(rho, bloch_to_rho(sc.P0[i]))
    tau = sc.gamma * frac / sc.mu
    out = []

    def reduced(rho, i):
        r = rho.reshape([2] * (2 * n))
        keep = list(range(n))
        letters = "abcdefghijklmnopqrstuvwxyz"
        ins = [letters[k] for k in range(n)]
        outs = [letters[k] if k != i else "Z" for k in range(n)]
        expr = "".join(ins) + "".join(outs) + "->" + letters[i] + "Z"
        del keep
        return np.einsum(expr, r)

    def op_on(u, a, b):
        # embed a 4x4 (a first) into n qubits by permuting axes
        full = np.kron(u, np.eye(2 ** (n - 2))).reshape([2] * (2 * n))
        order = [a, b] + [k for k in range(n) if k not in (a, b)]
        inv = np.argsort(order)
        full = full.transpose(list(inv) + [n + k for k in inv])
        return full.reshape(2**n, 2**n)

    def record():
        out.append([rho_to_bloch(reduced(rho, i)) for i in range(n)])

    record()
    for s in range(pairs.shape[0]):
        paired = set()
        for a, b in pairs[s]:
            if a < 0:
                continue
            g = 1 - sc.velocity[a] @ sc.velocity[b]
            U = op_on(
                pair_propagator(sc.omega[a], sc.omega[b], g, gamma=sc.gamma, theta=sc.theta, mu=sc.mu, duration=tau),
                a,
                b,
            )
            rho = U @ rho @ U.conj().T
            paired |= {a, b}
        for i in set(range(n)) - paired:
            wt = sc.omega[i] * tau
            V = np.cos(wt / 2) * IDENTITY2 + 1j * np.sin(wt / 2) * np.einsum("i,ijk->jk", sc.B, PAULI)
            U = np.kron(np.kron(np.eye(2**i), V), np.eye(2 ** (n - i - 1)))
            rho = U @ rho @ U.conj().T
        record()
    return np.array(out)


@pytest.mark.parametrize("schedule,p", [("matching", None), ("poisson", 0.5)])
def test_closed_circuit_equals_numpy_evolution(schedule, p, rng):
    sc = ensemble(rng, n=4, mixed=(1,))
    pairs = generate(schedule, 4, 6, seed=2, p=p)
    ds = run(sc, "circuit", steps=6, schedule=pairs, p=p, circuit="closed")
    ref = closed_reference(sc, pairs, frac=1.0 if p is None else p)
    np.testing.assert_allclose(ds.P.values, ref, atol=1e-10)
    assert ds.attrs["resets"] == 0 and ds.attrs["aer_method"] == "statevector"
    # entanglement stays: the closed circuit differs from the product-state (oile) map
    oile = run(sc, "oile", steps=6, schedule=pairs, p=p).P.values
    assert np.abs(ds.P.values - oile).max() > 1e-3


# --------------------------------------------------------------------------- shots and noise


def test_shots_within_four_standard_errors():
    sc = foreground()
    exact = run(sc, "circuit", steps=20, times=[0.8, 2.0, 4.0])
    ds = run(sc, "circuit", steps=20, times=[0.8, 2.0, 4.0], backend="aer-shots", shots=3000, seed_simulator=11)
    err = ds.P_stderr.values
    assert err.shape == ds.P.shape and (err > 0).all()
    z = np.abs(ds.P.values - exact.P.values) / err
    assert z.max() < 4, z
    np.testing.assert_allclose(ds.P_ideal.values, exact.P.values, atol=1e-10)
    assert ds.attrs["shots"] == 3000


def test_tree_with_shots_within_four_standard_errors(rng):
    sc = ensemble(rng, n=4)
    pairs = generate("matching", 4, 3, seed=1)
    exact = run(sc, "circuit", steps=3, schedule=pairs, particles=[0])
    ds = run(
        sc,
        "circuit",
        steps=3,
        schedule=pairs,
        particles=[0],
        backend="aer-shots",
        shots=2000,
        seed_simulator=5,
        times=[0.9],
    )
    z = np.abs(ds.P.values[-1, 0] - exact.P.values[-1, 0]) / ds.P_stderr.values[-1, 0]
    assert z.max() < 4


@pytest.mark.parametrize("compile,twoq", [("exact", 3), ("isometry", 2)])
def test_fake_backend_noisy_foreground_run(compile, twoq):
    from oile_q.circuits import fake_backend

    sc = foreground(P=(0, 0, 1), Q=(0.6, 0.0, 0.8), gamma=0.3, omega=0.5, theta=0.1)
    steps = 12
    ds = run(
        sc,
        "circuit",
        steps=steps,
        times=[steps * 0.3],
        backend="fake_manila",
        shots=4000,
        seed_simulator=3,
        compile=compile,
    )
    assert ds.attrs["transpiled_2q_per_encounter"] == twoq
    assert ds.attrs["transpiled_2q_per_encounter_in_circuit"] == pytest.approx(twoq, abs=0.5)
    dev = np.abs(ds.P.values[-1, 0] - ds.P_ideal.values[-1, 0])
    assert ds.attrs["max_deviation_from_ideal"] == pytest.approx(dev.max())
    # The band: noise must show (beyond 4 standard errors) but stay below what the device's
    # own error rates allow: each two-qubit gate shrinks the Bloch vector by at most about
    # its error rate (x 4/3 for a depolarising channel), readout by at most 2 x its error.
    target = fake_backend("fake_manila").target
    e2 = max(p.error for p in target["cx"].values() if p is not None and p.error is not None)
    ro = max(p.error for p in target["measure"].values() if p is not None and p.error is not None)
    n2q = ds.attrs["transpiled_2q_total"] / 3
    bound = 4 / 3 * e2 * n2q + 2 * ro + 0.1  # + generous slack for T1/T2 and single-qubit errors
    assert dev.max() > 4 * ds.P_stderr.values[-1, 0].max()
    assert dev.max() < bound, (dev, bound)
    assert np.linalg.norm(ds.P.values[-1, 0]) < np.linalg.norm(ds.P_ideal.values[-1, 0])  # noise shrinks P


def test_aer_with_device_noise_model_matches_fake_backend_statistics():
    sc = foreground(P=(0, 0, 1), Q=(0.6, 0.0, 0.8), gamma=0.3, omega=0.5, theta=0.1)
    kw = dict(steps=10, times=[3.0], shots=4000, seed_simulator=3)
    noisy = run(sc, "circuit", backend="aer-noise:fake_manila", **kw)
    fake = run(sc, "circuit", backend="fake_manila", **kw)
    assert noisy.attrs["transpiled_2q_per_encounter"] == 3
    # one device noise model, two code paths: the same Bloch vector within shot noise
    # (6 standard errors of the difference: the fake path may twirl measurements)
    diff = np.abs(noisy.P.values - fake.P.values)[-1, 0]
    err = np.hypot(noisy.P_stderr.values, fake.P_stderr.values)[-1, 0]
    assert (diff < 6 * err + 1e-12).all(), (diff, err)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(backend="aer-shots", shots=0), "`shots` must be a positive integer"),
        (dict(backend="aer-shots", shots=-5), "`shots` must be a positive integer"),
        (dict(shots=100), "`shots` does not apply"),
        (dict(backend="fake_nowhere"), "not a fake IBM backend"),
        (dict(backend="quantum-toaster"), "`backend` must be"),
        (dict(backend="fake_melbourne"), "does not support reset"),
        (dict(compile="best"), "`compile` must be one of"),
        (dict(wobble=1), "`wobble` is not an option"),
        (dict(circuit="tree"), "`circuit` must be 'foreground'"),
        (dict(compile="isometry"), "needs a pure background state"),
        (dict(job_ids=["x"]), "`job_ids` applies"),
    ],
)
def test_bad_foreground_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run(foreground(), "circuit", steps=3, **kwargs)


def test_bad_ensemble_requests(rng):
    sc = ensemble(rng, n=4)
    with pytest.raises(ValueError, match="needs 7 qubits; backend 'fake_manila' has 5"):
        run(sc, "circuit", steps=6, backend="fake_manila", seed=1)
    with pytest.raises(ValueError, match="needs 16383 encounters"):
        run(sc, "circuit", steps=14, seed=1)
    with pytest.raises(ValueError, match="`particles` must be distinct indices"):
        run(sc, "circuit", steps=2, seed=1, particles=[4])
    with pytest.raises(ValueError, match="`compile` 'isometry' needs fresh partners"):
        run(sc, "circuit", steps=2, seed=1, circuit="closed", compile="isometry")
    with pytest.raises(ValueError, match="`reset` must be True"):
        run(sc, "circuit", steps=2, seed=1, reset=False)


def test_ibm_backend_without_credentials_is_one_clear_error(monkeypatch, tmp_path):
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_URL", "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no saved account
    with pytest.raises(ValueError, match="saved IBM Quantum account"):
        run(foreground(), "circuit", steps=2, backend="ibm:ibm_brisbane")


# --------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_deep_light_cone_tree_equals_oile(rng):
    sc = ensemble(rng, n=8, mixed=(3,))
    pairs = generate("matching", 8, 9, seed=9)
    ref = run(sc, "oile", steps=9, schedule=pairs)
    ds = run(sc, "circuit", steps=9, schedule=pairs, particles=[0, 5])
    np.testing.assert_allclose(ds.P.values[:, [0, 5]], ref.P.values[:, [0, 5]], atol=1e-10)
    assert ds.attrs["encounters"] == 2 * (2**9 - 1)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["fake_sherbrooke", "aer-noise:fake_sherbrooke"])
def test_fifty_noisy_encounters_on_sherbrooke(backend):
    # the brief's case: 50 encounters shrink the first Bloch component from ~0.8 to ~0.6
    sc = Scenario.foreground([0, 0, 1], [np.sin(0.9), 0, np.cos(0.9)], gamma=0.3)
    ds = run(sc, "circuit", steps=50, times=[15.0], backend=backend, shots=4000, seed_simulator=7)
    assert ds.attrs["transpiled_2q_per_encounter"] == 3
    ideal, noisy = ds.P_ideal.values[-1, 0], ds.P.values[-1, 0]
    assert np.linalg.norm(noisy) < np.linalg.norm(ideal) - 0.05
    assert ds.attrs["max_deviation_from_ideal"] < 0.5
