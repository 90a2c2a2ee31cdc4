"""The master equation that carries the ``misci`` start through the transient, with the schedule
spread X_a.

``MasterRunner`` advances the ``master`` engine in chunks (through the public ``oile_q.run``) and
keeps only what the start needs: the mass-basis samples of the last two windows (the QSS window
and the switch criterion look no further back) and the Bloch vectors at the requested times, so
its memory and per-chunk work do not grow with the length of the transient.

The master equation has no S_a: the random choice of partners spreads each particle's vector
over schedules, E|P_a|^2 = |P_a^master|^2 + X_a. The runner integrates that spread along the
master equation's path, dX_a/dtau = r_a X_a + S_a (``kernels.spread_source``: the flow's source
and dephasing rate taken about u_a = P_a/|P_a| instead of h_a); X_a enters <|P|>_g before the
switch and q_a^2 at it.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from ...conventions import flavor_to_mass
from ...moments import Moments
from ...qss import QSSFit
from ...runner import run
from ...scenario import Scenario

__all__ = ["MasterRunner", "particles_of"]

_START_RECORD = 0.5  # mu t between the start's samples in the QSS window


def particles_of(sc: Scenario, idx=slice(None), P0: np.ndarray | None = None) -> Scenario:
    """The particles ``idx`` of the ensemble ``sc`` (all by default) as a scenario of their own,
    starting from the flavor-basis vectors ``P0`` (default: their own initial vectors).

    Returns
    -------
    Scenario
        Same gamma, theta, mu, frequencies, velocities and group labels.
    """
    P0 = sc.P0[idx] if P0 is None else P0
    return Scenario(
        P0, sc.omega[idx], sc.velocity[idx], gamma=sc.gamma, theta=sc.theta, mu=sc.mu, group=sc.group[idx].tolist()
    )


class MasterRunner:
    """The start's master equation, advanced chunk by chunk, with the schedule spread X_a.

    Parameters
    ----------
    request : oile_q.engine.Request
        The ``misci`` request (scenario, schedule, options).
    stats : dict
        The run's counters: ``master_rhs_evals`` is kept here.
    """

    def __init__(self, request, stats):
        self.sc = request.scenario
        self.stats = stats
        stats["master_rhs_evals"] = 0
        opts = request.options
        sched = request.schedule
        self.kw = dict(
            isotropic=opts["weights"] == "isotropic", method=opts["method"], rtol=opts["rtol"], atol=opts["atol"]
        )
        if sched.p is not None:
            self.kw.update(schedule="poisson", p=sched.p, seed=sched.seed)
        self.keep = 2.0 * opts["window"]
        self.T = 0.0
        self.P = np.asarray(self.sc.P0, dtype=float)
        self.t_buf = np.array([0.0])
        self.Pm_buf = flavor_to_mass(self.P, self.sc.theta)[None]
        self.spread = bool(opts["include_source"])
        self.isotropic = opts["weights"] == "isotropic"
        self.s = 1.0 if sched.p is None else float(sched.p)
        self.V = np.ascontiguousarray(self.sc.velocity, dtype=float)
        n = self.sc.n
        self.g2 = np.full(n, 4.0 / 3.0) if self.isotropic else Moments(self.V).g2_sum / (n - 1)
        self.w = np.ones(n)
        self.X = np.zeros(n)
        self.X_buf = self.X[None].copy()
        self.kept = {0.0: (self.P.copy(), self.X.copy())}  # requested time -> (flavor-basis P, X)

    @property
    def omega(self) -> np.ndarray:
        """The vacuum frequencies of the particles the start runs on."""
        return self.sc.omega

    weights = None  # every particle stands for itself

    def _evolve(self, grid):
        """The master equation from the current state to the times ``grid`` (> self.T): (len(grid), N, 3)."""
        P0 = self.P / np.maximum(1.0, np.linalg.norm(self.P, axis=1))[:, None]
        ds = run(particles_of(self.sc, P0=P0), "master", times=np.concatenate([[0.0], grid - self.T]), **self.kw)
        self.stats["master_rhs_evals"] += json.loads(ds.attrs["engine_stats"]).get("rhs_evals", 0)
        return np.asarray(ds["P"])[1:]

    def to_gas(self, fit: QSSFit) -> QSSFit:
        """The fit for the scenario's particles.

        Returns
        -------
        QSSFit
            ``fit`` itself: the start ran on the scenario's particles.
        """
        return fit

    def advance(self, T_to: float, want_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run from the current time to ``T_to``, keeping the state at the requested times
        ``want_times`` that fall in the stretch.

        Returns
        -------
        tuple of ndarray
            (times, mass-basis P) of the samples of the last two windows.
        """
        if T_to > self.T + 1e-12:
            grid = np.arange(self.T, T_to + 1e-9, _START_RECORD)
            extra = want_times[(want_times > self.T) & (want_times <= T_to + 1e-12)]
            grid = np.unique(np.concatenate([grid, extra, [T_to]]))
            grid = grid[grid > self.T + 1e-12]
            sc = self.sc
            Pn = self._evolve(grid)
            Xn = self._integrate_spread(grid, Pn)
            for t in extra:
                j = int(np.argmin(np.abs(grid - t)))
                self.kept[float(t)] = (Pn[j].copy(), Xn[j].copy())
            keep = grid >= T_to - self.keep - 1e-9
            old = self.t_buf >= T_to - self.keep - 1e-9
            self.t_buf = np.concatenate([self.t_buf[old], grid[keep]])
            self.Pm_buf = np.concatenate([self.Pm_buf[old], flavor_to_mass(Pn[keep], sc.theta)])
            self.X_buf = np.concatenate([self.X_buf[old], Xn[keep]])
            self.T = float(grid[-1])
            self.P = Pn[-1]
        return self.t_buf, self.Pm_buf

    def _integrate_spread(self, grid, Pn):
        """X at every sample of ``grid`` (its last value carried in ``self.X``): exponential Euler
        on the samples (every ``_START_RECORD`` mu t, so gamma d(mu t) <= 5e-3 per step for gamma <= 1e-2).
        S_a and r_a are rotation invariants, so the flavor-basis P serves."""
        Xn = np.zeros((len(grid), len(self.X)))
        if not self.spread:
            return Xn
        from .kernels import spread_source

        t_prev, P_prev, X = self.T, self.P, self.X
        gamma = self.sc.gamma
        for i, t in enumerate(grid):
            S, r = spread_source(np.ascontiguousarray(P_prev), X, self.V, self.w, self.g2, self.s, self.isotropic)
            dtau = gamma * (t - t_prev)
            X = np.maximum(X * np.exp(r * dtau) + S * dtau, 0.0)
            Xn[i] = X
            t_prev, P_prev = t, Pn[i]
        self.X = X
        return Xn

    def with_spread(self, fit: QSSFit, T: float) -> QSSFit:
        """The fit with the spread X at the sample at mu t = ``T`` added to its dephased parts.

        Returns
        -------
        QSSFit
            A copy with q_a^2 + X_a.
        """
        j = int(np.argmin(np.abs(self.t_buf - T)))
        return dataclasses.replace(fit, q2=fit.q2 + self.X_buf[j])

    def P_at(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The start at requested times (each was a sample).

        Returns
        -------
        tuple of ndarray
            (flavor-basis P (T, N, 3), the spread X (T, N)).
        """
        out = np.empty((len(times), len(self.X), 3))
        X = np.empty((len(times), len(self.X)))
        keys = np.array(sorted(self.kept))
        for i, t in enumerate(times):
            j = int(np.argmin(np.abs(keys - t)))
            if abs(keys[j] - t) > 1e-9 * max(1.0, t):  # pragma: no cover - the grid holds every time
                raise RuntimeError(f"master start has no sample at mu t = {t}")
            out[i], X[i] = self.kept[float(keys[j])]
        return out, X
