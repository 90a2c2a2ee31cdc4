"""The discrete OILE map: closed forms, conservation laws, limits and replay."""

import numpy as np
import pytest
from conftest import random_bloch

from oile_q import Scenario, run
from oile_q.encounter import encounter_bloch
from oile_q.results import mass_basis, mass_p3_sum, purity
from oile_q.schedules import generate


def bipolar(n=20, gamma=0.1, theta=0.2, seed=1, w=(0.5, -0.8)):
    return Scenario.from_groups(
        [
            dict(name="e", count=n * 6 // 10, flavor="e", omega=w[0]),
            dict(name="x", count=n - n * 6 // 10, flavor="x", omega=w[1]),
        ],
        gamma=gamma,
        theta=theta,
        seed=seed,
    )


@pytest.mark.parametrize("vdotu", [0.0, 0.4, -0.9])
def test_foreground_without_vacuum_matches_closed_form(vdotu):
    P0, Q, gamma = np.array([0.0, 0.0, 1.0]), np.array([0.6, -0.2, 0.3]), 0.3
    sc = Scenario.foreground(P0, Q, gamma=gamma, vdotu=vdotu)
    ds = run(sc, "oile", steps=200)
    phi = gamma * (1 - vdotu)
    c, s = np.cos(phi), np.sin(phi)
    P = P0.copy()
    ref = [P]
    for _ in range(200):
        P = c * c * P + s * s * Q + s * c * np.cross(Q, P)
        ref.append(P)
    np.testing.assert_allclose(ds.P.values[:, 0], np.array(ref), atol=1e-12)
    np.testing.assert_allclose(ds.time.values, gamma * np.arange(201), atol=1e-12)


def test_foreground_with_vacuum_matches_pairwise_encounters():
    sc = Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.2, vdotu=0.2, omega=0.7, theta=0.3)
    ds = run(sc, "oile", steps=50)
    P = sc.P0[0]
    for _ in range(50):
        P = encounter_bloch(P, sc.background["Q"], 0.7, 0.7, 0.8, gamma=0.2, theta=0.3)[0]
    np.testing.assert_allclose(ds.P.values[-1, 0], P, atol=1e-12)


@pytest.mark.parametrize("schedule,p", [("matching", None), ("round-robin", None), ("poisson", 0.3)])
def test_long_run_conserves_mass_p3_and_purity_bound(schedule, p):
    sc = bipolar(n=30, gamma=0.2, theta=0.4)
    ds = run(sc, "oile", steps=5000, schedule=schedule, seed=4, p=p)
    p3 = mass_p3_sum(ds).values
    np.testing.assert_allclose(p3, p3[0], atol=1e-10)
    assert float(purity(ds).max()) <= 1 + 1e-12
    assert float(purity(ds).isel(time=-1).max()) < 0.99  # it did decohere


def test_no_vacuum_conserves_total_polarisation(rng):
    P0 = random_bloch(rng, 16)
    sc = Scenario(P0, np.zeros(16), random_bloch(rng, 16, pure=True), gamma=0.3)
    ds = run(sc, "oile", steps=300, seed=2)
    total = ds.P.sum("particle").values
    np.testing.assert_allclose(total, np.broadcast_to(total[0], total.shape), atol=1e-12)


def test_ensemble_step_matches_pairwise_encounters(rng):
    sc = bipolar(n=10, gamma=0.3, theta=0.25)
    pairs = generate("matching", 10, 3, seed=9)
    ds = run(sc, "oile", schedule=pairs, steps=3)
    P = sc.P0.copy()
    V, w = sc.velocity, sc.omega
    for step in pairs:
        for a, b in step:
            P[a], P[b] = encounter_bloch(P[a], P[b], w[a], w[b], 1 - V[a] @ V[b], gamma=0.3, theta=0.25)
    np.testing.assert_allclose(ds.P.values[-1], P, atol=1e-12)


def test_poisson_unpaired_particles_precess_freely():
    sc = Scenario([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [1.0, 2.0, 3.0], [[0, 0, 1]] * 3, gamma=0.1)
    pairs = np.full((4, 1, 2), -1)
    ds = run(sc, "oile", schedule=pairs, steps=4)
    # theta = 0: B = z, dP/dt = -omega z x P: rotation by -omega t
    t = 0.4
    for a, w in enumerate([1.0, 2.0, 3.0]):
        P0 = sc.P0[a]
        c, s = np.cos(-w * t), np.sin(-w * t)
        np.testing.assert_allclose(
            ds.P.values[-1, a], [c * P0[0] - s * P0[1], s * P0[0] + c * P0[1], P0[2]], atol=1e-13
        )


@pytest.mark.parametrize("schedule,p", [("matching", None), ("poisson", 0.25)])
def test_replayed_schedule_is_bit_identical(schedule, p):
    sc = bipolar(n=24)
    a = run(sc, "oile", steps=120, schedule=schedule, seed=77, p=p)
    pairs = generate(schedule, 24, 120, seed=77, p=p)
    b = run(sc, "oile", steps=120, schedule=pairs, p=p)
    assert np.array_equal(a.P.values, b.P.values)
    assert np.array_equal(a.time.values, b.time.values)
    assert a.attrs["seed"] == 77 and b.attrs["schedule"] == "explicit"
    np.testing.assert_array_equal(b.schedule_pairs.values, pairs)


def test_pair_table_path_equals_direct_path():
    """Long runs at small N use precomputed pair coefficients; the result must not change."""
    from oile_q.engines import oile as engines

    sc = bipolar(n=8, gamma=0.05)
    a = run(sc, "oile", steps=400, seed=3)  # 1600 encounters > 4 N^2: table path
    old = engines.PAIR_TABLE_MAX_N
    engines.PAIR_TABLE_MAX_N = 0
    try:
        b = run(sc, "oile", steps=400, seed=3)
    finally:
        engines.PAIR_TABLE_MAX_N = old
    np.testing.assert_allclose(a.P.values, b.P.values, atol=1e-12)


def test_chunking_does_not_change_the_run():
    from oile_q.engines import oile as engines

    sc = bipolar(n=12)
    a = run(sc, "oile", steps=50, seed=5, schedule="poisson", p=0.5)
    old = engines.CHUNK_ENCOUNTERS
    engines.CHUNK_ENCOUNTERS = 7
    try:
        b = run(sc, "oile", steps=50, seed=5, schedule="poisson", p=0.5)
    finally:
        engines.CHUNK_ENCOUNTERS = old
    assert np.array_equal(a.P.values, b.P.values)


def test_oile_converges_to_meanfield_linearly_in_gamma():
    """At fixed mu t the deterministic (round-robin) OILE map approaches the mean field with
    an error proportional to gamma (decoherence and the product-formula error are O(gamma))."""
    T = 2.0
    errs, gammas = [], [0.04, 0.02, 0.01, 0.005]
    for gamma in gammas:
        sc = bipolar(n=8, gamma=gamma, theta=0.3, w=(1.0, -0.5))
        o = run(sc, "oile", times=[T], schedule="round-robin")
        m = run(sc, "meanfield", times=[T], schedule="round-robin")
        errs.append(float(np.abs(o.P - m.P).max()))
    slope = np.polyfit(np.log(gammas), np.log(errs), 1)[0]
    assert 0.9 < slope < 1.1, (errs, slope)
    assert errs[-1] < 0.05


def test_foreground_converges_to_meanfield_linearly_in_gamma():
    errs, gammas = [], [0.02, 0.01, 0.005]
    for gamma in gammas:
        sc = Scenario.foreground([0, 0, 1], [0.8, 0, 0.2], gamma=gamma, omega=0.5, theta=0.2)
        errs.append(float(np.abs(run(sc, "oile", times=[3.0]).P - run(sc, "meanfield", times=[3.0]).P).max()))
    slope = np.polyfit(np.log(gammas), np.log(errs), 1)[0]
    assert 0.95 < slope < 1.05, (errs, slope)


def test_relaxation_to_mass_basis_fixed_point():
    """Paper I Eq. (19): for gamma mu t >> 1 every P_a -> (0, 0, <P_3>) in the mass basis."""
    sc = bipolar(n=20, gamma=0.2, theta=0.3)
    ds = run(sc, "oile", times=[0.0, 150.0], seed=11)  # gamma mu t = 30
    Pm = mass_basis(ds).values
    p3 = Pm[0, :, 2].mean()
    target = np.array([0.0, 0.0, p3])
    assert abs(p3) > 0.1  # a non-trivial fixed point
    np.testing.assert_allclose(Pm[-1], np.broadcast_to(target, Pm[-1].shape), atol=1e-6)


def test_times_are_rounded_to_step_ends():
    sc = bipolar(n=4, gamma=0.1)
    ds = run(sc, "oile", times=[0.0, 0.26, 1.0], seed=1)
    np.testing.assert_allclose(ds.time.values, [0.0, 0.3, 1.0])
    ds = run(sc, "oile", t_max=1.0, seed=1)
    assert ds.sizes["time"] == 11
    long = run(sc, "oile", steps=20_000, seed=1)
    assert long.sizes["time"] == 1001  # long runs record a bounded number of times
