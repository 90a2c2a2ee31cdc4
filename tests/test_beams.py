"""The multi-beam (collective-spin) exact solver ``oile_q.exact.beams`` (issue 11).

Checked two ways: against the generic site-resolved ``exact`` engine (2^N amplitudes) and
against dense ``scipy.linalg.expm`` of a Kronecker-product Hamiltonian (with a general
within-beam coupling g_gg, which the engine's scenarios cannot express); conservation of
S_3, energy and each beam's total spin; the two-beam symmetric-subspace closed form of the
``onset_time`` study beyond the generic engine's reach; the mean-field limit; bad input.
"""

import json

import numpy as np
import pytest
import scipy.linalg
from conftest import random_bloch

import oile_q
from oile_q import Scenario, run
from oile_q.conventions import PAULI, flavor_to_mass, mass_to_flavor
from oile_q.errors import InputError
from oile_q.exact.beams import (
    BeamStructure,
    beam_hamiltonian,
    beam_structure,
    estimate_beams_bytes,
    evolve_beams,
    sector_plan,
)

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
        R.append(
            {
                (g, h): reduced(psi, n, [bounds[g], bounds[h] + (g == h)])
                for g in range(s.n_beams)
                for h in range(g, s.n_beams)
                if g != h or s.sizes[g] > 1
            }
        )
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
    return Scenario(
        sc.P0[perm],
        sc.omega[perm],
        sc.velocity[perm],
        gamma=sc.gamma,
        theta=sc.theta,
        mu=sc.mu,
        group=sc.group[perm].tolist(),
    )


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
    ds = run(sc, "exact", times=times, pairs=pairs, method="chebyshev")  # the generic engine (2^N amplitudes)
    assert ds.attrs["method"] == "chebyshev"
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


def two_beams(sizes, omega, P_flavor, g, theta):
    """Beams "e" and "x": flavor-basis initial Bloch vectors ``P_flavor``, cross coupling g, none within."""
    return BeamStructure(
        labels=("e", "x"),
        sizes=np.array(sizes),
        omega=np.array(omega),
        P0_mass=flavor_to_mass(np.array(P_flavor), theta),
        coupling=np.array([[0, g], [g, 0]]),
        theta=theta,
    )


# ----------------------------------------------------------------------------- vs the generic engine


@pytest.mark.parametrize(
    "sizes, omegas, theta",
    [
        pytest.param([7, 5], [-0.5, 0.8], 0.1, id="2beams_N12_unequal"),
        pytest.param([4, 3, 3], [1.3, -0.7, 0.2], 0.37, id="3beams_N10"),
        pytest.param([5, 4, 4, 3], [0.9, -1.1, 0.0, 0.4], 0.2, id="4beams_N16"),
    ],
)
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
    path.write_text(
        "gamma = 0.1\ntheta = 0.1\n"
        "[[group]]\nname = 'e'\ncount = 6\nflavor = 'e'\nomega = -0.5\nvelocity = [0, 0, 1]\n"
        "[[group]]\nname = 'x'\ncount = 4\nflavor = 'x'\nomega = 0.5\nvelocity = [0, 0, -1]\n"
    )
    s3 = beam_structure(Scenario.from_toml(path))
    assert s3.labels == ("e", "x")
    np.testing.assert_allclose(evolve_beams(s3, TIMES, observables=())["P"], out["P"], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- vs dense expm


@pytest.mark.parametrize(
    "sizes, g_diag",
    [
        pytest.param([3, 2, 2], [0.0, 0.0, 0.0], id="N7_gdiag0"),
        pytest.param([3, 3, 2], [0.7, -0.4, 1.9], id="N8_gdiag_general"),
        pytest.param([5], [1.1], id="N5_one_beam"),
        pytest.param([4, 3], [0.0, 0.5], id="N7_two_beams_spectral"),
    ],
)
def test_equals_dense_expm(rng, sizes, g_diag):
    G = len(sizes)
    V = random_unit(rng, G)
    g = 1 - V @ V.T
    np.fill_diagonal(g, g_diag)
    s = BeamStructure(
        labels=None,
        sizes=np.array(sizes),
        omega=rng.uniform(-1.5, 1.5, G),
        P0_mass=random_bloch(rng, G, pure=True),
        coupling=g,
        mu=1.7,
        theta=0.3,
    )
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
    s = BeamStructure(
        labels=("a", "b"),
        sizes=sizes,
        omega=np.array([0.6, -1.4]),
        P0_mass=np.array([[0, 0, 1.0], [1.0, 0, 0]]),
        coupling=g,
    )
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
    np.testing.assert_allclose(
        out["spin_total"], np.broadcast_to(j * (j + 1), out["spin_total"].shape), rtol=1e-12, atol=0
    )
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
    sc = Scenario.from_groups(
        [
            dict(name="e", count=n // 2, flavor="e", omega=-0.5, velocity=[0, 0, 1]),
            dict(name="x", count=n // 2, flavor="x", omega=0.5, velocity=[0, 0, -1]),
        ],
        gamma=0.05,
    )
    s = beam_structure(sc)
    stats = {}
    times = np.linspace(0, 8, 9)
    out = evolve_beams(s, times, stats=stats, observables=())
    assert stats["sectors"] == 1 and stats["dimension"] == n // 2 + 1
    np.testing.assert_allclose(out["P"][:, 0, 2], collective_two_beam(n, -0.5, 0.5, times), rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["P"][:, 0, :2], 0.0, atol=1e-14)


def test_tolerance_is_honoured():
    """The state error bound ``tol``: a loose run differs from a tight one by less than tol."""
    s = two_beams([60, 40], [-0.5, 0.5], [[0, 0, 1.0], [0, 0, -1.0]], 2.0, 0.1)
    times = np.linspace(0, 10, 6)
    tight = evolve_beams(s, times, tol=1e-13, observables=("pairs",))
    for tol in (1e-4, 1e-7):
        loose = evolve_beams(s, times, tol=tol, observables=("pairs",))
        # one-body and two-body expectation values of operators of norm <= 1 err <= 2 |dpsi|
        assert np.abs(loose["P"] - tight["P"]).max() <= 2 * tol
        assert np.abs(loose["rho2"] - tight["rho2"]).max() <= 2 * tol


def test_sectors_are_dropped_and_counted():
    s = two_beams([300, 300], [0.5, -0.5], [[0, 0, 1.0], [0, 0, -1.0]], 2.0, 0.05)
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
        sc = Scenario.from_groups(
            [
                dict(name="e", count=n // 2, flavor="e", omega=0.5, velocity=[0, 0, 1]),
                dict(name="x", count=n // 2, flavor="x", omega=-0.5, velocity=[0, 0, -1]),
            ],
            gamma=0.05,
            theta=0.3,
        )
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


@pytest.mark.parametrize(
    "groups, words",
    [
        pytest.param(
            [_group("e", 2, flavor="e", velocity=[0, 0, 1]), _group("x", 3, flavor="x")],
            ["'x'", "velocities"],
            id="isotropic",
        ),
        pytest.param([_group("e", 2, P=[0.5, 0, 0], velocity=[0, 0, 1])], ["'e'", "mixed"], id="mixed"),
    ],
)
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
    s = BeamStructure(
        labels=("e",),
        sizes=np.array([4]),
        omega=np.array([1.0]),
        P0_mass=np.array([[1.0, 0, 0]]),
        coupling=np.zeros((1, 1)),
    )
    with pytest.raises(InputError, match="`times` must be non-decreasing"):
        evolve_beams(s, [1.0, 0.5])
    with pytest.raises(InputError, match="`observables`"):
        evolve_beams(s, [1.0], observables=("spin",))
    with pytest.raises(InputError, match="memory limit"):
        evolve_beams(s, [1.0], memory_limit=1e6)
    with pytest.raises(InputError, match="P0_mass"):
        BeamStructure(
            labels=None,
            sizes=np.array([4]),
            omega=np.array([1.0]),
            P0_mass=np.array([[0.5, 0, 0]]),
            coupling=np.zeros((1, 1)),
        )
    # one beam: free precession dP/dt = -omega B x P, B = z (mass basis), omega = 1
    out = evolve_beams(s, [0.0, 1.0])
    np.testing.assert_allclose(out["P"][1, 0], [np.cos(1.0), -np.sin(1.0), 0.0], atol=1e-12)


def test_spectral_equals_chebyshev_two_beams():
    """The two propagators (sector eigenpairs in the energy window; Chebyshev series) agree on a
    two-beam gas with mixing, unequal beams and negative omega, far beyond the generic engine."""
    s = two_beams([170, 130], [-0.7, 0.4], [[0, 0, 1.0], [0.6, 0, -0.8]], 1.6, 0.1)
    times = np.linspace(0, 6, 7)
    st_s, st_c = {}, {}
    a = evolve_beams(s, times, propagator="spectral", stats=st_s)
    b = evolve_beams(s, times, propagator="chebyshev", stats=st_c)
    assert st_s["propagator"] == "spectral" and st_c["propagator"] == "chebyshev"
    assert st_s["spectral_residual"] < 1e-12
    for key in ("P", "rho2", "energy", "entropy"):
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-10 * max(1, np.abs(b[key]).max()), err_msg=key)
    with pytest.raises(InputError, match="two beams"):
        evolve_beams(
            BeamStructure(
                labels=None, sizes=np.array([2, 2, 2]), omega=np.zeros(3), P0_mass=np.eye(3), coupling=np.ones((3, 3))
            ),
            [1.0],
            propagator="spectral",
        )


# ----------------------------------------------------------------------------- the exact engine's method "beams"


@pytest.mark.parametrize(
    "sizes, omegas, theta, flavor",
    [
        pytest.param([6, 4], [-0.5, 0.5], 0.1, "ex", id="2beams_axis"),
        pytest.param([4, 3, 2], [1.3, -0.7, 0.2], 0.37, None, id="3beams_random"),
        pytest.param([4, 4, 3, 3], [0.9, -1.1, 0.0, 0.4], 0.2, None, id="4beams_random"),
    ],
)
def test_engine_method_beams_equals_generic(rng, sizes, omegas, theta, flavor):
    """``oile_q.run(sc, "exact", method="beams")`` equals the generic engine (2^N amplitudes) on
    every shared output: P, one-body purity and entropy, energy, S3, norm, and the concurrence and
    mutual information of the representative pairs it records; the beam extras are conserved."""
    if flavor:
        sc = Scenario.beams(sizes, flavor=flavor, omega=omegas, directions="axis", gamma=0.1, theta=theta)
    else:
        sc = Scenario.beams(
            sizes,
            P=random_bloch(rng, len(sizes), pure=True),
            omega=omegas,
            directions="random",
            seed=int(rng.integers(1000)),
            gamma=0.1,
            theta=theta,
        )
    times = np.array([0.0, 0.4, 1.1, 2.0])
    b = run(sc, "exact", times=times, method="beams")
    pairs = [[int(a), int(c)] for a, c in zip(b["pair_a"].values, b["pair_b"].values)]
    g = run(sc, "exact", times=times, method="chebyshev", pairs=pairs)
    assert b.attrs["method"] == "beams" and g.attrs["method"] == "chebyshev"
    assert json.loads(b.attrs["options"])["method"] == "beams"
    for key in ("P", "purity", "entropy", "energy", "S3_total", "norm", "mutual_information"):
        np.testing.assert_allclose(b[key].values, g[key].values, rtol=0, atol=1e-10, err_msg=key)
    np.testing.assert_allclose(b.concurrence.values, g.concurrence.values, rtol=0, atol=1e-6)  # sqrt-conditioned at 0
    G = len(sizes)
    assert b.sizes["beam"] == G and b.sizes["pair"] == G * (G + 1) // 2
    assert list(b["beam"].values) == sc.groups and list(b["beam_size"].values) == sizes
    j = np.array(sizes) / 2
    np.testing.assert_allclose(b.beam_spin.values, np.broadcast_to(j * (j + 1), (times.size, G)), rtol=1e-12)
    first = [int(np.flatnonzero(sc.group == name)[0]) for name in sc.groups]
    np.testing.assert_allclose(b.beam_purity.values, b.purity.values[:, first], rtol=0, atol=1e-15)
    assert np.all(np.isfinite(b.beam_entropy.values)) and b.beam_entropy.values[-1].max() > 0.01


def test_engine_beam_entropy_equals_dense():
    """The beam-vs-rest entanglement entropy of the engine equals the dense reduced state's."""
    sc = Scenario.beams(
        [3, 2, 2],
        P=[[0, 0, 1], [0.6, 0, -0.8], [0, 1, 0]],
        basis="mass",
        omega=[0.7, -0.4, 1.2],
        directions="ring",
        gamma=0.1,
        theta=0.3,
    )
    times = np.array([0.0, 0.7, 1.9])
    ds = run(sc, "exact", times=times)  # auto: beams
    assert ds.attrs["method"] == "beams"
    s = beam_structure(sc)
    _, E, S, _ = dense_run(s, times)
    np.testing.assert_allclose(ds.beam_entropy.values, S, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ds.energy.values, E, rtol=0, atol=1e-10)


def test_auto_picks_beams_only_for_beams(rng, tmp_path):
    from oile_q.results import load, save

    sc = Scenario.beams([5, 4], flavor="ex", omega=[-0.5, 0.5], directions="axis", gamma=0.1, theta=0.1)
    ds = run(sc, "exact", t_max=0.3)
    assert ds.attrs["method"] == "beams"
    assert json.loads(ds.attrs["engine_stats"])["dimension"] <= 30
    back = load(save(ds, tmp_path / "beams.nc"))
    for key in ("P", "beam_purity", "beam_entropy", "concurrence"):
        np.testing.assert_array_equal(back[key].values, ds[key].values)
    assert list(back["pair_beam_b"].values) == list(ds["pair_beam_b"].values)
    again = oile_q.rerun(back)
    np.testing.assert_array_equal(again.P.values, ds.P.values)
    # isotropic velocities, or a mixed member: no beam structure, so the generic method
    iso = Scenario.from_groups(
        [dict(name="e", count=3, flavor="e"), dict(name="x", count=3, flavor="x")], gamma=0.1, seed=1
    )
    assert run(iso, "exact", t_max=0.2).attrs["method"] == "chebyshev"
    mixed = Scenario.from_groups(
        [
            dict(name="e", count=3, P=[0, 0, 0.5], omega=0.3, velocity=[0, 0, 1]),
            dict(name="x", count=2, flavor="x", velocity=[1, 0, 0]),
        ],
        gamma=0.1,
    )
    assert run(mixed, "exact", t_max=0.2).attrs["method"] == "chebyshev"
    # every beam a single particle: the collective space is the full one, the generic method is cheaper
    single = Scenario.beams([1] * 6, flavor="+", omega=np.linspace(-1, 1, 6), directions="random", seed=2, gamma=0.1)
    assert run(single, "exact", t_max=0.2).attrs["method"] == "chebyshev"


def test_engine_pairs_option_maps_to_beam_pairs():
    sc = Scenario.beams([3, 3], flavor="ex", omega=[0.4, -0.2], directions=[[0, 0, 1], [1, 0, 0]], gamma=0.1, theta=0.2)
    times = [0.0, 0.8, 1.6]
    b = run(sc, "exact", times=times, method="beams", pairs="all")
    g = run(sc, "exact", times=times, method="chebyshev", pairs="all")
    assert b.sizes["pair"] == 15
    np.testing.assert_array_equal(b["pair_a"].values, g["pair_a"].values)
    np.testing.assert_allclose(b.mutual_information.values, g.mutual_information.values, rtol=0, atol=1e-10)
    b2 = run(sc, "exact", times=times, method="beams", pairs=[(4, 1), (5, 3)])
    np.testing.assert_allclose(b2.mutual_information.values, g.mutual_information.values[:, [3, 12]], atol=1e-10)


def test_engine_method_beams_errors_are_one_line():
    iso = Scenario.from_groups(
        [dict(name="e", count=3, flavor="e", velocity=[0, 0, 1]), dict(name="x", count=3, flavor="x")],
        gamma=0.1,
        seed=1,
    )
    with pytest.raises(InputError) as err:
        run(iso, "exact", t_max=0.2, method="beams")
    msg = str(err.value)
    assert "\n" not in msg and "group 'x' is not a beam" in msg and "velocities" in msg
    sc = Scenario.beams([30, 30], flavor="ex", directions="axis", gamma=0.1, theta=0.1)
    with pytest.raises(InputError) as err:
        run(sc, "exact", t_max=0.2, method="beams", memory_limit=1e8)
    msg = str(err.value)
    assert "\n" not in msg and "method 'beams'" in msg and "memory limit" in msg
    with pytest.raises(InputError, match="`entropy_max_dim` applies to method 'beams'"):
        run(sc, "exact", t_max=0.2, method="chebyshev", entropy_max_dim=10)
    with pytest.raises(InputError, match="`beams_propagator` must be"):
        run(sc, "exact", t_max=0.2, beams_propagator="lanczos")
    with pytest.raises(InputError, match="`beams_propagator` 'spectral' needs exactly two beams"):
        run(Scenario.beams([2, 2, 2], flavor="e", gamma=0.1), "exact", t_max=0.2, beams_propagator="spectral")


def test_engine_estimate_and_options():
    from oile_q.runner import prepare

    sc = Scenario.beams([2048, 2048], flavor="ex", omega=[-0.5, 0.5], directions="axis", gamma=0.05, theta=0.1)
    eng, req = prepare(sc, "exact", times=np.linspace(0, 20, 201))
    cost = eng.estimate(req)
    assert "2 beams" in cost.what and 1 < cost.seconds < 600 and 4e8 < cost.memory_bytes < 5e9
    ds = run(
        Scenario.beams([6, 5], flavor="ex", directions="axis", gamma=0.1, theta=0.1),
        "exact",
        t_max=0.5,
        beams_propagator="chebyshev",
        entropy_max_dim=0,
        energy=False,
    )
    assert "beam_entropy" not in ds and "energy" not in ds
    assert json.loads(ds.attrs["engine_stats"])["propagator"] == "chebyshev"


# ----------------------------------------------------------------------------- passes over the sectors


@pytest.mark.parametrize("propagator", ["spectral", "chebyshev"])
def test_several_passes_equal_one(propagator):
    """Outputs evolved in several passes over the sectors (a small memory limit, or ``window``)
    equal one pass; spectral sectors are diagonalised again in each pass when they are not cached."""
    from oile_q.exact.beams.memory import memory_parts

    s = two_beams([40, 30], [-0.5, 0.9], [[0, 0, 1.0], [0.6, 0, -0.8]], 1.5, 0.2)
    times = np.linspace(0, 4, 9)
    one, st1 = {}, {}
    one = evolve_beams(s, times, propagator=propagator, stats=st1)
    assert st1["passes"] == 1
    st2 = {}
    two = evolve_beams(s, times, propagator=propagator, window=2, stats=st2)
    assert st2["passes"] == 5
    fixed, per, store, _ = memory_parts(
        s, tol=1e-12, drop=None, chunk_states=1 << 15, entropy_max_dim=1024, pairs=True, propagator=propagator
    )
    st3 = {}
    three = evolve_beams(s, times, propagator=propagator, memory_limit=fixed + 3.2 * (per + store), stats=st3)
    assert st3["passes"] == 3
    if propagator == "spectral":
        assert st3["spectral_rebuilds"] > 0
    for other in (two, three):
        for key in ("P", "rho2", "energy", "entropy", "norm"):
            np.testing.assert_allclose(other[key], one[key], rtol=0, atol=1e-12, err_msg=key)


@pytest.mark.slow
def test_spectral_floor_at_N16384_equals_chebyshev():
    """At N = 16384 (sector dimension 8193) the accuracy of the MRRR eigenvectors (~5e-12 of the
    state is missed by any window) is the floor of the spectral residual; the floor keeps ~270
    pairs of the central sector (not the ~7300 that reaching 2e-13 took) and the state equals
    the Chebyshev series to 1e-10."""
    from oile_q.exact.beams.basis import Basis, initial_state
    from oile_q.exact.beams.hamiltonian import chunk_hamiltonian
    from oile_q.exact.beams.propagators import SectorChebyshev, SpectralSector

    s = beam_structure(
        Scenario.beams([8192, 8192], flavor="ex", omega=[-0.5, 0.5], directions="axis", gamma=0.05, theta=0.1)
    )
    keep, _, _ = sector_plan(s)
    basis = Basis(s.sizes, keep)
    psi = initial_state(s, basis)
    i = int(np.argmax([np.linalg.norm(psi[basis.offsets[k] : basis.offsets[k + 1]]) for k in range(keep.size)]))
    lo, hi = basis.offsets[i], basis.offsets[i + 1]
    H = chunk_hamiltonian(s, basis, lo, hi)
    sp = SpectralSector(H, psi[lo:hi], 1e-12, target=1e-14)
    assert sp.floor and sp.lam.size < 600 and sp.residual <= SpectralSector.FLOOR
    times = np.array([0.5, 2.0])
    a = np.empty((2, hi - lo), complex)
    sp.states(times, a)
    b = np.empty_like(a)
    SectorChebyshev(H, 1e-12).propagate(psi[lo:hi].copy(), times, b)
    assert np.abs(a - b).max() < 1e-10


# ----------------------------------------------------------------------------- Scenario.beams


def test_scenario_beams_geometries():
    sc = Scenario.beams([4, 3], flavor="ex", omega=[-0.5, 0.5], directions="axis", gamma=0.05, theta=0.1)
    assert sc.groups == ["b0", "b1"] and sc.n == 7
    np.testing.assert_array_equal(sc.velocity[:4], [[0, 0, 1]] * 4)
    np.testing.assert_array_equal(sc.velocity[4:], [[0, 0, -1]] * 3)
    np.testing.assert_array_equal(sc.P0[:4, 2], 1.0)
    np.testing.assert_array_equal(sc.omega, [-0.5] * 4 + [0.5] * 3)
    ring = Scenario.beams([1, 1, 1], flavor="e", directions="ring", gamma=0.1)
    g = 1 - ring.velocity @ ring.velocity.T
    np.testing.assert_allclose(g[np.triu_indices(3, 1)], 1.5, atol=1e-15)  # 120 degrees apart
    tet = Scenario.beams([1, 2, 1, 1], flavor="exex", directions="tetrahedron", gamma=0.1, names=list("abcd"))
    v = np.unique(tet.velocity, axis=0)
    gt = 1 - v @ v.T
    np.testing.assert_allclose(gt[np.triu_indices(4, 1)], 4 / 3, atol=1e-15)
    assert tet.groups == list("abcd")
    r1 = Scenario.beams([2, 2], flavor="+", directions="random", seed=3, gamma=0.1)
    r2 = Scenario.beams([2, 2], flavor="+", directions="random", seed=3, gamma=0.1)
    np.testing.assert_array_equal(r1.velocity, r2.velocity)
    np.testing.assert_array_equal(r1.P0, [[1, 0, 0]] * 4)
    # mass-basis initial states; the structure the engine sees
    m = Scenario.beams([2, 3], P=[[0, 0, 1], [1, 0, 0]], basis="mass", omega=[1.0, -2.0], gamma=0.1, theta=0.3)
    np.testing.assert_allclose(m.P0_mass[[0, 2]], [[0, 0, 1], [1, 0, 0]], atol=1e-15)
    s = beam_structure(m)
    np.testing.assert_array_equal(s.sizes, [2, 3])
    np.testing.assert_allclose(s.coupling, [[0, 2], [2, 0]], atol=1e-15)  # ring of two: +z and -z


@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(counts=[2, 0], flavor="e"), "`counts[1]`"),
        (dict(counts=[2, 2]), "`flavor` or `P`"),
        (dict(counts=[2, 2], flavor="e", P=[[0, 0, 1]] * 2), "`flavor` or `P`"),
        (dict(counts=[2, 2], flavor="exe"), "`flavor`"),
        (dict(counts=[2, 2], flavor="q"), "`flavor`"),
        (dict(counts=[2, 2], P=[[0, 0, 0.5], [0, 0, 1]]), "pure-state"),
        (dict(counts=[2, 2], flavor="e", omega=[1.0]), "`omega`"),
        (dict(counts=[2, 2, 2], flavor="e", directions="axis"), "'axis' needs exactly 2"),
        (dict(counts=[2, 2], flavor="e", directions="tetrahedron"), "'tetrahedron' needs exactly 4"),
        (dict(counts=[2, 2], flavor="e", directions="cube"), "`directions`"),
        (dict(counts=[2, 2], flavor="e", directions=[[0, 0, 2], [1, 0, 0]]), "`directions`"),
        (dict(counts=[2, 2], flavor="e", names=["a", "a"]), "`names`"),
        (dict(counts=[2, 2], flavor="e", basis="mass"), "`basis` applies to `P`"),
        (dict(counts=5, flavor="e"), "`counts`"),
    ],
)
def test_scenario_beams_bad_input_is_one_line(kw, words):
    with pytest.raises((InputError, TypeError)) as err:
        Scenario.beams(**kw, gamma=0.1)
    msg = str(err.value)
    assert "\n" not in msg and words in msg, msg
