"""The conventions of docs/conventions.md and the equations of docs/theory.md, checked against the code.

Each test names the section of the page it checks. The references are written out here with
numpy and scipy (Pauli matrices, Kronecker products, ``expm``, ``solve_ivp``), independently of
the library's own kernels, and compared through the public API only. Exact algebra is held to
1e-12; ODE results to the integrators' tolerances.
"""

import json

import numpy as np
import pytest
import scipy.linalg
from scipy.integrate import solve_ivp

import oile_q
from oile_q.conventions import b_vector, bloch_to_rho, flavor_to_mass, mass_to_flavor, rho_to_bloch, rotation_y
from oile_q.encounter import encounter_bloch, encounter_rho, pair_blocks, pair_hamiltonian, pair_propagator, swap_map
from oile_q.engines.misci import FlowState, flow_terms
from oile_q.exact import Model
from oile_q.qss import solve_qss
from oile_q.results import group_means, mass_basis, mass_p3_sum, purity
from oile_q.schedules import generate

EXACT = 1e-12  # exact algebra
ODE = dict(rtol=1e-11, atol=1e-13)  # tight tolerances for the continuous engines
SX = np.array([[0, 1], [1, 0]], dtype=complex)
SY = np.array([[0, -1j], [1j, 0]], dtype=complex)
SZ = np.array([[1, 0], [0, -1]], dtype=complex)
SIGMA = (SX, SY, SZ)
NU_E = np.array([1, 0], dtype=complex)  # flavor basis: nu_e is the upper component
NU_X = np.array([0, 1], dtype=complex)


def rodrigues(P, axis, angle):
    """P turned by ``angle`` about the unit vector ``axis`` (right-handed)."""
    P, k = np.asarray(P, float), np.asarray(axis, float)
    return P * np.cos(angle) + np.cross(k, P) * np.sin(angle) + k * (k @ P) * (1 - np.cos(angle))


def bloch_of(psi):
    """The Bloch vector of the pure state psi (2,): P_i = <psi|sigma_i|psi>."""
    return np.array([np.vdot(psi, s @ psi).real for s in SIGMA])


def two_groups(n_e=3, n_x=3, *, gamma=0.05, theta=0.2, mu=1.0, w_e=0.6, w_x=-0.4, seed=4):
    """A small ensemble: nu_e and nu_x groups with isotropic velocities."""
    return oile_q.Scenario.from_groups(
        [
            dict(name="e", count=n_e, flavor="e", omega=w_e * mu),
            dict(name="x", count=n_x, flavor="x", omega=w_x * mu),
        ],
        gamma=gamma,
        theta=theta,
        mu=mu,
        seed=seed,
    )


def embed(op, site, n):
    """The one-body operator ``op`` on particle ``site`` of n (particle 0 the first Kronecker factor)."""
    out = np.eye(1)
    for a in range(n):
        out = np.kron(out, op if a == site else np.eye(2))
    return out


# ----------------------------------------------------------------------------- conventions.md: the Bloch vector


def test_bloch_vector_of_flavor_states():
    """conventions.md#the-bloch-vector: rho = (1 + P.sigma)/2; nu_e -> +z, nu_x -> -z,
    (nu_e + nu_x)/sqrt2 -> +x, (nu_e + i nu_x)/sqrt2 -> +y; Tr rho = 1 and Tr rho^2 = (1 + |P|^2)/2."""
    states = {
        (0, 0, 1): NU_E,
        (0, 0, -1): NU_X,
        (1, 0, 0): (NU_E + NU_X) / np.sqrt(2),
        (0, 1, 0): (NU_E + 1j * NU_X) / np.sqrt(2),
    }
    for P, psi in states.items():
        rho = np.outer(psi, psi.conj())
        np.testing.assert_allclose(rho_to_bloch(rho), P, atol=EXACT)
        np.testing.assert_allclose(bloch_to_rho(P), rho, atol=EXACT)
    P = np.array([0.3, -0.4, 0.5])
    rho = bloch_to_rho(P)
    assert abs(np.trace(rho) - 1) < EXACT
    assert abs(np.trace(rho @ rho).real - (1 + P @ P) / 2) < EXACT
    # the named flavors of a group scenario
    sc = oile_q.Scenario.from_groups([dict(name=f, count=1, flavor=f) for f in ("e", "x", "+", "-")], gamma=0.1, seed=0)
    np.testing.assert_array_equal(sc.P0, [[0, 0, 1], [0, 0, -1], [1, 0, 0], [-1, 0, 0]])


def test_bloch_vectors_longer_than_one_are_refused():
    """conventions.md#the-bloch-vector: |P| <= 1 is checked on input."""
    with pytest.raises(oile_q.InputError, match="length <= 1"):
        oile_q.Scenario.foreground([0, 0, 1.1], [1, 0, 0], gamma=0.1)


# ----------------------------------------------------------------------------- conventions.md: mixing and mass basis


@pytest.mark.parametrize("theta", [0.0, 1e-3, 0.3, -0.7])
def test_mass_basis_is_a_rotation_about_y_by_plus_two_theta(theta):
    """conventions.md#mixing-and-the-mass-basis: nu_1 = cos th nu_e - sin th nu_x has the flavor
    Bloch vector B = (-sin 2th, 0, cos 2th); P_mass = R_y(+2 th) P_flavor (right-handed), so that
    B -> (0, 0, 1) and nu_e -> (sin 2th, 0, cos 2th); on states, exp(-i th sigma_2)."""
    nu1 = np.cos(theta) * NU_E - np.sin(theta) * NU_X
    nu2 = np.sin(theta) * NU_E + np.cos(theta) * NU_X
    B = np.array([-np.sin(2 * theta), 0, np.cos(2 * theta)])
    np.testing.assert_allclose(bloch_of(nu1), B, atol=EXACT)
    np.testing.assert_allclose(bloch_of(nu2), -B, atol=EXACT)
    np.testing.assert_allclose(b_vector(theta), B, atol=EXACT)
    c, s = np.cos(2 * theta), np.sin(2 * theta)
    Ry = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # right-handed rotation about y by +2 theta
    np.testing.assert_allclose(rotation_y(2 * theta), Ry, atol=EXACT)
    P = np.array([[0, 0, 1.0], [0.2, -0.5, 0.1], B])
    np.testing.assert_allclose(flavor_to_mass(P, theta), P @ Ry.T, atol=EXACT)
    np.testing.assert_allclose(flavor_to_mass(B, theta), [0, 0, 1], atol=EXACT)
    np.testing.assert_allclose(flavor_to_mass([0, 0, 1], theta), [s, 0, c], atol=EXACT)
    np.testing.assert_allclose(mass_to_flavor(flavor_to_mass(P, theta), theta), P, atol=EXACT)
    # on state vectors: exp(-i theta sigma_2) takes nu_1 to "up" and turns every Bloch vector by R_y(2 theta)
    to_mass = scipy.linalg.expm(-1j * theta * SY)
    np.testing.assert_allclose(to_mass @ nu1, [1, 0], atol=EXACT)
    psi = np.array([0.6, 0.8j * np.exp(0.3j)])
    np.testing.assert_allclose(bloch_of(to_mass @ psi), flavor_to_mass(bloch_of(psi), theta), atol=EXACT)


def test_datasets_hold_the_flavor_basis_and_mass_basis_converts():
    """conventions.md#mixing-and-the-mass-basis: a scenario given in the mass basis is stored in the
    flavor basis; a result's P is in the flavor basis and ``results.mass_basis`` rotates it."""
    theta = 0.3
    Pm = np.array([[0, 0, 1.0], [0.6, 0, -0.8]])
    sc = oile_q.Scenario(Pm, [0.5, -0.5], [[0, 0, 1.0], [1.0, 0, 0]], gamma=0.1, theta=theta, basis="mass")
    np.testing.assert_allclose(sc.P0, mass_to_flavor(Pm, theta), atol=EXACT)
    ds = oile_q.run(sc, "oile", steps=3, schedule="round-robin")
    assert ds["P"].attrs["long_name"] == "Bloch vector (flavor basis)"
    np.testing.assert_allclose(mass_basis(ds).isel(time=0), Pm, atol=EXACT)
    np.testing.assert_allclose(mass_basis(ds), flavor_to_mass(ds["P"].values, theta), atol=EXACT)


# ----------------------------------------------------------------------------- conventions.md: vacuum precession


def test_vacuum_hamiltonian_and_energy_order():
    """conventions.md#vacuum-precession: H_vac = -(omega/2) B.sigma; for omega > 0, nu_1 (along B)
    is the lower-energy state, E = -omega/2, and nu_2 has +omega/2."""
    theta, omega = 0.35, 0.8
    H = pair_hamiltonian(omega, 0.0, 0.0, theta=theta)  # particle a alone: H_vac (x) 1
    Bsig = sum(b * s for b, s in zip(b_vector(theta), SIGMA))
    np.testing.assert_allclose(H, np.kron(-(omega / 2) * Bsig, np.eye(2)), atol=EXACT)
    nu1 = np.cos(theta) * NU_E - np.sin(theta) * NU_X
    nu2 = np.sin(theta) * NU_E + np.cos(theta) * NU_X
    Hvac = -(omega / 2) * Bsig
    assert abs(np.vdot(nu1, Hvac @ nu1).real + omega / 2) < EXACT
    assert abs(np.vdot(nu2, Hvac @ nu2).real - omega / 2) < EXACT


@pytest.mark.parametrize("omega", [0.7, -0.7])
@pytest.mark.parametrize("engine", ["oile", "meanfield", "master"])
def test_vacuum_precession_turns_by_minus_omega_t_about_B(engine, omega):
    """conventions.md#vacuum-precession: dP/dt = -omega B x P, i.e. P(t) = R_B(-omega t) P(0):
    clockwise about B (seen from its tip) for omega > 0, the other way for omega < 0. A foreground
    neutrino with vdotu = 1 has g = 0, so only the vacuum term acts."""
    theta, P0 = 0.25, np.array([0.0, 0.0, 1.0])
    fg = oile_q.Scenario.foreground(P0, [1, 0, 0], gamma=0.01, vdotu=1.0, omega=omega, theta=theta)
    kw = ODE if engine != "oile" else {}
    ds = oile_q.run(fg, engine, times=[0.0, 0.05, 1.0, 2.5], **kw)
    B = b_vector(theta)
    for t, P in zip(ds.time.values, ds.P.values[:, 0]):
        np.testing.assert_allclose(P, rodrigues(P0, B, -omega * t), atol=1e-9)
    # the direction over a short time, against dP/dt = -omega B x P
    dt = float(ds.time[1])
    step = ds.P.values[1, 0] - P0
    np.testing.assert_allclose(step / dt, -omega * np.cross(B, P0), atol=abs(omega) * dt)
    # in the mass basis the transverse part goes as exp(-i omega t)
    m0, m1 = flavor_to_mass(P0, theta), flavor_to_mass(ds.P.values[-1, 0], theta)
    t = float(ds.time[-1])
    assert abs((m1[0] + 1j * m1[1]) - np.exp(-1j * omega * t) * (m0[0] + 1j * m0[1])) < 1e-9


def test_qss_precession_frequency_is_counted_right_handed():
    """conventions.md#vacuum-precession and theory.md#quasi-steady-states: a QSS turns by +Omega t
    about B: P_a = c_a h_a solves (H_a - Omega B) x P_a = 0 with H_a = -omega_a B + mu M, so that
    dP_a/dt = Omega B x P_a; and <c_a h_a> = (m, 0, M3) (Q1-Q2)."""
    c = np.array([0.9, 0.9, 0.9, -0.5, -0.5])
    omega = np.array([0.1, 0.1, 0.1, 0.2, 0.2])
    mu = 1.0
    q = solve_qss(c, omega, M3=0.4, mu=mu)
    u = mu * q.M3 - omega - q.Omega
    D = np.sqrt(mu**2 * q.m**2 + u**2)
    np.testing.assert_allclose(q.axes(omega), np.stack([mu * q.m / D, 0 * u, u / D], -1), atol=EXACT)
    P = q.bloch(c, omega)  # co-rotating frame, mass basis
    np.testing.assert_allclose(P.mean(0), [q.m, 0, q.M3], atol=EXACT)
    Bz = np.array([0, 0, 1.0])
    M = P.mean(0)
    for Pa, w in zip(P, omega):
        H = -w * Bz + mu * M
        np.testing.assert_allclose(np.cross(H - q.Omega * Bz, Pa), 0, atol=EXACT)
        np.testing.assert_allclose(np.cross(H, Pa), q.Omega * np.cross(Bz, Pa), atol=EXACT)


# ----------------------------------------------------------------------------- conventions.md: units


def test_one_step_is_gamma_in_mu_t():
    """conventions.md#units: a step of an every-step schedule lasts mu dz = gamma; with Poisson
    timing mu tau = p gamma; the time coordinate is mu t."""
    sc = two_groups(gamma=0.05)
    ds = oile_q.run(sc, "oile", t_max=1.0, seed=1)
    assert json.loads(ds.attrs["engine_stats"])["steps"] == 20
    np.testing.assert_allclose(ds.time, 0.05 * np.arange(21), atol=EXACT)
    assert ds.time.attrs["long_name"] == "mu t"
    ds = oile_q.run(sc, "oile", t_max=1.0, schedule="poisson", p=0.25, seed=1)
    assert json.loads(ds.attrs["engine_stats"])["steps"] == 80


@pytest.mark.parametrize("engine", ["oile", "meanfield", "master", "exact"])
def test_only_omega_over_mu_matters(engine):
    """conventions.md#units: omega is in the units of mu; scaling mu and every omega together
    leaves P(mu t) unchanged, so mu = 1 loses nothing."""
    one = two_groups(n_e=2, n_x=2, mu=1.0)
    three = two_groups(n_e=2, n_x=2, mu=3.0)
    kw = dict(times=[0.0, 0.5, 1.5], seed=2)
    a = oile_q.run(one, engine, **kw).P.values
    b = oile_q.run(three, engine, **kw).P.values
    np.testing.assert_allclose(a, b, atol=1e-10)


# ----------------------------------------------------------------------------- conventions.md: the Hamiltonian


def test_all_to_all_hamiltonian_of_the_exact_engine():
    """conventions.md#the-interaction-and-the-hamiltonian: the exact engine evolves
    H = sum_a -(omega_a/2) B.sigma_a + mu/(N-1) sum_{a<b} (g_ab/2) sigma_a.sigma_b, g_ab = 1 - v_a.v_b;
    here built densely in the flavor basis and compared at mu t = 0.7 and 2 (P, and energy <H>/mu)."""
    sc = oile_q.Scenario(
        [[0, 0, 1.0], [0, 0, -1.0], [1.0, 0, 0]],
        [0.5, -0.3, 0.9],
        [[0, 0, 1.0], [1.0, 0, 0], [0, 0.6, -0.8]],
        gamma=0.1,
        theta=0.3,
        mu=1.0,
    )
    n, times = sc.n, [0.0, 0.7, 2.0]
    Bsig = sum(b * s for b, s in zip(sc.B, SIGMA))
    g = 1 - sc.velocity @ sc.velocity.T
    H = sum(embed(-(sc.omega[a] / 2) * Bsig, a, n) for a in range(n))
    for a in range(n):
        for b in range(a + 1, n):
            H = H + sc.mu / (n - 1) * (g[a, b] / 2) * sum(embed(s, a, n) @ embed(s, b, n) for s in SIGMA)
    psi0 = np.kron(np.kron(NU_E, NU_X), (NU_E + NU_X) / np.sqrt(2))
    ds = oile_q.run(sc, "exact", times=times, tol=1e-14)
    for k, t in enumerate(times):
        psi = scipy.linalg.expm(-1j * H * t) @ psi0
        P = [[np.vdot(psi, embed(s, a, n) @ psi).real for s in SIGMA] for a in range(n)]
        np.testing.assert_allclose(ds.P.values[k], P, atol=1e-10)
        assert abs(ds.energy.values[k] - np.vdot(psi, H @ psi).real / sc.mu) < 1e-10
    # the engine's spin form: H/mu = sum hz Z + sum J (XX + YY + ZZ) in the mass basis
    model = Model(sc)
    np.testing.assert_allclose(model.hz, -sc.omega / (2 * sc.mu), atol=EXACT)
    np.testing.assert_allclose(model.J, (g - np.diag(np.diag(g))) / (2 * (n - 1)), atol=EXACT)


def test_mean_field_equation_as_written():
    """conventions.md#the-interaction-and-the-hamiltonian: the meanfield engine integrates
    dP_a/dt = (-omega_a B + mu M_a) x P_a with M_a = (1/(N-1)) sum_b g_ab P_b."""
    sc = two_groups(n_e=3, n_x=2, theta=0.3, mu=2.0)
    g = 1 - sc.velocity @ sc.velocity.T
    np.fill_diagonal(g, 0.0)

    def rhs(_, y):  # in units of mu t
        P = y.reshape(sc.n, 3)
        M = g @ P / (sc.n - 1)
        return np.cross(-(sc.omega / sc.mu)[:, None] * sc.B + M, P).ravel()

    times = np.linspace(0, 4.0, 5)
    want = solve_ivp(rhs, (0, 4.0), sc.P0.ravel(), t_eval=times, method="DOP853", **ODE).y.T.reshape(-1, sc.n, 3)
    np.testing.assert_allclose(oile_q.run(sc, "meanfield", times=times, **ODE).P.values, want, atol=1e-9)


# ----------------------------------------------------------------------------- conventions.md: the encounter


def test_encounter_is_a_swap_power_up_to_a_global_phase():
    """conventions.md#the-encounter: sigma.sigma = 2 SWAP - 1, so exp(-i dz V_ab) =
    exp(i phi/2) exp(-i phi SWAP) with phi = mu g dz = gamma g; the propagators use exp(-i phi SWAP)."""
    SWAP = np.eye(4)[[0, 2, 1, 3]]
    ss = sum(np.kron(s, s) for s in SIGMA)
    np.testing.assert_allclose(ss, 2 * SWAP - np.eye(4), atol=EXACT)
    gamma, mu, g = 0.3, 2.0, 1.4
    dz, phi = gamma / mu, gamma * g
    V = (mu / 2) * g * ss
    U = pair_propagator(0.0, 0.0, g, gamma=gamma, mu=mu)
    np.testing.assert_allclose(U, np.cos(phi) * np.eye(4) - 1j * np.sin(phi) * SWAP, atol=EXACT)
    np.testing.assert_allclose(scipy.linalg.expm(-1j * dz * V), np.exp(1j * phi / 2) * U, atol=EXACT)


@pytest.mark.parametrize("propagator", ["exact", "split", "symmetric"])
def test_propagators_as_stated(propagator):
    """conventions.md#the-encounter: "exact" = exp(-i [tau H_vac + phi SWAP]), "split" = vacuum
    after the SWAP power, "symmetric" = half vacuum, SWAP power, half vacuum; H_vac of both
    particles, tau the step length."""
    wa, wb, g, gamma, theta, mu = 0.9, -0.4, 1.3, 0.2, 0.35, 1.5
    tau, phi = gamma / mu, gamma * g
    SWAP = np.eye(4)[[0, 2, 1, 3]]
    Bsig = sum(b * s for b, s in zip(b_vector(theta), SIGMA))
    Hvac = np.kron(-(wa / 2) * Bsig, np.eye(2)) + np.kron(np.eye(2), -(wb / 2) * Bsig)
    vac = lambda t: scipy.linalg.expm(-1j * t * Hvac)
    S = scipy.linalg.expm(-1j * phi * SWAP)
    want = {
        "exact": scipy.linalg.expm(-1j * (tau * Hvac + phi * SWAP)),
        "split": vac(tau) @ S,
        "symmetric": vac(tau / 2) @ S @ vac(tau / 2),
    }[propagator]
    U = pair_propagator(wa, wb, g, gamma=gamma, theta=theta, mu=mu, propagator=propagator)
    np.testing.assert_allclose(U, want, atol=EXACT)
    if propagator != "exact":  # exact when omega_a = omega_b (then H_vac commutes with SWAP)
        same = pair_propagator(wa, wa, g, gamma=gamma, theta=theta, mu=mu, propagator=propagator)
        np.testing.assert_allclose(same, pair_propagator(wa, wa, g, gamma=gamma, theta=theta, mu=mu), atol=EXACT)


def test_encounter_closed_form_in_the_mass_basis():
    """conventions.md#the-encounter: in the mass basis |uu> and |dd> take the phases
    exp(i(s - phi)) and exp(-i(s + phi)), and {|ud>, |du>} the block [[cos W + i d sinW/W, -i phi sinW/W],
    [-i phi sinW/W, cos W - i d sinW/W]], s = (w_a + w_b)/2, d = (w_a - w_b)/2, W = sqrt(phi^2 + d^2)."""
    wa, wb, phi = 0.8, -0.3, 0.45
    s, d = (wa + wb) / 2, (wa - wb) / 2
    W = np.hypot(phi, d)
    want = [
        np.exp(1j * (s - phi)),
        np.exp(-1j * (s + phi)),
        np.cos(W) + 1j * d * np.sin(W) / W,
        -1j * phi * np.sin(W) / W,
        -1j * phi * np.sin(W) / W,
        np.cos(W) - 1j * d * np.sin(W) / W,
    ]
    np.testing.assert_allclose(pair_blocks(wa, wb, phi), want, atol=EXACT)
    # the same unitary as exp(-i [H_vac tau + phi SWAP]) with B = z (theta = 0: mass = flavor)
    U = pair_propagator(wa, wb, phi, gamma=1.0)  # tau = 1, g = phi
    e_uu, e_dd, b00, b01, b10, b11 = want
    block = np.array([[e_uu, 0, 0, 0], [0, b00, b01, 0], [0, b10, b11, 0], [0, 0, 0, e_dd]])
    np.testing.assert_allclose(U, block, atol=EXACT)


def test_encounter_without_vacuum_on_bloch_vectors(rng):
    """conventions.md#the-encounter: without vacuum terms
    P_a' = cos^2 phi P_a + sin^2 phi P_b + sin phi cos phi (P_b x P_a) (and a <-> b), so P_a + P_b is kept."""
    Pa = rng.normal(size=(20, 3))
    Pb = rng.normal(size=(20, 3))
    Pa *= rng.uniform(0, 1, (20, 1)) / np.linalg.norm(Pa, axis=1, keepdims=True)
    Pb *= rng.uniform(0, 1, (20, 1)) / np.linalg.norm(Pb, axis=1, keepdims=True)
    gamma, g = 0.4, rng.uniform(0, 2, 20)
    c, s = np.cos(gamma * g)[:, None], np.sin(gamma * g)[:, None]
    want_a = c * c * Pa + s * s * Pb + s * c * np.cross(Pb, Pa)
    want_b = c * c * Pb + s * s * Pa + s * c * np.cross(Pa, Pb)
    a, b = encounter_bloch(Pa, Pb, 0.0, 0.0, g, gamma=gamma, theta=0.3)
    np.testing.assert_allclose(a, want_a, atol=EXACT)
    np.testing.assert_allclose(b, want_b, atol=EXACT)
    np.testing.assert_allclose(swap_map(Pa, Pb, gamma * g)[0], want_a, atol=EXACT)
    np.testing.assert_allclose(a + b, Pa + Pb, atol=EXACT)


# ----------------------------------------------------------------------------- conventions.md: the partial trace


def test_oile_step_is_the_partial_trace():
    """conventions.md#the-partial-trace: one step of the oile map on a pair is the exact two-body
    evolution followed by the partial traces rho_a' = tr_b[U (rho_a x rho_b) U^+], rho_b' = tr_a[...]."""
    theta, gamma, mu = 0.2, 0.3, 1.0
    P0 = np.array([[0.1, 0.5, 0.7], [-0.6, 0.2, -0.3]])
    vel = np.array([[0, 0, 1.0], [0.6, 0, -0.8]])
    sc = oile_q.Scenario(P0, [0.7, -0.2], vel, gamma=gamma, theta=theta, mu=mu)
    ds = oile_q.run(sc, "oile", steps=1)
    g = 1 - vel[0] @ vel[1]
    Bsig = sum(b * s for b, s in zip(b_vector(theta), SIGMA))
    H = (
        np.kron(-(0.7 / 2) * Bsig, np.eye(2))
        + np.kron(np.eye(2), -(-0.2 / 2) * Bsig)
        + (mu / 2) * g * sum(np.kron(s, s) for s in SIGMA)
    )
    U = scipy.linalg.expm(-1j * (gamma / mu) * H)
    rho = U @ np.kron(bloch_to_rho(P0[0]), bloch_to_rho(P0[1])) @ U.conj().T
    r = rho.reshape(2, 2, 2, 2)
    rho_a, rho_b = np.einsum("ijkj->ik", r), np.einsum("ijil->jl", r)
    np.testing.assert_allclose(ds.P.values[1], [rho_to_bloch(rho_a), rho_to_bloch(rho_b)], atol=EXACT)
    ra, rb = encounter_rho(bloch_to_rho(P0[0]), bloch_to_rho(P0[1]), U)
    np.testing.assert_allclose([ra, rb], [rho_a, rho_b], atol=EXACT)


# ----------------------------------------------------------------------------- conventions.md: scenarios


def test_foreground_meets_a_fresh_partner_in_state_Q_every_step():
    """conventions.md#foreground-and-ensemble-scenarios: the foreground neutrino meets a new
    background neutrino in state Q each step, g = 1 - vdotu, the same omega for both; one particle
    in the result."""
    P0, Q, gamma, vdotu, omega, theta = [0, 0, 1.0], [0.6, 0, 0.8], 0.2, 0.3, 0.5, 0.4
    fg = oile_q.Scenario.foreground(P0, Q, gamma=gamma, vdotu=vdotu, omega=omega, theta=theta)
    ds = oile_q.run(fg, "oile", steps=4)
    assert ds.sizes["particle"] == 1 and ds.attrs["scenario_kind"] == "foreground"
    P = np.array(P0)
    for k in range(1, 5):
        P, _ = encounter_bloch(P, Q, omega, omega, 1 - vdotu, gamma=gamma, theta=theta)
        np.testing.assert_allclose(ds.P.values[k, 0], P, atol=EXACT)


# ----------------------------------------------------------------------------- conventions.md: schedules


def test_schedules_as_stated():
    """conventions.md#schedules: matching pairs everyone once a step; round-robin meets every pair
    once in N - 1 steps and repeats; poisson pads with (-1, -1); seeds and chunks do not change a schedule."""
    n = 8
    m = generate("matching", n, 5, seed=3)
    assert m.shape == (5, n // 2, 2)
    assert all(sorted(step.ravel()) == list(range(n)) for step in m)
    rr = generate("round-robin", n, 2 * (n - 1))
    pairs = {tuple(sorted(p)) for step in rr[: n - 1] for p in step}
    assert len(pairs) == n * (n - 1) // 2
    np.testing.assert_array_equal(rr[: n - 1], rr[n - 1 :])
    po = generate("poisson", n, 50, seed=3, p=0.3)
    for step in po:
        used = step[step[:, 0] >= 0].ravel()
        assert len(set(used)) == len(used)
        assert np.all(step[step[:, 0] < 0] == -1)
    np.testing.assert_array_equal(generate("matching", n, 3, seed=3), m[:3])
    assert not np.array_equal(generate("matching", n, 5, seed=4), m)


def test_explicit_schedule_replays_a_named_one():
    """conventions.md#schedules: an explicit (steps, k, 2) array replays a named schedule exactly
    (with p for a Poisson one, whose steps last p gamma)."""
    sc = two_groups(n_e=3, n_x=3)
    for kind, p in (("matching", None), ("poisson", 0.4)):
        named = oile_q.run(sc, "oile", steps=30, schedule=kind, seed=9, p=p)
        pairs = generate(kind, sc.n, 30, seed=9, p=p)
        replay = oile_q.run(sc, "oile", steps=30, schedule=pairs, p=p)
        np.testing.assert_array_equal(replay.P.values, named.P.values)
        np.testing.assert_array_equal(replay.schedule_pairs.values, pairs)


# ----------------------------------------------------------------------------- conventions.md: conserved quantities


@pytest.mark.parametrize(
    "engine, kw",
    [
        ("oile", dict(schedule="matching", propagator="exact")),
        ("oile", dict(schedule="round-robin", propagator="split")),
        ("oile", dict(schedule="poisson", p=0.3, propagator="symmetric")),
        ("closed", dict(schedule="matching")),
        ("meanfield", ODE),
        ("master", ODE),
        ("exact", {}),
    ],
)
def test_conserved_quantities(engine, kw):
    """conventions.md#conserved-quantities: every ensemble engine keeps sum_a P_3 in the mass
    basis and |P_a| <= 1; the closed engines keep |psi|^2 = 1 and (exact) the energy."""
    sc = oile_q.Scenario(
        [[0, 0, 1.0], [0, 0, 1.0], [0, 0, -1.0], [0.6, 0, 0.8], [0, 0.5, 0], [0, 0, -0.3]],
        [0.5, 0.5, -0.3, 0.2, 0.9, -0.6],
        [[0, 0, 1.0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, -1.0], [0.6, 0, 0.8], [0, -0.8, 0.6]],
        gamma=0.1,
        theta=0.3,
    )
    ds = oile_q.run(sc, engine, t_max=3.0, seed=5, **kw)
    s3 = mass_p3_sum(ds).values
    tol = EXACT if engine in ("oile", "closed") else 1e-8
    np.testing.assert_allclose(s3, s3[0], atol=tol)
    assert float(purity(ds).max()) <= 1 + tol
    if engine in ("closed", "exact"):
        np.testing.assert_allclose(ds.norm, 1.0, atol=1e-10)
        np.testing.assert_allclose(ds.S3_total, s3, atol=1e-10)
    if engine == "exact":
        np.testing.assert_allclose(ds.energy, ds.energy[0], atol=1e-10)


@pytest.mark.parametrize("engine", ["oile", "closed", "meanfield", "master", "exact"])
def test_without_vacuum_the_total_polarization_is_kept(engine):
    """conventions.md#conserved-quantities: with every omega_a = 0, sum_a P_a (all components) is kept."""
    sc = oile_q.Scenario(
        [[0, 0, 1.0], [0.6, 0, 0.8], [0, 0.5, 0], [0, 0, -1.0]],
        [0.0, 0.0, 0.0, 0.0],
        [[0, 0, 1.0], [1.0, 0, 0], [0, 0.6, -0.8], [-0.8, 0, 0.6]],
        gamma=0.2,
        theta=0.3,
    )
    kw = ODE if engine in ("meanfield", "master") else {}
    P = oile_q.run(sc, engine, t_max=3.0, seed=2, **kw).P.values
    tol = 1e-8 if kw else 1e-10
    np.testing.assert_allclose(P.sum(1), P[0].sum(0)[None].repeat(len(P), 0), atol=tol)


def test_meanfield_keeps_the_product_state_energy():
    """conventions.md#conserved-quantities: the mean-field equations keep
    E = sum_a -(omega_a/2) B.P_a + mu/(N-1) sum_{a<b} (g_ab/2) P_a.P_b, the energy of the product
    state, equal to the exact engine's <H> at t = 0."""
    sc = two_groups(n_e=3, n_x=2, theta=0.3)
    ds = oile_q.run(sc, "meanfield", t_max=5.0, **ODE)
    g = 1 - sc.velocity @ sc.velocity.T
    np.fill_diagonal(g, 0.0)
    P = ds.P.values
    vac = -(sc.omega / 2) @ (P @ sc.B).T
    pair = np.einsum("ab,tai,tbi->t", g, P, P) / 2 * sc.mu / (sc.n - 1) / 2  # each pair counted twice
    E = vac + pair
    np.testing.assert_allclose(E, E[0], atol=1e-9)
    ex = oile_q.run(sc, "exact", times=[0.0])
    assert abs(ex.energy.values[0] - E[0] / sc.mu) < EXACT


def test_foreground_does_not_conserve_p3():
    """conventions.md#conserved-quantities: the foreground neutrino relaxes towards its background
    (paper I Sec. II), so its mass-basis P_3 is not conserved."""
    fg = oile_q.Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    p3 = mass_p3_sum(oile_q.run(fg, "oile", t_max=30)).values
    assert abs(p3[-1] - p3[0]) > 0.5


# ----------------------------------------------------------------------------- theory.md: master equations


def master_reference(sc, gamma, s, t_max, times):
    """docs/theory.md#the-master-equations written out with O(N^2) numpy sums and scipy's solve_ivp."""
    n, B, w = sc.n, sc.B, sc.omega / sc.mu
    g = 1 - sc.velocity @ sc.velocity.T
    np.fill_diagonal(g, 0.0)

    def rhs(_, y):
        P = y.reshape(n, 3)
        M = g @ P / (n - 1)
        MxP = np.cross(M, P)
        gMxP = g @ MxP / (n - 1)
        dec = (g**2).sum(1)[:, None] * P / (n - 1) - (g**2) @ P / (n - 1)
        out = np.cross(-w[:, None] * B + M, P) - gamma * dec
        out -= 0.5 * s * gamma * (np.cross(M, MxP) + np.cross(gMxP, P))
        return out.ravel()

    sol = solve_ivp(rhs, (0, t_max), sc.P0.ravel(), t_eval=times, method="DOP853", **ODE)
    return sol.y.T.reshape(len(times), n, 3)


@pytest.mark.parametrize("p", [None, 0.3])
def test_master_equation_as_written(p):
    """theory.md#the-master-equations: the g-weighted master equation (paper I Eq. 14 with the
    ensemble bracket), with s = 1 for every-step schedules and s = p for Poisson timing."""
    sc = two_groups(n_e=3, n_x=3, gamma=0.08, theta=0.3)
    times = np.linspace(0, 4.0, 5)
    kw = dict(schedule="poisson", p=p) if p else {}
    ds = oile_q.run(sc, "master", times=times, **ODE, **kw)
    want = master_reference(sc, sc.gamma, 1.0 if p is None else p, 4.0, times)
    np.testing.assert_allclose(ds.P.values, want, atol=1e-9)


def test_isotropic_master_equation_is_eq17():
    """theory.md#the-master-equations: isotropic=True is paper I Eq. (17), <P> over the whole
    ensemble: dP_a = (-w_a B + <P>) x P_a - (4/3) gamma (P_a - <P>) - (gamma/2) <P> x (<P> x P_a)."""
    sc = two_groups(n_e=4, n_x=2, gamma=0.05, theta=0.2)
    n, B, w, gamma = sc.n, sc.B, sc.omega / sc.mu, sc.gamma

    def rhs(_, y):
        P = y.reshape(n, 3)
        M = P.mean(0)
        out = np.cross(-w[:, None] * B + M, P) - (4 / 3) * gamma * (P - M) - 0.5 * gamma * np.cross(M, np.cross(M, P))
        return out.ravel()

    times = np.linspace(0, 5.0, 6)
    want = solve_ivp(rhs, (0, 5.0), sc.P0.ravel(), t_eval=times, method="DOP853", **ODE).y.T.reshape(-1, n, 3)
    ds = oile_q.run(sc, "master", times=times, isotropic=True, **ODE)
    np.testing.assert_allclose(ds.P.values, want, atol=1e-9)


def test_foreground_master_equation_eq8_closed_form():
    """theory.md#the-master-equations: with omega = 0, Q = (1, 0, 0) and P(0) = nu_e, Eq. (8) gives
    P(t) = (1 - e^{-gamma t}, -e^{-gamma t/2} sin t, e^{-gamma t/2} cos t) (units of mu)."""
    gamma = 0.1
    fg = oile_q.Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=gamma)
    times = np.linspace(0, 10, 11)
    ds = oile_q.run(fg, "master", times=times, **ODE)
    want = np.stack(
        [
            1 - np.exp(-gamma * times),
            -np.exp(-gamma * times / 2) * np.sin(times),
            np.exp(-gamma * times / 2) * np.cos(times),
        ],
        -1,
    )
    np.testing.assert_allclose(ds.P.values[:, 0], want, atol=1e-9)


def test_foreground_master_equation_with_vacuum():
    """theory.md#the-master-equations: for the foreground model with omega != 0 the partner's own
    vacuum precession adds -s (gamma g w / 2)(B x Q) x P, w = omega/mu."""
    P0, Q, gamma, vdotu, omega, theta, p = [0, 0, 1.0], [0.6, 0, 0.8], 0.1, 0.4, 0.7, 0.3, 0.5
    fg = oile_q.Scenario.foreground(P0, Q, gamma=gamma, vdotu=vdotu, omega=omega, theta=theta)
    B, g, Q = b_vector(theta), 1 - vdotu, np.array(Q)

    def rhs(_, P):
        return (
            np.cross(-omega * B + g * Q, P)
            - gamma * g * g * (P - Q)
            - 0.5 * p * gamma * g * g * np.cross(Q, np.cross(Q, P))
            - 0.5 * p * gamma * g * omega * np.cross(np.cross(B, Q), P)
        )

    times = np.linspace(0, 6, 7)
    want = solve_ivp(rhs, (0, 6), P0, t_eval=times, method="DOP853", **ODE).y.T
    ds = oile_q.run(fg, "master", times=times, schedule="poisson", p=p, **ODE)
    np.testing.assert_allclose(ds.P.values[:, 0], want, atol=1e-9)


# ----------------------------------------------------------------------------- theory.md: the misci flow


def test_misci_flow_as_written(rng):
    """theory.md#the-slow-flow and #purity-and-the-source-s_a: dc_a/dtau, dq_a^2/dtau and S_a of the
    g-weighted flow, with the phase averages E|P_b x P_a|^2 = n_a n_b - tr(Pi_a Pi_b) and
    E|M x P_a|^2 = |M|^2 n_a - M.Pi_a.M, Pi = c^2 h h^T + (q^2/2)(1 - h h^T), n = c^2 + q^2."""
    n, s = 7, 0.4
    V = rng.normal(size=(n, 3))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    omega = np.array([0.1, 0.2, 0.1, 0.35, 0.2, 0.1, 0.35])
    H = rng.normal(size=(3, 3))
    H /= np.linalg.norm(H, axis=1, keepdims=True)  # one axis per distinct frequency (sorted)
    c, q2 = rng.uniform(-0.8, 0.8, n), rng.uniform(0, 0.2, n)
    state = FlowState.build(V, omega, M3=0.1, weights="g", s=s, include_source=True)
    dc, dq2, S, M = flow_terms(state, c, q2, H)

    h = H[np.searchsorted(np.unique(omega), omega)]
    g = 1 - V @ V.T
    np.fill_diagonal(g, 0.0)
    avg = lambda w, X: w @ X / (n - 1)  # <w_ab X_b>_b
    P = c[:, None] * h
    Pi = c[:, None, None] ** 2 * np.einsum("ai,aj->aij", h, h) + (q2 / 2)[:, None, None] * (
        np.eye(3) - np.einsum("ai,aj->aij", h, h)
    )
    nn = c**2 + q2
    Ma = avg(g, P)
    g2 = avg(g**2, np.ones(n))
    Mxh2 = np.sum(np.cross(Ma, h) ** 2, 1)
    want_dc = -(g2 * c - np.sum(h * avg(g**2, P), 1)) + 0.5 * s * c * Mxh2
    trPP = np.einsum("aij,bji->ab", Pi, Pi)
    want_S = np.sum(g**2 * (np.outer(nn, nn) - trPP), 1) / (n - 1)
    want_S -= s * (np.sum(Ma**2, 1) * nn - np.einsum("ai,aij,aj->a", Ma, Pi, Ma))
    want_dq2 = (-2 * g2 + s * (np.sum(Ma**2, 1) - 0.5 * Mxh2)) * q2 + want_S
    np.testing.assert_allclose(M, Ma, atol=EXACT)
    np.testing.assert_allclose(dc, want_dc, atol=EXACT)
    np.testing.assert_allclose(S, want_S, atol=EXACT)
    np.testing.assert_allclose(dq2, want_dq2, atol=EXACT)
    assert np.all(want_S >= -EXACT)


# ----------------------------------------------------------------------------- results.md: the shared layout


def test_shared_result_layout():
    """results.md#the-shared-layout: P (time, particle, component) in the flavor basis, P0, the
    per-particle coordinates, and the attributes every engine's result carries."""
    sc = two_groups()
    ds = oile_q.run(sc, "oile", t_max=0.2, seed=3)
    assert ds.P.dims == ("time", "particle", "component")
    assert list(ds.component.values) == ["x", "y", "z"]
    assert ds.P0.dims == ("particle", "component")
    for name, dims in (("group", ("particle",)), ("omega", ("particle",)), ("velocity", ("particle", "component"))):
        assert ds[name].dims == dims
    for key in ("engine", "gamma", "mu", "theta", "scenario_kind", "version", "scenario", "options", "schedule"):
        assert key in ds.attrs
    assert ds.attrs["seed"] == 3 and ds.attrs["version"] == oile_q.__version__
    assert {"wall_s", "steps"} <= set(json.loads(ds.attrs["engine_stats"]))
    gm = group_means(ds, basis="mass")
    assert set(gm.data_vars) == {"mean", "min", "max", "abs_mean", "mean_abs"}
