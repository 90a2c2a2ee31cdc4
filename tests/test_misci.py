"""Miscidynamics (docs/theory.md, Miscidynamics): the QSS solver, the QSS extraction and the ``misci`` engine.

Fast tests use small gases and short slow times; the heavy validations (against the OILE map,
the meanfield drift at N = 10^4, long times) are marked slow or live in
``benchmarks/bench_misci.py``.
"""

import json

import numpy as np
import pytest

from oile_q import Scenario, run
from oile_q.encounter import swap_map
from oile_q.errors import InputError
from oile_q.qss import NoQSSError, qss_from_dataset, qss_from_samples, qss_roots, solve_qss

W = (0.1, 0.2)  # paper I's two frequencies (units of mu)


def exact_qss_scenario(ce, cx, gamma, *, M3=0.2, ne=6, nx=4, theta=0.0, seed=None, omega=W):
    """A gas in an exact QSS of the isotropic mean field: particles of a group identical."""
    q = solve_qss([ce, cx], omega, M3=M3, weights=[ne, nx])
    c = np.r_[np.full(ne, ce), np.full(nx, cx)]
    w = np.r_[np.full(ne, omega[0]), np.full(nx, omega[1])]
    if seed is None:
        v = np.tile([0.0, 0.0, 1.0], (ne + nx, 1))
    else:
        from oile_q.scenario import isotropic_velocities

        v = isotropic_velocities(ne + nx, np.random.default_rng(seed))
    sc = Scenario(q.bloch(c, w), w, v, gamma=gamma, theta=theta, basis="mass", group=["e"] * ne + ["x"] * nx)
    return sc, q, c, w


def paper1_gas(gamma, *, n_e=60, n_x=40, seed=1):
    return Scenario.from_groups(
        [dict(name="nu_e", count=n_e, flavor="e", omega=0.1), dict(name="nu_x", count=n_x, flavor="x", omega=0.2)],
        gamma=gamma,
        theta=1e-3,
        seed=seed,
    )


def group_obs(ds):
    """(group, [P3, |P_perp|], time) of the group means in the mass basis."""
    from oile_q.results import mass_basis

    P = np.asarray(mass_basis(ds))
    g = np.asarray(ds["group"])
    out = []
    for name in sorted(set(g)):
        M = P[:, g == name].mean(1)
        out.append([M[:, 2], np.hypot(M[:, 0], M[:, 1])])
    return np.array(out)


def misci_obs(ds):
    return np.stack([ds["group_P3"].values.T, ds["group_Pperp"].values.T], 1)


# --------------------------------------------------------------------------- the solver


@pytest.mark.parametrize(
    "c, M3",
    [
        pytest.param((0.24, 0.23), 0.2, id="late"),
        pytest.param((0.9, -0.5), 0.2, id="antiparallel"),
        pytest.param((0.9, -0.5), 0.4, id="M3_0.4"),
    ],
)
def test_solver_solves_q1_q2(c, M3):
    q = solve_qss(c, W, M3=M3, weights=[0.6, 0.4])
    assert q.residual <= 1e-12 and q.m > 0
    # Q1-Q2 recomputed by hand, and M = <c h> = (m, 0, M3)
    D = np.hypot(q.m, M3 - np.array(W) - q.Omega)
    cw = np.array(c) * [0.6, 0.4]
    assert abs(np.sum(cw / D) - 1) < 1e-12 and abs(np.sum(cw * (np.array(W) + q.Omega) / D)) < 1e-12
    M = (cw[:, None] * q.h).sum(0)
    np.testing.assert_allclose(M, [q.m, 0, M3], atol=1e-12)
    # per-particle input with equal weights gives the same root
    cp = np.r_[np.full(6, c[0]), np.full(4, c[1])]
    wp = np.r_[np.full(6, W[0]), np.full(4, W[1])]
    q2 = solve_qss(cp, wp, M3=M3, guess=q)
    assert abs(q2.Omega - q.Omega) < 1e-12 and abs(q2.m - q.m) < 1e-12
    # the grid search finds it too
    roots = qss_roots(c, W, M3=M3, weights=[0.6, 0.4])
    assert any(abs(r.Omega - q.Omega) < 1e-10 and abs(r.m - q.m) < 1e-10 for r in roots)


def test_solver_units_scale_with_mu():
    q1 = solve_qss([0.9, -0.5], W, M3=0.2, weights=[0.6, 0.4])
    q2 = solve_qss([0.9, -0.5], 3.0 * np.array(W), M3=0.2, mu=3.0, weights=[0.6, 0.4], guess=(3 * q1.Omega, q1.m))
    assert abs(q2.Omega - 3 * q1.Omega) < 1e-12 and abs(q2.m - q1.m) < 1e-12
    np.testing.assert_allclose(q2.h, q1.h, atol=1e-12)


def test_branch_continuation_through_a_zero_crossing():
    """Follow the antiparallel branch while c_x goes from -0.5 through 0 to +0.2."""
    q = solve_qss([0.9, -0.5], W, M3=0.2, weights=[0.6, 0.4])
    path = []
    for cx in np.linspace(-0.5, 0.2, 15):
        ce = 0.9 - 0.5 * (cx + 0.5)  # any smooth change of c_e
        q = solve_qss([ce, cx], W, M3=0.2, weights=[0.6, 0.4], guess=q)
        assert q.residual <= 1e-12 and q.m > 0
        path.append((q.Omega, q.m))
    steps = np.abs(np.diff(np.array(path), axis=0)).max()
    assert steps < 0.05  # one continuous branch, no jump to another root


def test_no_root_is_a_clear_error():
    with pytest.raises(NoQSSError, match="no QSS with m > 0 exists") as err:
        solve_qss([-0.5, -0.3], W, M3=0.2, weights=[0.6, 0.4])  # Q1 needs <c/D> > 0
    assert "\n" not in str(err.value)
    assert isinstance(err.value, InputError)


def test_qss_is_stationary_in_the_isotropic_mean_field():
    """P_a = c_a h_a turns rigidly at Omega under dP_a/dt = (-omega_a B + <P>) x P_a: to 1e-10 over mu t = 500."""
    from scipy.integrate import solve_ivp

    sc, q, c, w = exact_qss_scenario(0.9, -0.5, 0.01)
    P0 = q.bloch(c, w)
    B = np.array([0, 0, 1.0])

    def f(t, y):
        P = y.reshape(-1, 3)
        return np.cross(-w[:, None] * B + P.mean(0), P).ravel()

    T = np.linspace(0, 500, 51)
    sol = solve_ivp(f, (0, 500), P0.ravel(), method="DOP853", t_eval=T, rtol=1e-13, atol=1e-15)
    for t, y in zip(T, sol.y.T):
        np.testing.assert_allclose(y.reshape(-1, 3), q.bloch(c, w, phase=q.Omega * t), atol=1e-10)


# --------------------------------------------------------------------------- extraction


def test_extraction_recovers_the_qss_and_the_dephased_parts():
    """A window of an exact QSS turning at Omega, plus dephased parts precessing about h_a at D_a
    (in pairs of opposite phase, so that they add nothing to M): the fit returns Omega, m, c and
    q^2 exactly."""
    sc, q, c, w = exact_qss_scenario(0.24, 0.23, 0.01)
    h = q.axes(w)
    e1 = np.cross(h, [0, 1.0, 0])
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(h, e1)
    rng = np.random.default_rng(3)
    qa = np.repeat(rng.uniform(0.0, 0.3, len(c) // 2), 2)
    ph0 = np.repeat(rng.uniform(0, 2 * np.pi, len(c) // 2), 2) + np.tile([0.0, np.pi], len(c) // 2)
    from oile_q.conventions import rotation_z

    t = np.arange(0, 400.0001, 0.5)
    D = q.D[np.searchsorted(q.omega, w)]
    P = np.empty((len(t), len(c), 3))
    for i, ti in enumerate(t):
        ang = ph0 + D * ti
        Prot = c[:, None] * h + qa[:, None] * (np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2)
        P[i] = Prot @ rotation_z(q.Omega * ti).T
    # without dephasing: exact
    P_clean = np.stack([(c[:, None] * h) @ rotation_z(q.Omega * ti).T for ti in t])
    fit = qss_from_samples(t, P_clean, w, window=50.0)
    assert abs(fit.qss.Omega - q.Omega) < 1e-10 and abs(fit.qss.m - q.m) < 1e-10
    np.testing.assert_allclose(fit.c, c, atol=1e-10)
    assert fit.scatter < 1e-10 and fit.mismatch < 1e-10
    # one time only: Omega from the instantaneous turning of M_perp, dM/dt = -B x <omega P>
    from oile_q.qss import qss_from_state

    one = qss_from_state(P_clean[7], w)
    assert abs(one.Omega_fit - q.Omega) < 1e-12 and abs(one.qss.Omega - q.Omega) < 1e-10
    np.testing.assert_allclose(one.c, c, atol=1e-10)
    # with the dephased parts
    fit = qss_from_samples(t, P, w, window=50.0)
    assert abs(fit.qss.Omega - q.Omega) < 1e-10 and abs(fit.qss.m - q.m) < 1e-10
    np.testing.assert_allclose(fit.c, c, atol=1e-10)
    np.testing.assert_allclose(fit.q2, qa**2, atol=1e-10)


def test_extraction_from_a_dataset_matches_the_arrays():
    sc = paper1_gas(0.05, n_e=6, n_x=4)
    ds = run(sc, "master", times=np.arange(0, 300.001, 0.5))
    a = qss_from_dataset(ds, window=50.0)
    from oile_q.results import mass_basis

    b = qss_from_samples(ds.time.values, np.asarray(mass_basis(ds)), ds.omega.values, window=50.0)
    assert a.qss.Omega == b.qss.Omega and np.array_equal(a.c, b.c)
    assert a.qss.residual <= 1e-12 and a.t_end == 300.0 and a.t_start == 250.0


# --------------------------------------------------------------------------- the source S_a


def test_source_equals_the_exact_maps_excess_and_the_pairwise_sum(rng):
    """S_a = <g^2 |P_b x P_a|^2>_b - s|M_a x P_a|^2: (i) the O(N) moment form equals the O(N^2)
    pairwise sum, (ii) it is the excess of the exact encounter map's E d|P_a|^2 over the master
    equation's rate, (iii) it is >= 0 (s = 1)."""
    from oile_q.engines.misci import FlowState, flow_terms
    from oile_q.scenario import isotropic_velocities

    n = 12
    V = isotropic_velocities(n, rng)
    g = 1 - V @ V.T
    c = rng.uniform(-0.8, 0.8, n)
    h = rng.normal(size=(n, 3))  # one axis per particle: every particle its own frequency level
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    P = c[:, None] * h
    M = (g @ P) / (n - 1)
    state = FlowState.build(V, 0.01 * np.arange(n), M3=0.0, weights="g", s=1.0)
    dc, dq2, S, M_flow = flow_terms(state, c, np.zeros(n), h)
    np.testing.assert_allclose(M_flow, M, atol=1e-14)
    # the c-flow: -(<g^2> c_a - h_a.<g^2 P_b>) + (1/2) c_a |M_a x h_a|^2, by hand
    g2 = (g**2).sum(1) / (n - 1)
    hand = -(g2 * c - np.einsum("ai,ai->a", h, (g**2 @ P) / (n - 1))) + 0.5 * c * (np.cross(M, h) ** 2).sum(1)
    np.testing.assert_allclose(dc, hand, atol=1e-14)
    pair = np.array(
        [
            sum(g[a, b] ** 2 * np.sum(np.cross(P[b], P[a]) ** 2) for b in range(n)) / (n - 1)
            - np.sum(np.cross(M[a], P[a]) ** 2)
            for a in range(n)
        ]
    )
    np.testing.assert_allclose(S, pair, atol=1e-13)
    assert np.all(S >= -1e-14)
    # (ii) exact map: E_b d|P_a|^2 / gamma^2 minus the master equation's rate, gamma -> 0
    gamma = 1e-4
    for a in range(3):
        d = [np.sum(swap_map(P[a], P[b], gamma * g[a, b])[0] ** 2) - np.sum(P[a] ** 2) for b in range(n) if b != a]
        exact = np.mean(d) / gamma**2
        master = -2 * np.sum(g[a] ** 2 * (P[a] @ P[a] - P @ P[a])) / (n - 1) + np.sum(np.cross(M[a], P[a]) ** 2)
        assert abs(exact - master - S[a]) < 1e-6


def test_source_phase_average_with_dephased_parts(rng):
    """With q_a > 0 the source is the average over the dephased parts' independent phases: compare
    with the pairwise formula averaged on a grid of phases (exact for these trigonometric
    polynomials of degree 2 in each phase)."""
    import itertools

    from oile_q.engines.misci import FlowState, flow_terms
    from oile_q.scenario import isotropic_velocities

    n, s_p, k = 4, 0.3, 4
    V = isotropic_velocities(n, rng)
    g = 1 - V @ V.T
    c = rng.uniform(-0.6, 0.6, n)
    q2 = rng.uniform(0.0, 0.2, n)
    h = rng.normal(size=(n, 3))
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    M = (g @ (c[:, None] * h)) / (n - 1)
    state = FlowState.build(V, [0.1, 0.2, 0.3, 0.4], M3=0.0, weights="g", s=s_p)
    _, _, S, _ = flow_terms(state, c, q2, h)
    e1 = np.cross(h, [0.3, 0.5, 0.7])
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(h, e1)
    ang = 2 * np.pi * np.arange(k) / k
    avg = np.zeros(n)
    for phs in itertools.product(ang, repeat=n):
        phs = np.array(phs)
        Pp = c[:, None] * h + np.sqrt(q2)[:, None] * (np.cos(phs)[:, None] * e1 + np.sin(phs)[:, None] * e2)
        avg += np.array(
            [
                sum(g[a, b] ** 2 * np.sum(np.cross(Pp[b], Pp[a]) ** 2) for b in range(n)) / (n - 1)
                - s_p * np.sum(np.cross(M[a], Pp[a]) ** 2)
                for a in range(n)
            ]
        )
    np.testing.assert_allclose(S, avg / k**n, atol=1e-13)


@pytest.mark.parametrize("isotropic", [False, True])
def test_spread_source_is_the_phase_average_of_the_pairwise_source(rng, isotropic):
    """The start's source and decay rate of the schedule spread X_a (``spread_source``): with the
    spread a random-phase vector of length sqrt(X_b) perpendicular to P_b, S_a is the phase average
    of <g^2 |P_b x P_a|^2>_b - s|M_a x P_a|^2 (grid of 4 phases per particle: exact for these
    degree-2 trigonometric polynomials), and with X = 0 the plain pairwise sum; the rate is
    -2<g^2>_b + s(|M_a|^2 - |M_a x u_a|^2 / 2)."""
    import itertools

    from oile_q.engines.misci.kernels import spread_source
    from oile_q.scenario import isotropic_velocities

    n, s_p, k = 4, 0.3, 4
    V = isotropic_velocities(n, rng)
    P = rng.normal(size=(n, 3)) * 0.4
    X = rng.uniform(0.0, 0.1, n)
    if isotropic:
        g, norm = np.ones((n, n)), n  # paper I Eq. 17: M = <P> over all particles, <g^2> = 4/3
        g2w, g2 = (4.0 / 3.0) * np.ones((n, n)), np.full(n, 4.0 / 3.0)
    else:
        g = 1 - V @ V.T
        norm = n - 1
        g2w, g2 = g**2, (g**2).sum(1) / (n - 1)
    M = (g @ P) / norm
    u = P / np.linalg.norm(P, axis=1, keepdims=True)
    e1 = np.cross(u, [0.3, 0.5, 0.7])
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(u, e1)
    ang = 2 * np.pi * np.arange(k) / k

    def pairwise(Pp):
        return np.array(
            [
                sum(g2w[a, b] * np.sum(np.cross(Pp[b], Pp[a]) ** 2) for b in range(n)) / norm
                - s_p * np.sum(np.cross(M[a], Pp[a]) ** 2)
                for a in range(n)
            ]
        )

    S0, r0 = spread_source(P, np.zeros(n), V, np.ones(n), g2, s_p, isotropic)
    np.testing.assert_allclose(S0, pairwise(P), atol=1e-13)
    avg = np.zeros(n)
    for phs in itertools.product(ang, repeat=n):
        phs = np.array(phs)
        avg += pairwise(P + np.sqrt(X)[:, None] * (np.cos(phs)[:, None] * e1 + np.sin(phs)[:, None] * e2))
    S, r = spread_source(P, X, V, np.ones(n), g2, s_p, isotropic)
    np.testing.assert_allclose(S, avg / k**n, atol=1e-13)
    hand = -2 * g2 + s_p * ((M**2).sum(1) - 0.5 * (np.cross(M, u) ** 2).sum(1))
    np.testing.assert_allclose(r, hand, atol=1e-13)
    np.testing.assert_allclose(r0, hand, atol=1e-13)


def test_start_purity_follows_the_map_with_the_schedule_spread():
    """The master equation has no S_a, so through the transient its <|P|>_g misses the OILE map's by
    ~3e-3-5e-3 (paper I's gas, gamma = 1e-2); misci's start carries the schedule spread X_a
    (dX/dtau = r X + S) and follows the map's seed mean (16 seeds) to within its standard error."""
    from oile_q.results import mass_basis

    sc = paper1_gas(1e-2)
    times = np.arange(0, 251.0, 1.0)

    def mean_abs(ds):
        P = np.asarray(mass_basis(ds))
        g = np.asarray(ds.group)
        return np.array([np.linalg.norm(P[:, g == k], axis=2).mean(1) for k in ("nu_e", "nu_x")])

    mi = run(sc, "misci", times=times, switch_time=200.0, qss_tol=0.02)
    ma = run(sc, "master", times=times)
    maps = np.array([mean_abs(run(sc, "oile", times=times, seed=s)) for s in range(1, 17)])
    sel = (times >= 50) & (times <= 200)
    mean, sem = maps.mean(0)[:, sel], (maps.std(0, ddof=1) / 4)[:, sel]
    err_misci = np.abs(mi.group_mean_abs.values.T[:, sel] - mean).mean(1)
    err_master = np.abs(mean_abs(ma)[:, sel] - mean).mean(1)
    assert np.all(err_misci < 3 * sem.mean(1)), (err_misci, sem.mean(1))
    assert np.all(err_master > 5 * err_misci), (err_master, err_misci)
    # the spread enters q_a^2 at the switch: purity after it stays above the run without S_a
    no = run(sc, "misci", times=times, switch_time=200.0, qss_tol=0.02, include_source=False)
    assert np.all(mi.group_mean_abs.values[-1] > no.group_mean_abs.values[-1])


# --------------------------------------------------------------------------- the engine


def test_flow_differs_from_eq17_by_order_gamma():
    """From the same exact QSS (particles of a group identical), misci (isotropic weights) and the
    master equation Eq. 17 give group means that differ by O(gamma): about 0.13 gamma on the late
    branch (measured 0.127-0.131 gamma for gamma = 3e-2 ... 3e-3, tau <= 3)."""
    errs = []
    gammas = [1e-2, 3e-3]
    for gamma in gammas:
        sc, q, c, w = exact_qss_scenario(0.24, 0.23, gamma)
        times = np.linspace(0, 3.0 / gamma, 151)
        mi = run(sc, "misci", times=times, weights="isotropic", switch_time=0.0, rtol=1e-11, atol=1e-13)
        ma = run(sc, "master", times=times, isotropic=True, rtol=1e-10, atol=1e-12)
        errs.append(np.abs(group_obs(ma) - misci_obs(mi)).max())
        assert mi.attrs["misci_start"] == "switch_time" and mi.attrs["misci_switch_time"] == 0.0
    slope = np.log(errs[0] / errs[1]) / np.log(gammas[0] / gammas[1])
    assert 0.9 < slope < 1.1, (errs, slope)
    assert 0.08 < errs[-1] / gammas[-1] < 0.2, errs


def test_flow_cost_and_path_do_not_depend_on_gamma():
    """The flow in tau is the same for every gamma: same right-hand-side count, same path; only the
    phase (and so P in the lab frame) scales with 1/gamma."""
    out = {}
    for gamma in (1e-2, 1e-5):
        sc, q, c, w = exact_qss_scenario(0.9, -0.5, gamma, seed=2)
        mi = run(sc, "misci", times=np.linspace(0, 2.0 / gamma, 11), switch_time=0.0)
        out[gamma] = mi
    a, b = out[1e-2], out[1e-5]
    sa, sb = json.loads(a.attrs["engine_stats"]), json.loads(b.attrs["engine_stats"])
    assert sa["flow_rhs_evals"] == sb["flow_rhs_evals"]
    np.testing.assert_allclose(a.group_c.values, b.group_c.values, atol=1e-12)
    np.testing.assert_allclose(a.Omega.values[1:], b.Omega.values[1:], atol=1e-12)


def test_engine_layout_and_invariants(tmp_path):
    """Paper I's gas, small: hybrid start (automatic), the flow, the shared layout and extras."""
    sc = paper1_gas(0.02, n_e=12, n_x=8)
    times = np.r_[np.arange(0, 400, 10.0), np.linspace(400, 3.0 / 0.02, 11)]
    ds = run(sc, "misci", times=times)
    T0 = ds.attrs["misci_switch_time"]
    assert ds.attrs["misci_start"] == "automatic" and 100 < T0 < 400
    assert "phase-approximate" in ds.attrs["phase_approximate"]
    assert ds.P.shape == (len(ds.time), sc.n, 3)
    assert not np.isnan(ds.P.values).any()
    for name in ("group_P3", "group_Pperp", "group_abs_mean", "group_mean_abs", "group_c"):
        assert ds[name].dims == ("time", "group")
    assert list(ds.group_name.values) == ["nu_e", "nu_x"]
    assert list(np.unique(ds.group.values)) == ["nu_e", "nu_x"]  # per-particle labels kept
    before = ds.time.values <= T0
    assert np.isnan(ds.Omega.values[before]).all() and not np.isnan(ds.Omega.values[~before]).any()
    # the conserved <P_3> (mass basis) through the start and the flow
    M3 = (ds.group_P3 * np.array([12, 8])).sum("group") / 20
    assert np.abs(M3 - M3[0]).max() < 1e-9
    # the QSS's own mean field: m and the group means agree after the switch
    qss = json.loads(ds.attrs["misci_qss"])
    assert qss["residual"] <= 1e-12 and qss["scatter"] <= 0.01 and qss["mismatch"] <= 0.01
    Mperp = (ds.group_Pperp.values * [12, 8]).sum(1) / 20
    np.testing.assert_allclose(Mperp[~before], ds.qss_m.values[~before], atol=1e-9)
    # P rebuilt from c h and the phase: group means in the mass basis match the extras
    obs = group_obs(ds)
    np.testing.assert_allclose(obs[:, 0].T, ds.group_P3.values, atol=1e-9)
    np.testing.assert_allclose(obs[:, 1].T, ds.group_Pperp.values, atol=1e-9)
    # <|P|> >= |<P>| per group; the netCDF round trip keeps everything
    assert np.all(ds.group_mean_abs.values >= ds.group_abs_mean.values - 1e-12)
    from oile_q.results import load, save

    back = load(save(ds, tmp_path / "misci.nc"))
    np.testing.assert_array_equal(back.group_P3.values, ds.group_P3.values)
    assert back.attrs["misci_start"] == "automatic"


def test_start_from_a_dataset_and_from_a_switch_time():
    sc = paper1_gas(0.02, n_e=12, n_x=8)
    ma = run(sc, "master", times=np.arange(0, 300.0001, 0.5))
    a = run(sc, "misci", times=[0, 300, 400, 500], start=ma)
    assert a.attrs["misci_start"] == "dataset" and a.attrs["misci_switch_time"] == 300.0
    np.testing.assert_array_equal(a.P.values[:2], ma.P.sel(time=[0, 300]).values)
    b = run(sc, "misci", times=[0, 300, 400, 500], switch_time=300.0)
    assert b.attrs["misci_start"] == "switch_time"
    # same master start (same tolerances), same QSS, same flow
    np.testing.assert_allclose(a.group_P3.values, b.group_P3.values, atol=1e-6)
    assert "start" not in json.loads(a.attrs["options"])  # not recorded (a Dataset)


def test_start_on_a_sample():
    """``start_sample``: the start runs on a stratified sample; every particle gets its group's mean
    c and q^2 at the switch, so the flow starts with identical particles per group."""
    sc = paper1_gas(0.02, n_e=60, n_x=40)
    ds = run(sc, "misci", times=[0, 100, 300, 600], switch_time=300.0, start_sample=20)
    assert ds.attrs["misci_start_sample"] == 20
    P = ds.P.values
    sampled = ~np.isnan(P[1, :, 0])
    assert sampled.sum() == 20 and sampled[:60].sum() == 12
    assert not np.isnan(ds.group_P3.values).any() and not np.isnan(P[-1]).any()
    # at the switch every particle of a group shares c (the sample's mean)
    from oile_q.engines.misci.start import stratified_sample

    idx = stratified_sample(sc.group, 20)
    assert len(idx) == 20 and len(set(idx)) == 20
    M3 = (ds.group_P3 * np.array([60, 40])).sum("group") / 100
    assert np.abs(M3 - M3[0]).max() < 1e-9


def test_velocity_quadrature_matches_the_moments_of_its_class(rng):
    """Positive weights summing to the class size whose velocity moments equal the class's own up
    to the degree L = floor(sqrt(K/3)) - 1 (exact algebra)."""
    from oile_q.engines.misci.quadrature import monomials, velocity_quadrature
    from oile_q.scenario import isotropic_velocities

    V = isotropic_velocities(3000, rng)
    for K in (64, 256, 512):
        Vq, w, L = velocity_quadrature(V, K)
        assert L == int(np.floor(np.sqrt(K / 3))) - 1 and Vq.shape == (K, 3)
        assert np.all(w > 0) and abs(w.sum() - 3000) < 1e-9
        np.testing.assert_allclose(np.linalg.norm(Vq, axis=1), 1.0, atol=1e-14)
        np.testing.assert_allclose(monomials(Vq, L) @ w, monomials(V, L).sum(1), atol=1e-9)
    with pytest.raises(InputError, match="quadrature"):  # 512 points cannot stand for 100 velocities
        velocity_quadrature(V[:100], 512)


def test_weighted_kernels_equal_the_gas_with_repeated_particles(rng):
    """A particle of weight w_b is w_b particles at the same velocity (g = 0 between them): the
    weighted master equation and the weighted spread source equal the unweighted ones on the
    gas with every particle repeated, to rounding."""
    from oile_q.engines._master_kernels import master_rhs, weighted_master_rhs
    from oile_q.engines.misci.kernels import spread_source
    from oile_q.moments import Moments
    from oile_q.scenario import isotropic_velocities

    n = 15
    V = isotropic_velocities(n, rng)
    P = rng.normal(size=(n, 3)) * 0.4
    X = rng.uniform(0, 0.05, n)
    wB = rng.normal(size=(n, 3)) * 0.1
    w = rng.integers(1, 4, n).astype(float)
    rep = np.repeat(np.arange(n), w.astype(int))
    N = len(rep)
    g2_full = Moments(V[rep]).g2_sum / (N - 1)
    out_full = np.empty((N, 3))
    master_rhs(
        P[rep], np.ascontiguousarray(V[rep]), np.ascontiguousarray(wB[rep]), g2_full, 1 / (N - 1), 0.03, 0.7, out_full
    )
    g = 1 - V @ V.T
    g2 = (g * g) @ w / (N - 1)
    np.testing.assert_allclose(g2, g2_full[np.searchsorted(rep, np.arange(n))], atol=1e-14)
    out = np.empty((n, 3))
    weighted_master_rhs(P, V, w, wB, g2, 1 / (N - 1), 0.03, 0.7, out)
    np.testing.assert_allclose(out[rep], out_full, atol=1e-13)
    S_full, r_full = spread_source(P[rep], X[rep], np.ascontiguousarray(V[rep]), np.ones(N), g2_full, 0.7, False)
    S, r = spread_source(P, X, V, w, g2, 0.7, False)
    np.testing.assert_allclose(S[rep], S_full, atol=1e-13)
    np.testing.assert_allclose(r[rep], r_full, atol=1e-13)


def test_quadrature_start_follows_the_full_start():
    """The start on a velocity quadrature (128 points per group for 2400 particles) against the full
    master-equation start: the quadrature is exact to linear order in the O(N^-1/2) anisotropy of
    the velocities, so the same switch and group observables within 1e-4 < 1/N (measured: 4e-10 for
    the means, 4e-6 for <|P|>, which each particle takes from its nearest point)."""
    sc = paper1_gas(2e-2, n_e=1440, n_x=960)
    times = np.linspace(0, 400.0, 41)
    full = run(sc, "misci", times=times, quadrature=0)
    quad = run(sc, "misci", times=times, quadrature=128)
    assert "misci_start_quadrature" not in full.attrs and "256 weighted points" in quad.attrs["misci_start_quadrature"]
    assert quad.attrs["misci_switch_time"] == full.attrs["misci_switch_time"]
    np.testing.assert_allclose(quad.group_P3.values, full.group_P3.values, atol=1e-4)
    np.testing.assert_allclose(quad.group_Pperp.values, full.group_Pperp.values, atol=1e-4)
    np.testing.assert_allclose(quad.group_mean_abs.values, full.group_mean_abs.values, atol=1e-4)
    assert np.isfinite(quad.P.values).all()
    # the total mass-basis P_3 is the gas's
    M3 = (quad.group_P3 * np.array([1440, 960])).sum("group") / 2400
    assert np.abs(M3 - M3[0]).max() < 1e-9


def test_quadrature_is_automatic_for_large_gases():
    from types import SimpleNamespace

    from oile_q.engines.misci.start import AUTO_ABOVE, AUTO_POINTS, quadrature_points

    opts = dict(quadrature=None, weights="g", start=None, start_sample=None)
    big = SimpleNamespace(scenario=SimpleNamespace(n=AUTO_ABOVE + 2), options=opts)
    small = SimpleNamespace(scenario=SimpleNamespace(n=AUTO_ABOVE), options=opts)
    assert quadrature_points(big) == AUTO_POINTS and quadrature_points(small) == 0
    assert quadrature_points(SimpleNamespace(scenario=big.scenario, options={**opts, "quadrature": 0})) == 0
    assert quadrature_points(SimpleNamespace(scenario=big.scenario, options={**opts, "weights": "isotropic"})) == 0


def test_without_source_purity_is_lower():
    sc = paper1_gas(0.02, n_e=12, n_x=8)
    times = [0, 300, 500, 1000]
    a = run(sc, "misci", times=times, switch_time=300.0)
    b = run(sc, "misci", times=times, switch_time=300.0, include_source=False)
    np.testing.assert_allclose(a.group_P3.values, b.group_P3.values, atol=1e-12)  # means unaffected
    assert np.all(a.group_mean_abs.values[-1] > b.group_mean_abs.values[-1])


def test_poisson_flow_takes_s_equal_p():
    sc, q, c, w = exact_qss_scenario(0.24, 0.23, 0.01, seed=4)
    ds = run(sc, "misci", times=[0, 100, 200], schedule="poisson", p=0.25, switch_time=0.0)
    assert ds.attrs["misci_s"] == 0.25 and ds.attrs["p"] == 0.25
    every = run(sc, "misci", times=[0, 100, 200], switch_time=0.0)
    assert every.attrs["misci_s"] == 1.0
    assert np.abs(ds.group_c.values[-1] - every.group_c.values[-1]).max() > 1e-4


# --------------------------------------------------------------------------- bad input


def _one_line(excinfo):
    msg = str(excinfo.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


def test_bad_input_gives_one_clear_line():
    one = Scenario.from_groups([dict(name="e", count=10, flavor="e", omega=0.1)], gamma=0.01, seed=1)
    with pytest.raises(InputError, match="one vacuum frequency") as e:
        run(one, "misci", t_max=100)
    _one_line(e)
    sc = paper1_gas(0.02, n_e=6, n_x=4)
    with pytest.raises(InputError, match="not in a QSS") as e:
        run(sc, "misci", t_max=1000, switch_time=60.0)  # inside the flavor-pendulum transient
    _one_line(e)
    with pytest.raises(InputError, match="schedule") as e:
        run(sc, "misci", t_max=100, schedule=np.array([[[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]] * 5000))
    _one_line(e)
    fg = Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.1)
    with pytest.raises(InputError, match="ensemble") as e:
        run(fg, "misci", t_max=10)
    _one_line(e)
    with pytest.raises(InputError, match="switch_time") as e:
        run(sc, "misci", t_max=100, switch_time=200.0)
    _one_line(e)
    with pytest.raises(InputError, match="start") as e:
        run(sc, "misci", t_max=100, start="not a dataset")
    _one_line(e)
    for kw, msg in [
        (dict(quadrature=5), "at least 16"),
        (dict(quadrature=64, weights="isotropic"), "weights 'g'"),
        (dict(quadrature=64, start_sample=8), "only one of"),
    ]:
        with pytest.raises(InputError, match=msg) as e:
            run(sc, "misci", t_max=100, **kw)
        _one_line(e)
    # a state with no m > 0 root: every particle antiparallel (c < 0) is no QSS
    bad, q, c, w = exact_qss_scenario(0.24, 0.23, 0.01)
    flipped = Scenario(-bad.P0, bad.omega, bad.velocity, gamma=0.01, group=list(bad.group))
    with pytest.raises(InputError, match="QSS") as e:
        run(flipped, "misci", t_max=100, switch_time=0.0)
    _one_line(e)


def test_no_automatic_qss_is_an_error():
    sc = paper1_gas(0.02, n_e=6, n_x=4)
    with pytest.raises(InputError, match="no QSS found by mu t = 100") as e:
        run(sc, "misci", t_max=1000, switch_max=100.0)
    _one_line(e)


# --------------------------------------------------------------------------- slow validations


@pytest.mark.slow
def test_end_to_end_against_the_oile_map_gamma_1e2():
    """Paper I's gas (N = 100), gamma = 1e-2, three schedule seeds: smoothed (100/mu) group means
    within 2.5e-3 for tau in [3, 10] and 1e-2 for tau in [1, 3]; <|P|>_g within 1e-2."""
    gamma = 1e-2
    sc = paper1_gas(gamma)
    times = np.arange(0, 1000.0001, 1.0)
    mi = run(sc, "misci", times=times)
    k = np.ones(100) / 100

    def smooth(x):
        return np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), -1, x)

    om = smooth(np.stack([mi.group_P3.values.T, mi.group_Pperp.values.T, mi.group_mean_abs.values.T], 1))
    tau = gamma * times
    edge = (times > 60) & (times < times[-1] - 60)
    for seed in (1, 2, 3):
        ds = run(sc, "oile", times=times, seed=seed)
        from oile_q.results import mass_basis

        P = np.asarray(mass_basis(ds))
        g = np.asarray(ds.group)
        o = []
        for name in ("nu_e", "nu_x"):
            M = P[:, g == name].mean(1)
            o.append([M[:, 2], np.hypot(M[:, 0], M[:, 1]), np.linalg.norm(P[:, g == name], axis=2).mean(1)])
        d = np.abs(smooth(np.array(o)) - om)
        late = (tau >= 3) & edge
        early = (tau >= 1) & (tau <= 3) & edge
        assert d[:, :2][..., late].max() < 2.5e-3, (seed, d[:, :2][..., late].max())
        assert d[:, :2][..., early].max() < 1e-2, (seed, d[:, :2][..., early].max())
        assert d[:, 2][..., (tau >= 1) & edge].max() < 1e-2


@pytest.mark.parametrize("weights", ["g", "isotropic"])
@pytest.mark.parametrize("source", [True, False])
def test_compiled_flow_equals_the_numpy_reference(rng, weights, source):
    from oile_q.engines.misci import FlowState, flow_terms
    from oile_q.engines.misci.kernels import flow_kernel
    from oile_q.scenario import isotropic_velocities

    n = 40
    V = isotropic_velocities(n, rng)
    omega = rng.choice([0.1, 0.2, 0.35], n)
    state = FlowState.build(V, omega, M3=0.1, weights=weights, s=0.4, include_source=source)
    H = rng.normal(size=(3, 3))
    H /= np.linalg.norm(H, axis=1, keepdims=True)
    c = rng.uniform(-0.7, 0.7, n)
    q2 = rng.uniform(0, 0.2, n)
    ref = flow_terms(state, c, q2, H)
    got = flow_kernel(state.V, state.idx, c, q2, H, state.g2, state.s, source, weights == "isotropic")
    for r, g in zip(ref, got):
        if r is not None:
            np.testing.assert_allclose(g, r, atol=1e-13)


def test_poisson_flow_follows_the_poisson_master_equation():
    """Poisson timing (s = p): from the same exact QSS the flow differs from the Poisson master
    equation by O(gamma), while the every-step master equation (s = 1) stays O(1) away: the
    s-weighted terms are O(1) in tau, so a wrong weight would not shrink with gamma. (A state with
    a large |M x h_a|^2 ~ 0.04-0.08, where those terms matter: omega = 0.5, 1.0 mu.)"""
    errs, wrong = [], []
    gammas = [1e-2, 3e-3]
    for gamma in gammas:
        sc, q, c, w = exact_qss_scenario(0.8, 0.8, gamma, M3=0.0, omega=(0.5, 1.0))
        times = np.linspace(0, 1.0 / gamma, 51)
        kw = dict(schedule="poisson", p=0.2, seed=1)
        mi = run(sc, "misci", times=times, weights="isotropic", switch_time=0.0, rtol=1e-10, atol=1e-12, **kw)
        ma = run(sc, "master", times=times, isotropic=True, rtol=1e-9, atol=1e-11, **kw)
        every = run(sc, "master", times=times, isotropic=True, rtol=1e-9, atol=1e-11)
        errs.append(np.abs(group_obs(ma) - misci_obs(mi)).max())
        wrong.append(np.abs(group_obs(every) - misci_obs(mi)).max())
    slope = np.log(errs[0] / errs[1]) / np.log(gammas[0] / gammas[1])
    assert 0.85 < slope < 1.15, (errs, slope)
    assert wrong[-1] > 5 * errs[-1] and wrong[-1] > 0.7 * wrong[0], (errs, wrong)
