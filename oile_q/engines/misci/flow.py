r"""The slow flow of the ``misci`` engine: the signed lengths c_a and the dephased parts q_a^2
along the quasi-steady states, in tau = gamma mu t (paper II, arXiv:2508.14331; docs/theory.md).

Mass basis, B = (0, 0, 1), units of mu. The axes h_a = h(omega_a; Omega, m) are re-solved from
Q1-Q2 at fixed M3 (``oile_q.qss.solve_reduced``) at every evaluation; then

.. math::

    \frac{dc_a}{d\tau} &= -\left(\langle g_{ab}^2\rangle_b c_a - h_a\cdot\langle g_{ab}^2 P_b\rangle_b\right)
                         + \frac{s}{2} c_a |M_a \times h_a|^2, \\
    \frac{dq_a^2}{d\tau} &= \left[-2\langle g_{ab}^2\rangle_b + s\left(|M_a|^2
                            - \tfrac12 |M_a\times h_a|^2\right)\right] q_a^2 + S_a, \\
    S_a &= \langle g_{ab}^2 |P_b \times P_a|^2\rangle_b - s |M_a \times P_a|^2 ,

with P_b = c_b h_b, M_a = <g_ab P_b>_b and, in S_a, the phase average over the dephased parts:
E[P_a P_a^T] = c_a^2 h_a h_a^T + (q_a^2/2)(1 - h_a h_a^T). s = 1 for every-step schedules and
s = p for Poisson timing. Isotropic weights (paper I Eq. 17): <g^2> -> 4/3, M_a -> <P>. The
precession phase is integrated alongside: d(gamma phi)/dtau = Omega / mu.

The axes depend on omega only, so every partner sum is a velocity-moment sum over 2K + 2 scalar
fields per particle (K distinct frequencies), one compiled O(N) pass (``kernels.flow_kernel``;
``flow_terms`` is its numpy reference). Nothing depends on 1/gamma.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from ...moments import Moments
from ...qss import QSS, NoQSSError, QSSFit, solve_reduced

__all__ = ["FlowState", "flow_rhs", "flow_terms", "integrate_flow", "FlowPath"]


@dataclasses.dataclass
class FlowState:
    """What the flow's right-hand side needs, and its counters.

    Build it with ``FlowState.build`` (from velocities and frequencies) or ``FlowState.make``
    (from a scenario and the QSS measured at the switch).

    Parameters
    ----------
    n : int
        Number of particles.
    levels : ndarray (K,)
        The distinct vacuum frequencies in units of mu, sorted.
    idx : ndarray (N,) of int64
        Each particle's index in ``levels``.
    V : ndarray (N, 3)
        Unit velocities, C-contiguous.
    M3 : float
        The conserved mass-basis <P_3>.
    weights : {"g", "isotropic"}
        Encounter weights: g_ab = 1 - v_a.v_b, or paper I Eq. 17 (<g^2> = 4/3, M_a = <P>).
    s : float
        Weight of the O(gamma) bracket: 1 for every-step schedules, p for Poisson timing.
    include_source : bool
        Whether dq^2/dtau includes the purity source S_a.
    g2 : ndarray (N,)
        <g_ab^2>_b per particle (4/3 for isotropic weights).
    qss : QSS, optional
        The last QSS solved (Newton's guess for the next evaluation).
    first : QSS, optional
        The QSS the flow started from.
    evals : int
        Right-hand-side evaluations so far.
    newton : int
        Newton iterations so far.

    Examples
    --------
    >>> import numpy as np
    >>> from oile_q.scenario import isotropic_velocities
    >>> V = isotropic_velocities(10, np.random.default_rng(1))
    >>> state = FlowState.build(V, [0.1] * 6 + [0.2] * 4, M3=0.4, weights="isotropic")
    >>> state.levels.tolist(), state.idx.tolist()[4:8], float(state.g2[0])
    ([0.1, 0.2], [0, 0, 1, 1], 1.3333333333333333)
    """

    n: int
    levels: np.ndarray
    idx: np.ndarray
    V: np.ndarray
    M3: float
    weights: str
    s: float
    include_source: bool
    g2: np.ndarray
    qss: QSS | None = None
    first: QSS | None = None
    evals: int = 0
    newton: int = 0

    @classmethod
    def build(
        cls,
        velocity: ArrayLike,
        omega: ArrayLike,
        *,
        M3: float,
        weights: str = "g",
        s: float = 1.0,
        include_source: bool = True,
        qss: QSS | None = None,
    ) -> FlowState:
        """The state for particles with unit velocities ``velocity`` (N, 3) and frequencies ``omega``
        (N,, units of mu); ``qss`` (on the same distinct frequencies) is the first Newton guess.

        Returns
        -------
        FlowState
            With <g_ab^2>_b computed from the velocities (``weights="g"``) or 4/3.
        """
        levels, idx = np.unique(np.asarray(omega, dtype=float), return_inverse=True)
        idx = idx.astype(np.int64)
        V = np.ascontiguousarray(velocity, dtype=float)
        n = V.shape[0]
        if weights == "g":
            g2 = Moments(V).g2_sum / (n - 1)
        else:
            g2 = np.full(n, 4.0 / 3.0)
        return cls(
            n=n,
            levels=levels,
            idx=idx,
            V=V,
            M3=float(M3),
            weights=weights,
            s=float(s),
            include_source=bool(include_source),
            g2=g2,
            qss=qss,
            first=qss,
        )

    @classmethod
    def make(cls, sc, fit: QSSFit, *, weights: str, s: float, include_source: bool) -> FlowState:
        """The state for the scenario ``sc`` starting from the QSS ``fit`` measured at the switch.

        Returns
        -------
        FlowState
            Frequencies and the QSS in units of mu.
        """
        q = dataclasses.replace(fit.qss, Omega=fit.qss.Omega / sc.mu, omega=fit.qss.omega / sc.mu, mu=1.0)
        return cls.build(
            sc.velocity, sc.omega / sc.mu, M3=fit.qss.M3, weights=weights, s=s, include_source=include_source, qss=q
        )

    def sums(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The partner averages of the per-particle fields ``F`` (N, k).

        Returns
        -------
        tuple of ndarray
            (<g_ab F_b>_b, <g_ab^2 F_b>_b), each (N, k); isotropic weights: (<F>, (4/3) <F>).
        """
        if self.weights == "g":
            from .kernels import g_sums

            G1, G2 = g_sums(self.V, np.ascontiguousarray(F))
            inv = 1.0 / (self.n - 1)
            return G1 * inv, G2 * inv
        mean = F.mean(0)
        return np.broadcast_to(mean, F.shape), np.broadcast_to((4.0 / 3.0) * mean, F.shape)


def flow_terms(
    state: FlowState, c: np.ndarray, q2: np.ndarray, H: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    r"""The flow's right-hand side for given axes, in numpy (the reference of ``kernels.flow_kernel``).

    Every partner sum is over per-level fields: <g^2 P_b> = sum_k h_k <g^2 c_b [b in k]>,
    M_a = sum_k h_k <g c_b [b in k]>, and for S_a, with Pi_b = E[P_b P_b^T],
    <g^2 Pi_b> = sum_k h_k h_k^T <g^2 (c_b^2 - q_b^2/2) [b in k]> + 1 <g^2 q_b^2 / 2>; so the
    sums need 2K + 2 scalar fields per particle, whatever N.

    Parameters
    ----------
    state : FlowState
        The gas (frequency levels, velocities, weights, s).
    c, q2 : ndarray (N,)
        Signed lengths along the axes and squared lengths of the dephased parts.
    H : ndarray (K, 3)
        The unit axis of each distinct frequency (co-rotating frame, mass basis).

    Returns
    -------
    dc : ndarray (N,)
        dc_a/dtau.
    dq2 : ndarray (N,)
        dq_a^2/dtau (with S_a when ``state.include_source``).
    S : ndarray (N,) or None
        The source S_a (None without it).
    M : ndarray (N, 3)
        The mean field M_a = <g_ab P_b>_b.

    Examples
    --------
    >>> import numpy as np
    >>> from oile_q.scenario import isotropic_velocities
    >>> V = isotropic_velocities(4, np.random.default_rng(2))
    >>> state = FlowState.build(V, [0.1, 0.1, 0.2, 0.2], M3=0.0, weights="isotropic")
    >>> H = np.array([[0.6, 0.0, 0.8], [0.0, 0.0, 1.0]])
    >>> dc, dq2, S, M = flow_terms(state, np.full(4, 0.5), np.zeros(4), H)
    >>> M[0].round(3).tolist(), bool(np.all(S >= 0))
    ([0.15, 0.0, 0.45], True)
    """
    n, K, s = state.n, len(state.levels), state.s
    idx = state.idx
    rows = np.arange(n)
    h = H[idx]
    F = np.zeros((n, 2 * K + 2 if state.include_source else K))
    F[rows, idx] = c
    if state.include_source:
        F[rows, K + idx] = c * c - 0.5 * q2
        F[:, 2 * K] = c * c + q2
        F[:, 2 * K + 1] = 0.5 * q2
    A1, A2 = state.sums(F)
    M = A1[:, 0:1] * H[0]
    for k in range(1, K):
        M = M + A1[:, k : k + 1] * H[k]
    hdot = (H @ H.T)[idx]  # h_a . h_k, (N, K)
    hA = (hdot * A2[:, :K]).sum(1)  # h_a . <g^2 P_b>_b
    M2 = (M * M).sum(1)
    Mh = (M * h).sum(1)
    Mxh2 = M2 - Mh * Mh
    g2 = state.g2
    dc = -(g2 * c - hA) + 0.5 * s * c * Mxh2
    dq2 = (-2.0 * g2 + s * (M2 - 0.5 * Mxh2)) * q2
    S = None
    if state.include_source:
        a2 = c * c - 0.5 * q2
        n2 = c * c + q2
        pair = (
            n2 * A2[:, 2 * K]
            - (A2[:, K : 2 * K] * (a2[:, None] * hdot**2 + 0.5 * q2[:, None])).sum(1)
            - A2[:, 2 * K + 1] * n2
        )
        MPiM = a2 * Mh * Mh + 0.5 * q2 * M2
        S = pair - s * (M2 * n2 - MPiM)
        dq2 = dq2 + S
    return dc, dq2, S, M


def flow_rhs(state: FlowState, c: np.ndarray, q2: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, QSS]:
    """The flow's right-hand side: re-solve Q1-Q2 at fixed M3 from the last QSS, then the flow
    (compiled, ``kernels.flow_kernel``). Counts the evaluation and Newton's iterations in ``state``.

    Parameters
    ----------
    state : FlowState
        The gas; ``state.qss`` must hold a QSS on ``state.levels`` (Newton's guess); it is
        replaced by the new one.
    c, q2 : ndarray (N,)
        Signed lengths and squared lengths of the dephased parts.

    Returns
    -------
    dc : ndarray (N,)
        dc_a/dtau.
    dq2 : ndarray (N,)
        dq_a^2/dtau.
    Omega : float
        The QSS precession frequency (units of mu): d(gamma phi)/dtau.
    qss : QSS
        The QSS for these c.

    Raises
    ------
    oile_q.qss.NoQSSError
        When no QSS with m > 0 continues the branch of ``state.qss``.

    Examples
    --------
    >>> import numpy as np
    >>> from oile_q.qss import solve_qss
    >>> from oile_q.scenario import isotropic_velocities
    >>> omega = np.r_[np.full(6, 0.1), np.full(4, 0.2)]
    >>> c = np.r_[np.full(6, 0.9), np.full(4, -0.5)]
    >>> q = solve_qss(c, omega, M3=0.4)
    >>> state = FlowState.build(isotropic_velocities(10, np.random.default_rng(1)), omega, M3=0.4, qss=q)
    >>> dc, dq2, Omega, q_now = flow_rhs(state, c, np.zeros(10))
    >>> dc.shape, bool(abs(Omega - q.Omega) < 1e-12), state.evals
    ((10,), True, 1)
    """
    from .kernels import flow_kernel

    C = np.bincount(state.idx, weights=c, minlength=len(state.levels)) / state.n
    q = solve_reduced(state.levels, C, M3=state.M3, guess=state.qss)
    state.qss = q
    state.evals += 1
    state.newton += q.iterations
    dc, dq2, _, _ = flow_kernel(
        state.V, state.idx, c, q2, q.h, state.g2, state.s, state.include_source, state.weights == "isotropic"
    )
    return dc, dq2, q.Omega, q


@dataclasses.dataclass
class FlowPath:
    """The flow at the output times after the switch: c (T, N), q2 (T, N), psi = gamma * phase (T,)
    and the QSS at each time."""

    c: np.ndarray
    q2: np.ndarray
    psi: np.ndarray
    qss: list


def integrate_flow(state: FlowState, fit: QSSFit, tau0: float, taus: np.ndarray, opts: dict, stats: dict) -> FlowPath:
    """Integrate (c, q^2, psi = gamma * phase) from ``tau0`` (the switch) with the QSS ``fit``
    measured there, with the engine's ODE options ``opts``; counters go into ``stats``.

    Returns
    -------
    FlowPath
        The path at ``taus`` (empty when there are none).

    Raises
    ------
    oile_q.qss.NoQSSError
        When the QSS branch ends before the last tau.
    """
    from scipy.integrate import solve_ivp

    n = state.n
    stats["flow_rhs_evals"] = 0
    if len(taus) == 0:
        return FlowPath([], [], np.zeros(0), [])

    def fun(tau, y):
        try:
            dc, dq2, Om, _ = flow_rhs(state, y[:n], y[n : 2 * n])
        except NoQSSError as err:
            raise NoQSSError(f"the QSS branch ends at tau = gamma mu t = {tau:.6g}: {err}") from err
        return np.concatenate([dc, dq2, [Om]])

    y0 = np.concatenate([fit.c, fit.q2, [0.0]])
    sol = solve_ivp(
        fun, (tau0, float(taus[-1])), y0, method=opts["method"], t_eval=taus, rtol=opts["rtol"], atol=opts["atol"]
    )
    if not sol.success:
        raise RuntimeError(f"misci flow: ODE solver failed: {sol.message}")
    stats["flow_rhs_evals"] = state.evals
    stats["newton_iterations"] = state.newton
    Y = sol.y.T
    guess = state.first
    out_q = []
    for c in Y[:, :n]:
        C = np.bincount(state.idx, weights=c, minlength=len(state.levels)) / n
        guess = solve_reduced(state.levels, C, M3=state.M3, guess=guess)
        out_q.append(guess)
    return FlowPath(Y[:, :n], Y[:, n : 2 * n], Y[:, 2 * n], out_q)
