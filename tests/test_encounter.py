"""The two-body encounter: closed forms against the 4x4 propagator (exact algebra, 1e-12)."""

import numpy as np
import pytest
import scipy.linalg
from conftest import random_bloch

from oile_q.conventions import PAULI, b_vector, bloch_to_rho, flavor_to_mass, mass_to_flavor, rho_to_bloch
from oile_q.encounter import (
    PROPAGATORS,
    SWAP,
    encounter_bloch,
    encounter_rho,
    pair_hamiltonian,
    pair_propagator,
    swap_map,
    swap_power,
)


def test_mass_basis_rotation_maps_B_to_z():
    for theta in (0.0, 1e-3, 0.3, -0.7):
        np.testing.assert_allclose(flavor_to_mass(b_vector(theta), theta), [0, 0, 1], atol=1e-15)
        P = np.array([0.3, -0.2, 0.5])
        np.testing.assert_allclose(mass_to_flavor(flavor_to_mass(P, theta), theta), P, atol=1e-15)


def test_rho_bloch_round_trip(rng):
    P = random_bloch(rng, 10)
    rho = bloch_to_rho(P)
    np.testing.assert_allclose(np.trace(rho, axis1=1, axis2=2), 1.0, atol=1e-15)
    np.testing.assert_allclose(rho_to_bloch(rho), P, atol=1e-15)
    # nu_e is the upper component: P = (0, 0, 1) <-> |0><0|
    np.testing.assert_allclose(bloch_to_rho([0, 0, 1]), [[1, 0], [0, 0]])


def test_sigma_dot_sigma_is_two_swap_minus_one():
    ss = sum(np.kron(PAULI[i], PAULI[i]) for i in range(3))
    np.testing.assert_allclose(ss, 2 * SWAP - np.eye(4), atol=1e-15)
    phi = 0.37
    np.testing.assert_allclose(swap_power(phi), scipy.linalg.expm(-1j * phi * SWAP), atol=1e-14)


@pytest.mark.parametrize("propagator", PROPAGATORS)
def test_closed_form_matches_4x4_propagator(rng, propagator):
    n = 200
    Pa, Pb = random_bloch(rng, n), random_bloch(rng, n)
    wa, wb = rng.normal(size=n) * 2, rng.normal(size=n) * 2
    g = rng.uniform(0, 2, n)
    gamma, theta, mu = 0.7, 0.4, 1.3
    a, b = encounter_bloch(Pa, Pb, wa, wb, g, gamma=gamma, theta=theta, mu=mu, propagator=propagator)
    err = 0.0
    for i in range(n):
        U = pair_propagator(wa[i], wb[i], g[i], gamma=gamma, theta=theta, mu=mu, propagator=propagator)
        ra, rb = encounter_rho(bloch_to_rho(Pa[i]), bloch_to_rho(Pb[i]), U)
        err = max(err, np.abs(rho_to_bloch(ra) - a[i]).max(), np.abs(rho_to_bloch(rb) - b[i]).max())
    assert err < 1e-12


def test_exact_propagator_is_expm_of_pair_hamiltonian():
    wa, wb, g, gamma, theta, mu = 0.3, -1.1, 1.4, 0.2, 0.25, 2.0
    H = pair_hamiltonian(wa, wb, g, theta=theta, mu=mu)
    U = pair_propagator(wa, wb, g, gamma=gamma, theta=theta, mu=mu)
    U_ref = scipy.linalg.expm(-1j * H * gamma / mu)
    # equal up to a global phase (sigma.sigma = 2 SWAP - 1)
    phase = U_ref[0, 0] / U[0, 0]
    np.testing.assert_allclose(abs(phase), 1.0, atol=1e-13)
    np.testing.assert_allclose(U * phase, U_ref, atol=1e-13)


def test_swap_map_closed_form(rng):
    Pa, Pb = random_bloch(rng, 100), random_bloch(rng, 100)
    phi = rng.uniform(0, np.pi, 100)
    a, b = swap_map(Pa, Pb, phi)
    a2, b2 = encounter_bloch(Pa, Pb, 0.0, 0.0, phi / 0.5, gamma=0.5)  # phi = gamma g
    np.testing.assert_allclose(a, a2, atol=1e-13)
    np.testing.assert_allclose(b, b2, atol=1e-13)
    np.testing.assert_allclose(a + b, Pa + Pb, atol=1e-14)  # P_a + P_b conserved without vacuum


def test_vacuum_encounter_conserves_mass_basis_p3_sum(rng):
    Pa, Pb = random_bloch(rng, 100), random_bloch(rng, 100)
    theta = 0.3
    a, b = encounter_bloch(
        Pa, Pb, rng.normal(size=100), rng.normal(size=100), rng.uniform(0, 2, 100), gamma=0.8, theta=theta
    )
    before = flavor_to_mass(Pa, theta)[:, 2] + flavor_to_mass(Pb, theta)[:, 2]
    after = flavor_to_mass(a, theta)[:, 2] + flavor_to_mass(b, theta)[:, 2]
    np.testing.assert_allclose(after, before, atol=1e-14)
    assert np.all(np.linalg.norm(a, axis=1) <= 1 + 1e-14)


def test_split_is_exact_for_equal_frequencies(rng):
    Pa, Pb = random_bloch(rng, 50), random_bloch(rng, 50)
    w = rng.normal(size=50)
    ex = encounter_bloch(Pa, Pb, w, w, 1.3, gamma=0.4, theta=0.2)
    for prop in ("split", "symmetric"):
        sp = encounter_bloch(Pa, Pb, w, w, 1.3, gamma=0.4, theta=0.2, propagator=prop)
        np.testing.assert_allclose(sp[0], ex[0], atol=1e-13)


def test_split_orders(rng):
    """Per encounter, split errs at O(tau^2) and symmetric at O(tau^3) for unequal omega."""
    Pa, Pb = random_bloch(rng, 20, pure=True), random_bloch(rng, 20, pure=True)
    errs = {"split": [], "symmetric": []}
    gammas = [0.08, 0.04, 0.02]
    for gamma in gammas:
        ex = encounter_bloch(Pa, Pb, 1.0, -1.5, 1.2, gamma=gamma, theta=0.3)[0]
        for prop in errs:
            errs[prop].append(
                np.abs(encounter_bloch(Pa, Pb, 1.0, -1.5, 1.2, gamma=gamma, theta=0.3, propagator=prop)[0] - ex).max()
            )
    slope = {k: np.polyfit(np.log(gammas), np.log(v), 1)[0] for k, v in errs.items()}
    assert 1.9 < slope["split"] < 2.1
    assert 2.9 < slope["symmetric"] < 3.1
