"""The multi-beam (collective-spin) exact solver ``oile_q.exact.beams`` (issue 11).

Checked two ways: against the generic site-resolved ``exact`` engine (2^N amplitudes) and
against dense ``scipy.linalg.expm`` of a Kronecker-product Hamiltonian (with a general
within-beam coupling g_gg, which the engine's scenarios cannot express); conservation of
S_3, energy and each beam's total spin; the two-beam symmetric-subspace closed form of the
``onset_time`` study beyond the generic engine's reach; the mean-field limit; bad input.
"""

import numpy as np
import pytest
import scipy.linalg

from conftest import random_bloch
from oile_q import Scenario, run
from oile_q.conventions import PAULI, flavor_to_mass, mass_to_flavor
from oile_q.errors import InputError
from oile_q.exact.beams import (BeamStructure, beam_hamiltonian, beam_structure, estimate_beams_bytes,
                                evolve_beams, sector_plan)

TIMES = np.array([0.0, 0.35, 1.0, 2.5])


# ----------------------------------------------------------------------------- references


def op_on(n, a, m):
    out = np.array([[1.0 + 0j]])
    for b in range(n):
        out = np.kron(out, m if b == a else np.eye(2))
    return out


def dense_beam_hamiltonian(s: BeamStructure):
    """H/mu over all 2^N site states, MASS basis (B = z), Kronecker products; g_ab is the
    coupling of the particles' beams, including the within-beam g_gg for a != b."""
    beam = np.repeat(np.arange(s.n_beams), s.sizes)
    n = s.n
    ops = [[op_on(n, a, PAULI[i]) for i in range(3)] for a in range(n)]
    H = sum(-(s.omega[beam[a]] / s.mu / 2) * ops[a][2] for a in range(n))
    for a in range(n):
        for b in range(a + 1, n):
            g = s.coupling[beam[a], beam[b]]
            if g:
                H = H + g / (2 * (n - 1)) * sum(ops[a][i] @ ops[b][i] for i in range(3))
    return H, ops


def product_state(P_mass):
    psi = np.array([1.0 + 0j])
    for x, y, z in P_mass:
        th, ph = np.arccos(np.clip(z, -1, 1)), np.arctan2(y, x)
        psi = np.kron(psi, [np.cos(th / 2), np.exp(1j * ph) * np.sin(th / 2)])
    return psi


def reduced(psi, n, keep):
    """Reduced density matrix of the qubits ``keep`` (site 0 most significant)."""
    t = np.moveaxis(psi.reshape((2,) * n), list(keep), list(range(len(keep))))
    m = t.reshape(2 ** len(keep), -1)
    return m @ m.conj().T


def entropy_bits(rho):
    lam = np.linalg.eigvalsh(rho)
    lam = lam[lam > 1e-15]
    return float(-np.sum(lam * np.log2(lam)))


def dense_run(s: BeamStructure, times):
    """(P (T, N, 3) mass basis, energy (T,), entropy of each beam vs the rest (T, G), two-body
    density matrices), with one BLAS thread (multithreaded BLAS on small matrices is slow here)."""
    from oile_q.exact._threads import limited_threads

    with limited_threads(64):
        return _dense_run(s, times)


def _dense_run(s, times):
    H, ops = dense_beam_hamiltonian(s)
    P_sites = np.repeat(s.P0_mass, s.sizes, axis=0)
    psi0 = product_state(P_sites)
    n = s.n
    bounds = np.concatenate([[0], np.cumsum(s.sizes)])
    P, E, S, R = [], [], [], []
    for t in times:
        psi = scipy.linalg.expm(-1j * H * t) @ psi0
        P.append([[np.vdot(psi, ops[a][i] @ psi).real for i in range(3)] for a in range(n)])
        E.append(np.vdot(psi, H @ psi).real)
        S.append([entropy_bits(reduced(psi, n, range(bounds[g], bounds[g + 1]))) for g in range(s.n_beams)])
        # two-particle states: first member of g with the first (g != h) or second (g == h) of h
        R.append({(g, h): reduced(psi, n, [bounds[g], bounds[h] + (g == h)])
                  for g in range(s.n_beams) for h in range(g, s.n_beams) if g != h or s.sizes[g] > 1})
    return np.array(P), np.array(E), np.array(S), R


def random_unit(rng, k):
    v = rng.normal(size=(k, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def scenario_groups(rng, sizes, omegas, theta, *, directions="random", flavors=None):
    """A beam scenario from the group builder: random pure states unless ``flavors``."""
    vel = random_unit(rng, len(sizes)) if directions == "random" else np.array(directions, float)
    groups = []
    for i, (c, w) in enumerate(zip(sizes, omegas)):
        spec = dict(name=f"b{i}", count=int(c), omega=float(w), velocity=vel[i].tolist())
        if flavors is None:
            spec["P"] = random_bloch(rng, 1, pure=True)[0].tolist()
        else:
            spec["flavor"] = flavors[i]
        groups.append(spec)
    return Scenario.from_groups(groups, gamma=0.1, theta=theta)


def shuffled_arrays(sc, rng):
    """The same scenario as arrays with group labels, members interleaved in random order."""
    perm = rng.permutation(sc.n)
    return Scenario(sc.P0[perm], sc.omega[perm], sc.velocity[perm], gamma=sc.gamma, theta=sc.theta,
                    mu=sc.mu, group=sc.group[perm].tolist())


def beams_vs_engine(sc, times, tol=1e-10):
    s = beam_structure(sc)
    pairs, want = [], []
    first = [int(m[0]) for m in s.members]
    second = [int(m[1]) if m.size > 1 else None for m in s.members]
    out = evolve_beams(s, times, observables=("pairs", "energy"))
    for p, (g, h) in enumerate(out["pairs"]):
        b = second[h] if g == h else first[h]
        if b is not None:
            pairs.append((first[g], b))
            want.append(p)
    ds = run(sc, "exact", times=times, pairs=pairs)
    P = mass_to_flavor(s.broadcast(out["P"]), sc.theta)
    np.testing.assert_allclose(P, ds.P.values, rtol=0, atol=tol)
    np.testing.assert_allclose(out["energy"], ds.energy.values, rtol=0, atol=tol * max(1, abs(ds.energy.values).max()))
    np.testing.assert_allclose(out["S3_total"], ds.S3_total.values, rtol=0, atol=tol)
    np.testing.assert_allclose(s.broadcast(out["purity"]), ds.purity.values, rtol=0, atol=tol)
    # Concurrence is sqrt-conditioned where it vanishes (product states at t = 0): a round-off
    # of 1e-16 in rho moves it by ~1e-8, so it is compared at 1e-6 here; the two-body density
    # matrices themselves are compared at 1e-10 with dense expm (test_equals_dense_expm).
    np.testing.assert_allclose(out["concurrence"][:, want], ds.concurrence.values, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["mutual_information"][:, want], ds.mutual_information.values, rtol=0, atol=1e-8)
    return out


# ----------------------------------------------------------------------------- vs the generic engine


@pytest.mark.parametrize("sizes, omegas, theta", [
    pytest.param([7, 5], [-0.5, 0.8], 0.1, id="2beams_N12_unequal"),
    pytest.param([4, 3, 3], [1.3, -0.7, 0.2], 0.37, id="3beams_N10"),
    pytest.param([5, 4, 4, 3], [0.9, -1.1, 0.0, 0.4], 0.2, id="4beams_N16"),
])
def test_equals_generic_exact_engine(rng, sizes, omegas, theta):
    sc = scenario_groups(rng, sizes, omegas, theta)
    beams_vs_engine(sc, TIMES)


def test_flavor_pendulum_equals_engine_any_construction(rng, tmp_path):
    """Two beams nu_e / nu_x along +-z (the flavor pendulum): from groups, from shuffled arrays
    with group labels, and from a TOML file."""
    sc = scenario_groups(rng, [6, 4], [-0.5, 0.5], 0.1, directions=[[0, 0, 1], [0, 0, -1]], flavors="ex")
    out = beams_vs_engine(sc, TIMES)
    sc2 = shuffled_arrays(sc, rng)
    out2 = beams_vs_engine(sc2, TIMES)
    np.testing.assert_allclose(out2["P"], out["P"], rtol=0, atol=1e-12)
    path = tmp_path / "beams.toml"
    path.write_text("gamma = 0.1\ntheta = 0.1\n"
                    "[[group]]\nname = 'e'\ncount = 6\nflavor = 'e'\nomega = -0.5\nvelocity = [0, 0, 1]\n"
                    "[[group]]\nname = 'x'\ncount = 4\nflavor = 'x'\nomega = 0.5\nvelocity = [0, 0, -1]\n")
    s3 = beam_structure(Scenario.from_toml(path))
    assert s3.labels == ("e", "x")
    np.testing.assert_allclose(evolve_beams(s3, TIMES, observables=())["P"], out["P"], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- vs dense expm


@pytest.mark.parametrize("sizes, g_diag", [
    pytest.param([3, 2, 2], [0.0, 0.0, 0.0], id="N7_gdiag0"),
    pytest.param([3, 3, 2], [0.7, -0.4, 1.9], id="N8_gdiag_general"),
    pytest.param([5], [1.1], id="N5_one_beam"),
    pytest.param([4, 3], [0.0, 0.5], id="N7_two_beams_spectral"),
])
def test_equals_dense_expm(rng, sizes, g_diag):
    G = len(sizes)
    V = random_unit(rng, G)
    g = 1 - V @ V.T
    np.fill_diagonal(g, g_diag)
    s = BeamStructure(labels=None, sizes=np.array(sizes), omega=rng.uniform(-1.5, 1.5, G),
                      P0_mass=random_bloch(rng, G, pure=True), coupling=g, mu=1.7, theta=0.3)
    out = evolve_beams(s, TIMES)
    P, E, S, R = dense_run(s, TIMES * 1.0)  # dense H is H/mu and times are mu t
    bounds = np.concatenate([[0], np.cumsum(s.sizes)])
    for gi in range(G):
        for a in range(bounds[gi], bounds[gi + 1]):
            np.testing.assert_allclose(out["P"][:, gi], P[:, a], rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["energy"], E, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["entropy"], S, rtol=0, atol=1e-9)
    for p, (g, h) in enumerate(out["pairs"]):
        want = np.array([r[(g, h)] for r in R])
        np.testing.assert_allclose(out["rho2"][:, p], want, rtol=0, atol=1e-10)


def test_hamiltonian_equals_dense_on_symmetric_states(rng):
    """Every matrix element of the collective H equals <sym|H_dense|sym'> (Dicke states)."""
    from scipy.special import comb

    sizes = np.array([2, 3])
    g = np.array([[0.3, 1.2], [1.2, -0.8]])
    s = BeamStructure(labels=("a", "b"), sizes=sizes, omega=np.array([0.6, -1.4]),
                      P0_mass=np.array([[0, 0, 1.0], [1.0, 0, 0]]), coupling=g)
    H, k = beam_hamiltonian(s)
    Hd, _ = dense_beam_hamiltonian(s)
    n = s.n

    def dicke(kk):
        v = np.zeros(2**n)
        for idx in range(2**n):
            bits = [(idx >> (n - 1 - a)) & 1 for a in range(n)]  # 0 = up (mass nu_1)
            ups = [sum(1 - b for b in bits[:2]), sum(1 - b for b in bits[2:])]
            if ups == list(kk):
                v[idx] = 1.0
        return v / np.sqrt(comb(2, kk[0]) * comb(3, kk[1]))

    D = np.array([dicke(kk) for kk in k]).T
    np.testing.assert_allclose(H.toarray(), D.T @ Hd @ D, rtol=0, atol=1e-13)


# ----------------------------------------------------------------------------- invariants, large N


def test_conservation_three_beams_N90(rng):
    sc = scenario_groups(rng, [40, 30, 20], [0.8, -0.6, 0.3], 0.25)
    s = beam_structure(sc)
    stats = {}
    out = evolve_beams(s, np.linspace(0, 5, 11), stats=stats)
    assert stats["dimension"] <= s.full_dimension
    for key in ("S3_total", "energy", "norm"):
        assert np.ptp(out[key]) < 1e-10, key
    j = s.sizes / 2
    np.testing.assert_allclose(out["spin_total"], np.broadcast_to(j * (j + 1), out["spin_total"].shape),
                               rtol=1e-12, atol=0)
    assert abs(out["norm"][0] - 1) < 1e-12
    # beam vs rest entropies of a pure state: every one bounded by log2(N_g + 1)
    assert np.all(out["entropy"] <= np.log2(s.sizes + 1) + 1e-12)


def collective_two_beam(n, omega_e, omega_x, times):
    """The onset_time study's closed form: theta = 0, nu_e (+z) and nu_x (-z) beams of N/2, sector
    m_e + m_x = 0, tridiagonal in m = m_e: returns the nu_e beam's <P_z>(t) = <m>/j."""
    j = n / 4
    m = j - np.arange(int(round(2 * j)) + 1)
    d = -omega_e * m + omega_x * m - 4 / (n - 1) * m**2
    off = 2 / (n - 1) * (j * (j + 1) - m[:-1] * (m[:-1] - 1))
    H = np.diag(d) + np.diag(off, 1) + np.diag(off, -1)
    psi0 = np.zeros(m.size, complex)
    psi0[0] = 1.0
    w, U = np.linalg.eigh(H)
    return np.array([(np.abs(U @ (np.exp(-1j * w * t) * (U.T @ psi0))) ** 2) @ m / j for t in times])


def test_flavor_pendulum_large_N_equals_closed_form():
    n = 200
    sc = Scenario.from_groups([dict(name="e", count=n // 2, flavor="e", omega=-0.5, velocity=[0, 0, 1]),
                               dict(name="x", count=n // 2, flavor="x", omega=0.5, velocity=[0, 0, -1])],
                              gamma=0.05)
    s = beam_structure(sc)
    stats = {}
    times = np.linspace(0, 8, 9)
    out = evolve_beams(s, times, stats=stats, observables=())
    assert stats["sectors"] == 1 and stats["dimension"] == n // 2 + 1
    np.testing.assert_allclose(out["P"][:, 0, 2], collective_two_beam(n, -0.5, 0.5, times), rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["P"][:, 0, :2], 0.0, atol=1e-14)


def test_tolerance_is_honoured():
    """The state error bound ``tol``: a loose run differs from a tight one by less than tol."""
    s = BeamStructure(labels=("e", "x"), sizes=np.array([60, 40]), omega=np.array([-0.5, 0.5]),
                      P0_mass=flavor_to_mass(np.array([[0, 0, 1.0], [0, 0, -1.0]]), 0.1),
                      coupling=np.array([[0, 2.0], [2.0, 0]]), theta=0.1)
    times = np.linspace(0, 10, 6)
    tight = evolve_beams(s, times, tol=1e-13, observables=("pairs",))
    for tol in (1e-4, 1e-7):
        loose = evolve_beams(s, times, tol=tol, observables=("pairs",))
        # one-body and two-body expectation values of operators of norm <= 1 err <= 2 |dpsi|
        assert np.abs(loose["P"] - tight["P"]).max() <= 2 * tol
        assert np.abs(loose["rho2"] - tight["rho2"]).max() <= 2 * tol


def test_sectors_are_dropped_and_counted():
    s = BeamStructure(labels=("e", "x"), sizes=np.array([300, 300]), omega=np.array([0.5, -0.5]),
                      P0_mass=flavor_to_mass(np.array([[0, 0, 1.0], [0, 0, -1.0]]), 0.05),
                      coupling=np.array([[0, 2.0], [2.0, 0]]), theta=0.05)
    keep, dims, dropped = sector_plan(s, tol=1e-12)
    assert 0 < dropped <= 1e-28
    assert keep.size < 601 and np.all(np.diff(keep) == 1)
    assert dims.sum() < s.full_dimension / 4
    est = estimate_beams_bytes(s)
    assert est > 16 * dims.sum()


def test_mean_field_limit_stable_pendulum():
    """At fixed mu t, |P_exact - P_meanfield| per beam shrinks like 1/N for a stable
    configuration (normal ordering: omega_e > 0 for the +z beam)."""
    Ns = [16, 32, 64, 128]
    times = np.linspace(0, 4, 5)
    dist = []
    for n in Ns:
        sc = Scenario.from_groups([dict(name="e", count=n // 2, flavor="e", omega=0.5, velocity=[0, 0, 1]),
                                   dict(name="x", count=n // 2, flavor="x", omega=-0.5, velocity=[0, 0, -1])],
                                  gamma=0.05, theta=0.3)
        s = beam_structure(sc)
        ex = mass_to_flavor(evolve_beams(s, times, observables=())["P"], sc.theta)
        mf = run(sc, "meanfield", times=times, rtol=1e-11, atol=1e-13).P.values
        mf = np.stack([mf[:, m[0]] for m in s.members], axis=1)
        dist.append(np.abs(ex - mf)[-1].max())
    slope = np.polyfit(np.log(Ns), np.log(dist), 1)[0]
    assert np.all(np.diff(dist) < 0)
    assert -1.15 < slope < -0.85, (slope, dist)


# ----------------------------------------------------------------------------- bad input


def _group(name, count, **kw):
    return dict(name=name, count=count, **kw)


@pytest.mark.parametrize("groups, words", [
    pytest.param([_group("e", 2, flavor="e", velocity=[0, 0, 1]), _group("x", 3, flavor="x")],
                 ["'x'", "velocities"], id="isotropic"),
    pytest.param([_group("e", 2, P=[0.5, 0, 0], velocity=[0, 0, 1])], ["'e'", "mixed"], id="mixed"),
])
def test_not_a_beam_names_group(groups, words):
    sc = Scenario.from_groups(groups, gamma=0.1, seed=1)
    with pytest.raises(InputError) as err:
        beam_structure(sc)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_not_a_beam_unequal_omega_or_state():
    P0 = [[0, 0, 1], [0, 0, 1], [0, 0, -1], [1, 0, 0]]
    V = [[0, 0, 1]] * 4
    sc = Scenario(P0, [0.5, 0.5, 0.2, 0.3], V, gamma=0.1, group=["a", "a", "b", "b"])
    with pytest.raises(InputError, match="group 'b' is not a beam: its members have different omega"):
        beam_structure(sc)
    sc = Scenario(P0, [0.5, 0.5, 0.2, 0.2], V, gamma=0.1, group=["a", "a", "b", "b"])
    with pytest.raises(InputError, match="group 'b' is not a beam: its members start in different states"):
        beam_structure(sc)
    fg = Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    with pytest.raises(InputError, match="foreground"):
        beam_structure(fg)


def test_bad_arguments():
    s = BeamStructure(labels=("e",), sizes=np.array([4]), omega=np.array([1.0]),
                      P0_mass=np.array([[1.0, 0, 0]]), coupling=np.zeros((1, 1)))
    with pytest.raises(InputError, match="`times` must be non-decreasing"):
        evolve_beams(s, [1.0, 0.5])
    with pytest.raises(InputError, match="`observables`"):
        evolve_beams(s, [1.0], observables=("spin",))
    with pytest.raises(InputError, match="memory limit"):
        evolve_beams(s, [1.0], memory_limit=1e6)
    with pytest.raises(InputError, match="P0_mass"):
        BeamStructure(labels=None, sizes=np.array([4]), omega=np.array([1.0]), P0_mass=np.array([[0.5, 0, 0]]),
                      coupling=np.zeros((1, 1)))
    # one beam: free precession dP/dt = -omega B x P, B = z (mass basis), omega = 1
    out = evolve_beams(s, [0.0, 1.0])
    np.testing.assert_allclose(out["P"][1, 0], [np.cos(1.0), -np.sin(1.0), 0.0], atol=1e-12)


def test_spectral_equals_chebyshev_two_beams():
    """The two propagators (sector eigenpairs in the energy window; Chebyshev series) agree on a
    two-beam gas with mixing, unequal beams and negative omega, far beyond the generic engine."""
    s = BeamStructure(labels=("e", "x"), sizes=np.array([170, 130]), omega=np.array([-0.7, 0.4]),
                      P0_mass=flavor_to_mass(np.array([[0, 0, 1.0], [0.6, 0, -0.8]]), 0.1),
                      coupling=np.array([[0, 1.6], [1.6, 0]]), theta=0.1)
    times = np.linspace(0, 6, 7)
    st_s, st_c = {}, {}
    a = evolve_beams(s, times, propagator="spectral", stats=st_s)
    b = evolve_beams(s, times, propagator="chebyshev", stats=st_c)
    assert st_s["propagator"] == "spectral" and st_c["propagator"] == "chebyshev"
    assert st_s["spectral_residual"] < 1e-12
    for key in ("P", "rho2", "energy", "entropy"):
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-10 * max(1, np.abs(b[key]).max()), err_msg=key)
    with pytest.raises(InputError, match="two beams"):
        evolve_beams(BeamStructure(labels=None, sizes=np.array([2, 2, 2]), omega=np.zeros(3),
                                   P0_mass=np.eye(3), coupling=np.ones((3, 3))), [1.0], propagator="spectral")
