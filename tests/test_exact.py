"""The exact and closed engines (oile_q.exact): analytic two-neutrino solution, dense
scipy.linalg.expm, QuSpin's own builder and full basis, conservation laws, the foreground
identity closed == oile, gamma -> 0 convergence of closed to exact, and the short-time
mean-field limit."""

import json

import numpy as np
import pytest
import scipy.linalg
from conftest import random_bloch

from oile_q import Scenario, run
from oile_q.conventions import PAULI, b_vector, flavor_to_mass
from oile_q.encounter import pair_propagator
from oile_q.schedules import generate

pytest.importorskip("quspin")

from oile_q.exact import Model, estimate_bytes, largest_n, quspin_hamiltonian, sector_matrix, spin_basis  # noqa: E402
from oile_q.exact.hamiltonian import basis_states  # noqa: E402

# ----------------------------------------------------------------------------- references


def pure_amplitudes(P):
    """(|0>, |1>) amplitudes of the pure qubit state with unit Bloch vector P (|0> = +z)."""
    x, y, z = P / np.linalg.norm(P)
    th, ph = np.arccos(np.clip(z, -1, 1)), np.arctan2(y, x)
    return np.array([np.cos(th / 2), np.exp(1j * ph) * np.sin(th / 2)])


def op_on(n, a, m):
    mats = [np.eye(2)] * n
    mats[a] = m
    out = np.array([[1.0 + 0j]])
    for x in mats:
        out = np.kron(out, x)
    return out


def dense_hamiltonian(sc):
    """H / mu in the FLAVOR basis from Kronecker products (independent of the engine)."""
    n = sc.n
    bs = np.einsum("i,ijk->jk", b_vector(sc.theta), PAULI)
    H = sum(-(sc.omega[a] / sc.mu / 2) * op_on(n, a, bs) for a in range(n))
    for a in range(n):
        for b in range(a + 1, n):
            g = 1 - sc.velocity[a] @ sc.velocity[b]
            H = H + g / (2 * (n - 1)) * sum(op_on(n, a, PAULI[i]) @ op_on(n, b, PAULI[i]) for i in range(3))
    return H


def dense_bloch(rho, n):
    """One-body Bloch vectors of an N-qubit density matrix (partial traces by reshaping)."""
    r = rho.reshape((2,) * (2 * n))
    out = []
    for a in range(n):
        t = np.moveaxis(r, [a, n + a], [0, 1]).reshape(2, 2, 2 ** (n - 1), 2 ** (n - 1))
        ra = np.einsum("ijkk->ij", t)
        out.append([np.trace(ra @ PAULI[i]).real for i in range(3)])
    return np.array(out)


def dense_exact(sc, times):
    """Flavor Bloch vectors (time, N, 3) of exp(-iHt) rho0 exp(iHt) with dense expm; rho0 the
    product of the (possibly mixed) one-body states."""
    n = sc.n
    H = dense_hamiltonian(sc)
    rho = np.array([[1.0 + 0j]])
    for P in sc.P0:
        rho = np.kron(rho, 0.5 * (np.eye(2) + np.einsum("i,ijk->jk", P, PAULI)))
    out = []
    for t in times:
        U = scipy.linalg.expm(-1j * H * t)
        out.append(dense_bloch(U @ rho @ U.conj().T, n))
    return np.array(out)


def two_neutrino(P1, P2, w1, w2, g, theta, t):
    """Analytic N = 2 solution (mu = 1) in the mass basis: H = -(w1/2) Z1 - (w2/2) Z2 +
    g SWAP - g/2; |uu>, |dd> pick up phases, {|ud>, |du>} is a two-level system."""
    a, b = (pure_amplitudes(flavor_to_mass(P, theta)) for P in (P1, P2))
    psi = np.kron(a, b)  # |uu>, |ud>, |du>, |dd>
    d = (w1 - w2) / 2
    W = np.hypot(d, g)
    out = np.empty(4, complex)
    out[0] = np.exp(-1j * (-(w1 + w2) / 2 + g / 2) * t) * psi[0]
    out[3] = np.exp(-1j * ((w1 + w2) / 2 + g / 2) * t) * psi[3]
    blk = np.exp(1j * g * t / 2) * (np.cos(W * t) * np.eye(2) - 1j * np.sin(W * t) / W * np.array([[-d, g], [g, d]]))
    out[1:3] = blk @ psi[1:3]
    rho = np.outer(out, out.conj())
    return dense_bloch(rho, 2)  # mass basis


def ensemble(n, rng, *, theta=0.3, pure=True, omega_scale=1.0):
    return Scenario(
        random_bloch(rng, n, pure=pure),
        omega_scale * rng.normal(size=n),
        random_bloch(rng, n, pure=True),
        gamma=0.1,
        theta=theta,
    )


# ----------------------------------------------------------------------------- Hamiltonian


@pytest.mark.parametrize("nup", [None, 0, 2, 3, 5])
def test_fast_builder_equals_quspin_builder(rng, nup):
    sc = ensemble(5, rng)
    model = Model(sc)
    basis = spin_basis(5, nup)
    ref = quspin_hamiltonian(model, basis).tocsr()
    fast = sector_matrix(model, basis_states(basis))
    assert fast.shape == ref.shape
    assert abs(fast - ref).max() < 1e-14


def test_mass_basis_hamiltonian_is_the_flavor_one(rng):
    """QuSpin's full-basis matrix equals the dense flavor-basis H after the basis change."""
    sc = ensemble(4, rng)
    Hq = quspin_hamiltonian(Model(sc), spin_basis(4)).toarray()
    # QuSpin's full basis index i is the state 2^N-1-i with '1' = up = mass state nu_1:
    # index 0 = all up, i.e. the Kronecker order with |0> = up.
    th = sc.theta
    nu1 = np.array([np.cos(th), -np.sin(th)])  # nu_1 = cos th nu_e - sin th nu_x
    nu2 = np.array([np.sin(th), np.cos(th)])
    R = np.stack([nu1, nu2], axis=1)  # columns: mass states in flavor components
    Rn = R
    for _ in range(3):
        Rn = np.kron(Rn, R)
    Hm = Rn.conj().T @ dense_hamiltonian(sc) @ Rn
    assert abs(Hq - Hm).max() < 1e-12


# ----------------------------------------------------------------------------- exact engine


@pytest.mark.parametrize(
    "w1,w2,g,theta,method",
    [
        (0.0, 0.0, 1.0, 0.0, "chebyshev"),
        (0.7, 0.7, 0.4, 0.3, "chebyshev"),
        (1.1, -0.6, 1.7, 0.2, "chebyshev"),
        (1.1, -0.6, 1.7, 0.2, "expm"),
    ],
)
def test_two_neutrinos_match_analytic_solution(rng, w1, w2, g, theta, method):
    P0 = random_bloch(rng, 2, pure=True)
    vz = np.array([0.0, 0.0, 1.0])
    v2 = np.array([np.sqrt(1 - (1 - g) ** 2), 0.0, 1 - g])
    sc = Scenario(P0, [w1, w2], [vz, v2], gamma=0.05, theta=theta)
    times = np.linspace(0, 3, 13)
    ds = run(sc, "exact", times=times, method=method)
    from oile_q.results import mass_basis

    got = mass_basis(ds).values
    ref = np.array([two_neutrino(P0[0], P0[1], w1, w2, g, theta, t) for t in times])
    assert np.abs(got - ref).max() < 1e-10
    if w1 == w2 == 0:  # docs/conventions.md closed form: P_a' = c^2 P_a + s^2 P_b + s c P_b x P_a
        phi = g * times[:, None]
        c, s = np.cos(phi), np.sin(phi)
        Pa = c**2 * P0[0] + s**2 * P0[1] + s * c * np.cross(P0[1], P0[0])
        assert np.abs(ds.P.values[:, 0] - Pa).max() < 1e-10


@pytest.mark.parametrize("n,method", [(3, "chebyshev"), (6, "chebyshev"), (8, "chebyshev"), (3, "expm"), (8, "expm")])
def test_exact_matches_dense_expm(rng, n, method):
    sc = ensemble(n, rng)
    times = [0.0, 0.37, 1.0, 2.5]
    ds = run(sc, "exact", times=times, method=method)
    assert np.abs(ds.P.values - dense_exact(sc, times)).max() < 1e-10


def test_sector_by_sector_equals_full_basis(rng):
    sc = ensemble(7, rng, theta=0.4)
    kw = dict(times=[0.0, 0.7, 1.5])
    sectors = run(sc, "exact", method="expm", **kw)
    full = run(sc, "exact", method="expm", basis="full", builder="quspin", **kw)
    cheb = run(sc, "exact", **kw)
    assert json.loads(sectors.attrs["engine_stats"])["sectors"] == 8
    assert np.abs(sectors.P.values - full.P.values).max() < 1e-12
    assert np.abs(cheb.P.values - full.P.values).max() < 1e-11


def test_conserved_quantities_stay_constant(rng):
    sc = ensemble(8, rng, omega_scale=2.0)
    ds = run(sc, "exact", times=np.linspace(0, 30, 16))
    for name in ("S3_total", "energy", "norm"):
        x = ds[name].values
        assert np.ptp(x) < 1e-10, name
    assert ds.norm.values[0] == pytest.approx(1.0, abs=1e-14)
    # S3 is the mass-basis sum that every engine conserves
    from oile_q.results import mass_p3_sum

    assert np.abs(mass_p3_sum(ds).values - ds.S3_total.values).max() < 1e-12
    assert ds.entropy.values[-1].max() > 0.1  # it did entangle


def test_mixed_initial_states_are_exact_branch_sums(rng):
    sc = ensemble(4, rng, pure=False)
    times = [0.0, 0.8, 2.0]
    ds = run(sc, "exact", times=times)
    assert np.abs(ds.P.values - dense_exact(sc, times)).max() < 1e-10
    assert json.loads(ds.attrs["engine_stats"])["branches"] == 16
    np.testing.assert_allclose(ds.purity.values[0], 0.5 * (1 + np.sum(sc.P0**2, axis=1)), atol=1e-12)
    with pytest.raises(ValueError, match="mixed"):
        run(sc, "exact", times=times, mixed="refuse")
    with pytest.raises(ValueError, match="max_branches"):
        run(sc, "exact", times=times, max_branches=8)


def test_pair_observables_of_two_spins():
    """N = 2, omega = 0, mass states up (a) and down (b): psi = cos phi |ud> - i sin phi |du>,
    concurrence |sin 2 phi|, mutual information 2 h((1 + cos 2 phi)/2) bits, phi = g t."""
    sc = Scenario([[0, 0, 1], [0, 0, -1]], [0, 0], [[0, 0, 1], [1, 0, 0]], gamma=0.1)
    times = np.array([0.0, 0.2, np.pi / 4, 1.3])
    ds = run(sc, "exact", times=times, pairs=[(0, 1)])
    phi = times  # g = 1
    np.testing.assert_allclose(ds.concurrence.values[:, 0], np.abs(np.sin(2 * phi)), atol=1e-7)
    p = np.cos(phi) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nan_to_num(p * np.log2(p)) - np.nan_to_num((1 - p) * np.log2(1 - p))
    np.testing.assert_allclose(ds.mutual_information.values[:, 0], 2 * h, atol=1e-10)
    np.testing.assert_allclose(ds.entropy.values[:, 0], h, atol=1e-10)


def test_result_round_trips_through_netcdf(tmp_path, rng):
    from oile_q.results import load, save

    sc = ensemble(4, rng)
    ds = run(sc, "exact", t_max=0.3, pairs="all")
    back = load(save(ds, tmp_path / "exact.nc"))
    assert back.concurrence.shape == (4, 6)
    np.testing.assert_array_equal(back.P.values, ds.P.values)
    assert back.attrs["engine"] == "exact"


def test_default_grid_is_the_step_grid_and_times_are_kept(rng):
    sc = ensemble(4, rng)
    ds = run(sc, "exact", t_max=0.5)
    ref = run(sc, "oile", t_max=0.5, seed=1)
    np.testing.assert_array_equal(ds.time.values, ref.time.values)
    ds = run(sc, "exact", times=[0.0, 0.123, 0.4])
    np.testing.assert_array_equal(ds.time.values, [0.0, 0.123, 0.4])


def test_exact_agrees_with_meanfield_at_short_times_better_for_larger_n():
    """Product initial state, mu t <= 0.4 (well before the log N onset): the deviation from
    mean field is small and shrinks with N (measured: 0.055, 0.045, 0.019 for N = 4, 8, 12)."""

    def scen(n):
        return Scenario.from_groups(
            [
                dict(name="a", count=n // 2, P=[0.6, 0.0, 0.8], omega=0.5),
                dict(name="b", count=n // 2, P=[0.0, 0.6, -0.8], omega=-0.3),
            ],
            gamma=0.05,
            theta=0.2,
            seed=7,
        )

    times = np.linspace(0, 0.4, 5)
    dev = []
    for n in (4, 8, 12):
        sc = scen(n)
        ex = run(sc, "exact", times=times).P.values
        mf = run(sc, "meanfield", times=times).P.values
        dev.append(np.abs(ex - mf).max())
    assert dev[0] < 0.08
    assert dev[2] < 0.5 * dev[0] and dev[2] < 0.03, dev


# ----------------------------------------------------------------------------- closed engine


@pytest.mark.parametrize("propagator", ["exact", "split", "symmetric"])
@pytest.mark.parametrize("kw", [dict(), dict(omega=0.8, theta=0.3, vdotu=0.4), dict(omega=-1.3, theta=0.1, vdotu=-0.7)])
def test_closed_foreground_equals_oile(propagator, kw):
    sc = Scenario.foreground([0.6, 0.0, 0.8], [0.0, 0.5, -0.5], gamma=0.2, **kw)
    a = run(sc, "closed", steps=300, propagator=propagator)
    b = run(sc, "oile", steps=300, propagator=propagator)
    assert np.abs(a.P.values - b.P.values).max() < 1e-12
    ap = run(sc, "closed", steps=300, schedule="poisson", p=0.3, seed=5, propagator=propagator)
    bp = run(sc, "oile", steps=300, schedule="poisson", p=0.3, seed=5, propagator=propagator)
    assert np.abs(ap.P.values - bp.P.values).max() < 1e-12


@pytest.mark.parametrize("propagator", ["exact", "split", "symmetric"])
def test_closed_one_step_equals_oile_for_two_particles(rng, propagator):
    sc = Scenario(random_bloch(rng, 2), [0.9, -0.4], random_bloch(rng, 2, pure=True), gamma=0.3, theta=0.25)
    a = run(sc, "closed", steps=1, propagator=propagator)
    b = run(sc, "oile", steps=1, propagator=propagator)
    assert np.abs(a.P.values - b.P.values).max() < 1e-12


def test_closed_matches_dense_pair_propagators(rng):
    """An explicit schedule with padding and Poisson step length, replayed with the scipy
    4x4 reference propagator of oile_q.encounter on the dense N-spin state."""
    n, gamma, p, steps = 5, 0.3, 0.5, 12
    sc = Scenario(
        random_bloch(rng, n, pure=True), rng.normal(size=n), random_bloch(rng, n, pure=True), gamma=gamma, theta=0.35
    )
    pairs = generate("poisson", n, steps, seed=3, p=p)
    ds = run(sc, "closed", steps=steps, schedule=pairs, p=p)
    psi = np.array([1.0 + 0j])
    for P in sc.P0:
        psi = np.kron(psi, pure_amplitudes(P))
    bs = np.einsum("i,ijk->jk", b_vector(sc.theta), PAULI)
    tau = gamma * p
    for s in range(steps):
        met = set()
        for a, b in pairs[s]:
            if a < 0:
                continue
            g = 1 - sc.velocity[a] @ sc.velocity[b]
            U4 = pair_propagator(sc.omega[a], sc.omega[b], g, gamma=gamma, theta=sc.theta, duration=tau).reshape(
                2, 2, 2, 2
            )
            t = psi.reshape((2,) * n)
            t = np.moveaxis(np.tensordot(U4, t, axes=([2, 3], [a, b])), [0, 1], [a, b])
            psi = t.reshape(-1)
            met |= {a, b}
        for a in set(range(n)) - met:
            u = scipy.linalg.expm(1j * sc.omega[a] * tau / 2 * bs)
            psi = op_on(n, a, u) @ psi
    rho = np.outer(psi, psi.conj())
    assert np.abs(ds.P.values[-1] - dense_bloch(rho, n)).max() < 1e-10
    assert np.ptp(ds.S3_total.values) < 1e-12
    assert ds.schedule_pairs.shape == (steps, n // 2, 2)


def _error_vs_exact(sc, schedule, gamma, t, seed=None):
    g = sc.replace(gamma=gamma)
    c = run(g, "closed", t_max=t, schedule=schedule, seed=seed, times=[t]).P.values[-1]
    e = run(g, "exact", times=[t]).P.values[-1]
    return np.abs(c - e).max()


def _conv_scenario(count=3, seed=11):
    return Scenario.from_groups(
        [dict(name="e", count=count, flavor="e", omega=0.5), dict(name="x", count=count, flavor="x", omega=-0.5)],
        gamma=0.1,
        theta=0.3,
        seed=seed,
    )


def test_closed_round_robin_converges_to_exact_linearly():
    sc = _conv_scenario()
    gammas = np.array([0.1, 0.05, 0.02, 0.01])
    err = np.array([_error_vs_exact(sc, "round-robin", g, 2.0) for g in gammas])
    slope = np.polyfit(np.log(gammas), np.log(err), 1)[0]
    assert 0.85 < slope < 1.15, (err, slope)
    assert err[-1] < 0.02


def test_closed_random_matchings_converge_as_sqrt_gamma():
    sc = _conv_scenario()
    gammas = np.array([0.1, 0.03, 0.01])
    err = np.array(
        [np.sqrt(np.mean([_error_vs_exact(sc, "matching", g, 2.0, seed=s) ** 2 for s in range(8)])) for g in gammas]
    )
    slope = np.polyfit(np.log(gammas), np.log(err), 1)[0]
    assert 0.3 < slope < 0.7, (err, slope)


# ----------------------------------------------------------------------------- guards and errors


def test_memory_guard_names_estimate_and_largest_n(rng):
    sc = ensemble(10, rng)
    limit = estimate_bytes(8, "exact") + 1
    with pytest.raises(ValueError, match=r"`N` = 10 needs an estimated .* largest N that fits is 8\."):
        run(sc, "exact", t_max=0.1, memory_limit=limit)
    limit = estimate_bytes(9, "exact", method="expm") + 1
    with pytest.raises(ValueError, match="largest N that fits is 9"):
        run(sc, "exact", t_max=0.1, method="expm", memory_limit=limit)
    with pytest.raises(ValueError, match="largest N that fits is 7"):
        run(sc, "closed", t_max=0.1, memory_limit=estimate_bytes(7, "closed") + 1)
    assert largest_n("exact", 24e9) >= 24


def test_cli_too_large_is_one_line_and_exit_2(tmp_path, capsys):
    from oile_q.cli import main

    path = tmp_path / "big.toml"
    path.write_text('gamma = 0.1\nseed = 1\n[[group]]\nname = "e"\ncount = 40\nflavor = "e"\n')
    code = main(["run", str(path), "--engine", "exact", "--t-max", "1", "-o", str(tmp_path / "o.nc")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "\n" not in err and "largest N that fits" in err
    assert not (tmp_path / "o.nc").exists()


@pytest.mark.parametrize(
    "engine,opts,match",
    [
        ("exact", dict(bogus=1), "`bogus` is not an option"),
        ("closed", dict(method="expm"), "`method` is not an option"),
        ("exact", dict(method="rk4"), "`method` must be"),
        ("exact", dict(basis="full"), "apply to method 'expm'"),
        ("exact", dict(pairs=[(0, 0)]), "two different"),
        ("exact", dict(pairs=[(0, 9)]), "particle indices"),
        ("closed", dict(propagator="magic"), "`propagator` must be"),
        ("exact", dict(mixed="sample"), "`mixed` must be"),
    ],
)
def test_bad_options_name_the_parameter(rng, engine, opts, match):
    sc = ensemble(4, rng)
    with pytest.raises((ValueError, TypeError), match=match):
        run(sc, engine, t_max=0.2, **opts)


def test_exact_refuses_foreground():
    sc = Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    with pytest.raises(ValueError, match="foreground"):
        run(sc, "exact", t_max=1.0)


# ----------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_sector_by_sector_equals_full_basis_n12(rng):
    sc = ensemble(12, rng, theta=0.4)
    kw = dict(times=[0.0, 0.5, 1.0])
    full = run(sc, "exact", method="expm", basis="full", **kw)
    cheb = run(sc, "exact", **kw)
    sect = run(sc, "exact", method="expm", **kw)
    assert np.abs(sect.P.values - full.P.values).max() < 1e-12
    assert np.abs(cheb.P.values - full.P.values).max() < 1e-10


@pytest.mark.slow
def test_closed_round_robin_converges_n8():
    sc = _conv_scenario(count=4, seed=3)
    gammas = np.array([0.04, 0.02, 0.01, 0.005])
    err = np.array([_error_vs_exact(sc, "round-robin", g, 3.0) for g in gammas])
    slope = np.polyfit(np.log(gammas), np.log(err), 1)[0]
    assert 0.85 < slope < 1.15, (err, slope)
