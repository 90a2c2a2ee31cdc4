"""The classical engines: ``oile`` (discrete map), ``meanfield`` and ``master`` (ODEs).

All right-hand sides are O(N): with g_ab = 1 - v_a.v_b, sums over b of g_ab X_b and
g_ab^2 X_b reduce to sums of X_b, v_b X_b and v_b v_b X_b (DESIGN.md section 4), and
g_aa = 0 makes the exclusion b != a automatic. Time is mu*t throughout.
"""

from __future__ import annotations

import numpy as np

from .conventions import flavor_to_mass, mass_to_flavor

__all__ = ["run_oile", "run_meanfield", "run_master", "Moments"]

CHUNK_ENCOUNTERS = 2_000_000  # schedule chunk size, in encounters (bounded memory)
PAIR_TABLE_MAX_N = 1024  # (N, N, 7) doubles: 59 MB at N = 1024


class _Progress:
    """Minimal progress reporting: ``progress`` is False, True (a tqdm bar that appears
    only for runs longer than 2 s) or a callable f(done_fraction)."""

    def __init__(self, progress, total, desc):
        self.bar = None
        self.fn = None
        self.total = total
        if progress is True:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, delay=2.0, unit="step", leave=False)
        elif callable(progress):
            self.fn = progress

    def update(self, done):
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
        elif self.fn is not None:
            self.fn(done / self.total if self.total else 1.0)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- oile


def run_oile(scenario, schedule, record_steps, *, propagator="exact", progress=False):
    """The discrete OILE map. Returns P (len(record_steps), N, 3) in the flavor basis.

    record_steps: sorted unique step indices (0 = initial state) to record.
    """
    from . import _kernels

    mode = _kernels.MODES[propagator]
    nsteps = int(record_steps[-1])
    theta = scenario.theta
    frac = schedule.step_fraction
    tau_mu = scenario.gamma * frac  # mu * tau for one step
    wt = np.ascontiguousarray(scenario.omega / scenario.mu * tau_mu, dtype=float)
    P = np.ascontiguousarray(flavor_to_mass(scenario.P0, theta))
    n = scenario.n
    out = np.empty((len(record_steps), n, 3))
    pos = 0
    if record_steps[0] == 0:
        out[0] = P
        pos = 1
    record = np.zeros(nsteps + 1, dtype=np.bool_)
    record[record_steps] = True
    bar = _Progress(progress, nsteps, "oile")
    if scenario.kind == "foreground":
        Q = flavor_to_mass(scenario.background["Q"], theta)
        phi = scenario.gamma * (1.0 - scenario.background["vdotu"])
        P1 = P[0].copy()
        p = 1.0 if schedule.p is None else schedule.p
        seed = 0 if schedule.seed is None else schedule.seed
        chunk = 1_000_000
        for start in range(0, nsteps, chunk):
            count = min(chunk, nsteps - start)
            pos = _kernels.foreground_steps(P1, Q, phi, float(wt[0]), seed, start, count, p, mode,
                                            record[start + 1:start + 1 + count], out, pos)
            bar.update(start + count)
    else:
        vel = np.ascontiguousarray(scenario.velocity, dtype=float)
        paired = np.zeros(n, dtype=np.bool_)
        # Precomputed per-pair coefficients pay off when encounters outnumber pairs.
        if mode == _kernels.MODE_EXACT and n <= PAIR_TABLE_MAX_N and nsteps * (n // 2) > 4 * n * n:
            table = _kernels.pair_table(wt, vel, scenario.gamma)
        else:
            table = np.empty((0, 0, 7))
        chunk = max(1, CHUNK_ENCOUNTERS // max(1, n // 2))
        for start in range(0, nsteps, chunk):
            count = min(chunk, nsteps - start)
            pairs = schedule.chunk(start, count)
            pos = _kernels.ensemble_steps(P, wt, vel, pairs, scenario.gamma, mode,
                                          record[start + 1:start + 1 + count], out, pos, paired, table)
            bar.update(start + count)
    bar.close()
    assert pos == len(record_steps)
    return mass_to_flavor(out, theta)


# --------------------------------------------------------------------------- moments


class Moments:
    """O(N) velocity moments for sums over partners b of g_ab X_b and g_ab^2 X_b."""

    def __init__(self, velocity):
        V = np.asarray(velocity, dtype=float)
        self.V = V
        self.n = V.shape[0]
        self.VV = np.einsum("ni,nj->nij", V, V).reshape(-1, 9)
        # sum_b g_ab^2 (the b = a term is zero)
        sv = V.sum(0)
        svv = self.VV.sum(0)
        self.g2_sum = self.n - 2 * V @ sv + self.VV @ svv

    def g_sum(self, X):
        """sum_b g_ab X_b for X (N, 3)."""
        return X.sum(0) - self.V @ (self.V.T @ X)

    def g2_sum_of(self, X):
        """sum_b g_ab^2 X_b for X (N, 3)."""
        return X.sum(0) - 2 * self.V @ (self.V.T @ X) + self.VV @ (self.VV.T @ X)


def _solve(rhs, y0, times, *, method, rtol, atol, progress, desc):
    from scipy.integrate import solve_ivp

    times = np.asarray(times, dtype=float)
    t_end = float(times[-1])
    if t_end == 0.0:
        return y0[None, :].copy()
    bar = _Progress(progress, 1000, desc)

    def fun(t, y):
        bar.update(int(1000 * min(t, t_end) / t_end))
        return rhs(y)

    sol = solve_ivp(fun, (0.0, t_end), y0, method=method, t_eval=times, rtol=rtol, atol=atol)
    bar.close()
    if not sol.success:
        raise RuntimeError(f"ODE solver failed: {sol.message}")
    return sol.y.T


def _mf_field(scenario, P, mom):
    """mu M_a / mu = <g_ab P_b>_b for the ensemble, g Q for the foreground."""
    if scenario.kind == "foreground":
        return (1.0 - scenario.background["vdotu"]) * scenario.background["Q"][None, :]
    return mom.g_sum(P) / (scenario.n - 1)


def run_meanfield(scenario, times, *, method="DOP853", rtol=1e-10, atol=1e-12, progress=False):
    """dP_a/d(mu t) = (-(omega_a/mu) B + M_a) x P_a. Returns P (time, N, 3), flavor basis."""
    n = scenario.n
    wB = (scenario.omega / scenario.mu)[:, None] * scenario.B[None, :]
    mom = None if scenario.kind == "foreground" else Moments(scenario.velocity)

    def rhs(y):
        P = y.reshape(n, 3)
        return np.cross(-wB + _mf_field(scenario, P, mom), P).ravel()

    out = _solve(rhs, scenario.P0.ravel().astype(float), times, method=method, rtol=rtol,
                 atol=atol, progress=progress, desc="meanfield")
    return out.reshape(-1, n, 3)


def run_master(scenario, times, *, p=None, isotropic=False, method="DOP853", rtol=1e-10,
               atol=1e-12, progress=False):
    """The OILE master equation (DESIGN.md section 4), in units of mu t:

      dP_a = (-w_a B + M_a) x P_a - gamma <g_ab^2 (P_a - P_b)>_b
             - s (gamma/2) [M_a x (M_a x P_a) + <g_ab (M_b x P_b)>_b x P_a]

    with s = 1 for every-step encounters and s = p for Poisson encounters (probability p
    per step of mu*tau = p*gamma; see docs in README). ``isotropic`` uses paper I Eq. (17):
    M_a -> <P>, <g^2> -> 4/3 and no <g (M_b x P_b)> term. For the foreground model
    (fresh partners in state Q, g = 1 - v.u):

      dP = (-w B + g Q) x P - gamma g^2 (P - Q) - s (gamma g^2/2) Q x (Q x P)
           - s (gamma g w / 2) (B x Q) x P,

    paper I Eq. (8) plus the term from the partner's own vacuum precession during the
    encounter (zero when omega = 0).

    Derivation of the Poisson variant: a step lasts mu*tau = p gamma and brings an
    encounter with probability p. Expanding the expected one-step map to second order,
    E[dP] = p gamma <g P_b> x P + p gamma^2 <g^2 (P_b - P)> + (vacuum and cross terms),
    and matching it to the flow of dP/dt = F over tau, P + tau F + (tau^2/2)(grad F) F,
    gives the same decoherence term gamma <g^2 (P_b - P)> but only a fraction p of the
    (tau^2/2)(grad F) F correction, i.e. of the bracket. The partner's vacuum precession
    during an encounter likewise enters with weight p (foreground model).
    """
    gamma = scenario.gamma
    s = 1.0 if p is None else float(p)
    n = scenario.n
    w = scenario.omega / scenario.mu
    wB = w[:, None] * scenario.B[None, :]

    if scenario.kind == "foreground":
        g = 1.0 - scenario.background["vdotu"]
        Q = scenario.background["Q"]
        BxQ = np.cross(scenario.B, Q)

        def rhs(y):
            P = y.reshape(1, 3)
            return (np.cross(-wB + g * Q, P) - gamma * g * g * (P - Q)
                    - 0.5 * s * gamma * g * g * np.cross(Q, np.cross(Q, P))
                    - 0.5 * s * gamma * g * w[0] * np.cross(BxQ, P)).ravel()
    elif isotropic:
        def rhs(y):
            P = y.reshape(n, 3)
            M = P.mean(0)[None, :]
            return (np.cross(-wB + M, P) - gamma * (4.0 / 3.0) * (P - M)
                    - 0.5 * s * gamma * np.cross(M, np.cross(M, P))).ravel()
    else:
        mom = Moments(scenario.velocity)
        inv = 1.0 / (n - 1)
        g2 = (mom.g2_sum * inv)[:, None]

        def rhs(y):
            P = y.reshape(n, 3)
            M = mom.g_sum(P) * inv
            W = np.cross(M, P)
            gW = mom.g_sum(W) * inv
            return (np.cross(-wB + M, P) - gamma * (g2 * P - mom.g2_sum_of(P) * inv)
                    - 0.5 * s * gamma * (np.cross(M, W) + np.cross(gW, P))).ravel()

    out = _solve(rhs, scenario.P0.ravel().astype(float), times, method=method, rtol=rtol,
                 atol=atol, progress=progress, desc="master")
    return out.reshape(-1, n, 3)
