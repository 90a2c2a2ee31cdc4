"""The ``misci`` start on a velocity quadrature: the same anisotropic transient as the gas's own,
at a cost that does not grow with N.

The transient ends when decoherence or, at small gamma, the gas's own anisotropic instability
breaks the flavor pendulum; that instability grows from the O(N^-1/2) anisotropy of the sampled
velocities, so a large gas cannot be replaced by a small sample of it. Per class of particles
sharing (omega, initial state), ``velocity_quadrature`` gives weighted directions whose velocity
moments equal the class's own to a degree set by the number of points (degree 12 for the default
512). To linear order in the anisotropy every P_a is a degree-2 polynomial in v_a whose partner
sums need moments to degree 4, so the quadrature's transient is the gas's own.
``QuadratureRunner`` runs the weighted master equation and the weighted schedule spread on the
points and carries the QSS (and the vectors before the switch) back to every particle.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...conventions import flavor_to_mass
from ...errors import InputError
from ...qss import QSSFit, solve_qss
from .master_start import MasterRunner

__all__ = ["QuadratureRunner", "monomials", "velocity_quadrature"]


def monomials(V: np.ndarray, degree: int) -> np.ndarray:
    """Every monomial v_x^i v_y^j v_z^k with i + j + k <= degree of the rows of ``V`` (n, 3).

    Returns
    -------
    ndarray (n_monomials, n)
        One row per monomial.
    """
    pw = [np.cumprod(np.vstack([np.ones(len(V)), np.repeat(V[None, :, c], degree, 0)]), 0) for c in range(3)]
    return np.array(
        [
            pw[0][i] * pw[1][j] * pw[2][k]
            for i in range(degree + 1)
            for j in range(degree + 1 - i)
            for k in range(degree + 1 - i - j)
        ]
    )


def velocity_quadrature(velocity: np.ndarray, points: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """A weighted quadrature of a set of unit velocities: ``points`` directions (a Fibonacci sphere
    turned by a fixed random rotation) with weights w_k >= 0, sum_k w_k = len(velocity) and
    sum_k w_k v_k^alpha = sum_b v_b^alpha for every monomial of degree <= L, L = floor(sqrt(points/3)) - 1
    (so the least-norm weight correction stays well conditioned).

    The start's anisotropic transient is seeded by the empirical velocity moments of the gas
    (O(N^-1/2) away from isotropy); to linear order in the anisotropy every particle's P is a
    degree-2 polynomial in its velocity and the partner sums need moments up to degree 4, so
    L >= 4 makes the quadrature's linear dynamics the gas's own.

    Returns
    -------
    tuple
        (V (points, 3), w (points,), L).

    Raises
    ------
    InputError
        When no positive weights match the moments (too few points for the class).
    """
    V0 = np.asarray(velocity, dtype=float)
    L = max(int(np.floor(np.sqrt(points / 3.0))) - 1, 2)
    i = np.arange(points) + 0.5
    z = 1.0 - 2.0 * i / points
    phi = np.pi * (1.0 + 5.0**0.5) * i
    r = np.sqrt(1.0 - z * z)
    Q, R = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    Vq = np.stack([r * np.cos(phi), r * np.sin(phi), z], 1) @ (Q * np.sign(np.diag(R))).T
    A = monomials(Vq, L)
    m = monomials(V0, L).sum(1)
    w0 = np.full(points, len(V0) / points)
    w = w0 + np.linalg.lstsq(A, m - A @ w0, rcond=None)[0]
    if np.abs(A @ w - m).max() > 1e-9 * len(V0) or w.min() <= 0:
        raise InputError(
            f"`quadrature` = {points}: no positive weights match the velocity moments up to degree {L} "
            f"of a class of {len(V0)} particles (smallest weight {w.min() / w0[0]:.3g} of uniform); "
            "use more points."
        )
    return Vq, w, L


class QuadratureRunner(MasterRunner):
    """The start on a velocity quadrature (``velocity_quadrature``) of each class of particles that share
    (omega, initial state): the g-weighted master equation with weighted partner sums
    (``oile_q.engines._master_kernels.weighted_master_rhs``) and the weighted schedule spread, on
    ~``points`` particles per class whatever N. ``to_gas`` carries the QSS measured on it to the
    scenario's particles (``_to_gas``: nearest point plus a degree-2 correction that keeps the
    partner sums). Classes with no more particles than ``points`` run as they are.

    Parameters
    ----------
    request : oile_q.engine.Request
        The ``misci`` request (scenario, schedule, options).
    stats : dict
        The run's counters (``master_rhs_evals``, ``quadrature_points``, ``quadrature_degree``).
    points : int
        Quadrature points per class.
    """

    def __init__(self, request, stats, points):
        super().__init__(request, stats)
        sc, opts = self.sc, request.options
        key = np.concatenate([sc.omega[:, None], sc.P0], 1)
        _, cls = np.unique(key, axis=0, return_inverse=True)
        self.gas_cls = cls.ravel()
        V, w, P0, om, qcls, degs = [], [], [], [], [], []
        self.real = {}
        self.nearest = {}
        for k in range(self.gas_cls.max() + 1):
            idx = np.flatnonzero(self.gas_cls == k)
            if len(idx) <= points:
                Vk, wk = sc.velocity[idx], np.ones(len(idx))
                self.real[k] = idx
            else:
                Vk, wk, L = velocity_quadrature(sc.velocity[idx], points)
                degs.append(L)
                self.nearest[k] = np.argmax(sc.velocity[idx] @ Vk.T, axis=1)
            V.append(Vk)
            w.append(wk)
            P0.append(np.repeat(sc.P0[idx[:1]], len(wk), 0))
            om.append(np.full(len(wk), sc.omega[idx[0]]))
            qcls.append(np.full(len(wk), k))
        self.V = np.ascontiguousarray(np.concatenate(V))
        self.w = np.concatenate(w)
        self.q_omega = np.concatenate(om)
        self.qcls = np.concatenate(qcls)
        self.inv = 1.0 / (sc.n - 1)
        g = 1.0 - self.V @ self.V.T
        self.g2 = (g * g) @ self.w * self.inv
        self.wB = np.ascontiguousarray((self.q_omega / sc.mu)[:, None] * sc.B[None, :])
        self.ode = dict(method=opts["method"], rtol=opts["rtol"], atol=opts["atol"])
        self.P = np.concatenate(P0)
        self.X = np.zeros(len(self.w))
        self.Pm_buf = flavor_to_mass(self.P, sc.theta)[None]
        self.X_buf = self.X[None].copy()
        self.kept = {0.0: (self.P.copy(), self.X.copy())}
        stats["quadrature_points"] = int(len(self.w))
        stats["quadrature_degree"] = int(min(degs)) if degs else None

    @property
    def omega(self) -> np.ndarray:
        """The vacuum frequency of every quadrature point."""
        return self.q_omega

    @property
    def weights(self) -> np.ndarray:
        """How many particles every quadrature point stands for."""
        return self.w

    def _evolve(self, grid):
        from scipy.integrate import solve_ivp

        from .._master_kernels import weighted_master_rhs

        out = np.empty_like(self.P)
        gamma = self.sc.gamma

        def fun(_t, y):
            weighted_master_rhs(y.reshape(-1, 3), self.V, self.w, self.wB, self.g2, self.inv, gamma, self.s, out)
            return out.ravel().copy()

        sol = solve_ivp(fun, (self.T, float(grid[-1])), self.P.ravel(), t_eval=grid, **self.ode)
        if not sol.success:  # pragma: no cover - DOP853 on a smooth bounded system
            raise RuntimeError(f"misci quadrature start: ODE solver failed: {sol.message}")
        self.stats["master_rhs_evals"] += int(sol.nfev)
        return sol.y.T.reshape(len(grid), -1, 3)

    def _to_gas(self, values):
        """Quadrature values (K_total, m) carried to the scenario's particles (N, m): per class, each
        particle takes its nearest quadrature point's value, plus one polynomial of degree 2 in the
        velocity that makes the class's sums of the values times 1, v and v v^T (the only velocity
        moments the flow's partner sums use) equal the quadrature's weighted sums."""
        sc = self.sc
        out = np.empty((sc.n, values.shape[1]))
        for k in range(self.gas_cls.max() + 1):
            qi = self.qcls == k
            gi = self.gas_cls == k
            if k in self.real:
                out[self.real[k]] = values[qi]
                continue
            vq = values[qi]
            base = vq[self.nearest[k]]
            Bg = monomials(sc.velocity[gi], 2)
            gap = monomials(self.V[qi], 2) @ (self.w[qi][:, None] * vq) - Bg @ base
            coef = np.linalg.lstsq(Bg @ Bg.T, gap, rcond=None)[0]
            out[gi] = base + Bg.T @ coef
        return out

    def to_gas(self, fit: QSSFit) -> QSSFit:
        """The QSS for the scenario's particles: c and c^2 + q^2 carried over (``_to_gas``), (Omega, m)
        re-solved at the gas's conserved M3.

        Returns
        -------
        QSSFit
            A copy of ``fit`` for the scenario's N particles.
        """
        sc = self.sc
        both = self._to_gas(np.stack([fit.c, fit.c**2 + fit.q2], 1))
        c = both[:, 0]
        q2 = np.clip(both[:, 1] - c**2, 0.0, None)
        M3 = float(flavor_to_mass(sc.P0, sc.theta)[:, 2].mean())
        q = solve_qss(c, sc.omega, M3=M3, mu=sc.mu, guess=(fit.qss.Omega, fit.qss.m))
        return dataclasses.replace(fit, qss=q, c=c, q2=q2)

    def P_at(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The start at requested times for the scenario's particles: P and |P|^2 + X carried over
        (``_to_gas``: group means those of the quadrature; each vector its nearest point's, corrected).

        Returns
        -------
        tuple of ndarray
            (flavor-basis P (T, N, 3), the spread X (T, N)).
        """
        Pq, Xq = super().P_at(times)
        P = np.empty((len(times), self.sc.n, 3))
        X = np.empty((len(times), self.sc.n))
        for i in range(len(times)):
            g = self._to_gas(np.concatenate([Pq[i], ((Pq[i] ** 2).sum(1) + Xq[i])[:, None]], 1))
            P[i] = g[:, :3]
            X[i] = np.clip(g[:, 3] - (g[:, :3] ** 2).sum(1), 0.0, None)
        return P, X
