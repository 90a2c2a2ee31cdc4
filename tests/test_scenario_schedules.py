"""Scenario construction and the schedules."""

import numpy as np

from oile_q import Scenario
from oile_q.conventions import flavor_to_mass
from oile_q.schedules import generate, make_schedule


def test_from_groups_builds_counts_flavors_and_velocities():
    groups = [
        dict(name="nu_e", count=6, flavor="e", omega=0.1),
        dict(name="nu_x", count=4, flavor="x", omega=0.2, velocity=[0, 0, 1]),
    ]
    sc = Scenario.from_groups(groups, gamma=0.01, theta=1e-3, seed=3)
    assert sc.n == 10 and sc.groups == ["nu_e", "nu_x"]
    np.testing.assert_allclose(sc.P0[:6], np.tile([0, 0, 1], (6, 1)))
    np.testing.assert_allclose(sc.P0[6:], np.tile([0, 0, -1], (4, 1)))
    np.testing.assert_allclose(np.linalg.norm(sc.velocity, axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(sc.velocity[6:], np.tile([0, 0, 1], (4, 1)))
    again = Scenario.from_groups(groups, gamma=0.01, theta=1e-3, seed=3)
    assert again == sc  # seeded velocities are reproducible


def test_mass_basis_initial_vectors():
    theta = 5e-4
    sc = Scenario([[0, 0, 1], [0, 0, -1]], [0.1, 0.2], [[0, 0, 1], [1, 0, 0]], gamma=0.1, theta=theta, basis="mass")
    np.testing.assert_allclose(sc.P0_mass, [[0, 0, 1], [0, 0, -1]], atol=1e-15)
    # a flavor state nu_e has a Bloch angle 2 theta from the mass axis
    e = flavor_to_mass([0, 0, 1], theta)
    np.testing.assert_allclose(np.arctan2(e[0], e[2]), 2 * theta, atol=1e-15)


def test_from_toml_group_foreground_and_particles(tmp_path):
    (tmp_path / "g.toml").write_text(
        'gamma = 0.1\ntheta = 0.01\nseed = 2\n[[group]]\nname = "a"\ncount = 3\nflavor = "e"\nomega = 1.0\n'
        '[[group]]\nname = "b"\ncount = 3\nP = [0.5, 0, 0]\nbasis = "mass"\n[run]\nsteps = 10\n'
    )
    sc = Scenario.from_toml(tmp_path / "g.toml")
    assert sc.n == 6 and sc.gamma == 0.1
    np.testing.assert_allclose(sc.P0_mass[3], [0.5, 0, 0], atol=1e-15)
    (tmp_path / "f.toml").write_text("gamma = 1.0\n[foreground]\nP = [0, 0, 1]\nQ = [1, 0, 0]\nvdotu = 0.5\n")
    fg = Scenario.from_toml(tmp_path / "f.toml")
    assert fg.kind == "foreground" and fg.background["vdotu"] == 0.5
    (tmp_path / "p.toml").write_text(
        "gamma = 0.2\n[particles]\nP0 = [[0, 0, 1], [1, 0, 0]]\nomega = [0.1, -0.1]\n"
        'velocity = [[0, 0, 1], [0, 1, 0]]\ngroup = ["u", "v"]\n'
    )
    pt = Scenario.from_toml(tmp_path / "p.toml")
    assert pt.groups == ["u", "v"]
    assert Scenario.from_json(pt.to_json()) == pt


def test_matching_is_perfect_and_uniform():
    pairs = generate("matching", 6, 30000, seed=1)
    assert pairs.shape == (30000, 3, 2)
    np.testing.assert_array_equal(np.sort(pairs.reshape(30000, 6), axis=1), np.tile(np.arange(6), (30000, 1)))
    # particle 0's partner is uniform over the 5 others: counts within 5 standard errors
    partner = np.where(pairs[..., 0] == 0, pairs[..., 1], np.where(pairs[..., 1] == 0, pairs[..., 0], -1)).max(1)
    counts = np.bincount(partner, minlength=6)[1:]
    expected, se = 30000 / 5, np.sqrt(30000 * 0.2 * 0.8)
    assert np.all(np.abs(counts - expected) < 5 * se), counts


def test_round_robin_meets_every_pair_once_per_round():
    n = 8
    pairs = generate("round-robin", n, n - 1)
    seen = {tuple(sorted(p)) for step in pairs for p in step}
    assert len(seen) == n * (n - 1) // 2
    for step in pairs:
        assert sorted(step.ravel().tolist()) == list(range(n))
    np.testing.assert_array_equal(generate("round-robin", n, 2 * (n - 1))[n - 1 :], pairs)


def test_poisson_participation_probability():
    n, steps, p = 21, 20000, 0.3
    pairs = generate("poisson", n, steps, seed=4, p=p)
    used = pairs[pairs >= 0]
    rate = np.bincount(used, minlength=n) / steps
    se = np.sqrt(p * (1 - p) / steps)
    assert np.all(np.abs(rate - p) < 5 * se), rate
    for step in pairs[:200]:
        u = step[step >= 0]
        assert np.unique(u).size == u.size


def test_schedules_are_chunk_invariant():
    s = make_schedule("matching", 10, seed=12)
    whole = s.chunk(0, 50)
    np.testing.assert_array_equal(np.concatenate([s.chunk(0, 17), s.chunk(17, 33)]), whole)
    s = make_schedule("poisson", 10, seed=12, p=0.4)
    np.testing.assert_array_equal(s.chunk(20, 5), s.chunk(0, 25)[20:])


def test_seed_is_drawn_and_recorded_when_absent():
    import oile_q

    sc = Scenario.from_groups([dict(count=4, flavor="e")], gamma=0.1, seed=0)
    a = oile_q.run(sc, "oile", steps=5)
    b = oile_q.run(sc, "oile", steps=5, seed=int(a.attrs["seed"]))
    assert np.array_equal(a.P.values, b.P.values)
