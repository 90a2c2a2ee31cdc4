r"""Quasi-steady states (QSS) of the isotropic mean field, and their extraction from a result
(DESIGN.md section 7; paper II, arXiv:2508.14331).

Work in the mass basis, B = (0, 0, 1). A QSS is a collective precession mode: in the frame
rotating about B at a common frequency Omega every Bloch vector is static. With the transverse
mean field M_perp along x of that frame, m = |M_perp| > 0 and M3 = <P_3> (conserved),

.. math::

    P_a = c_a h_a, \quad h_a = (\mu m, 0, \mu M_3 - \omega_a - \Omega) / D_a, \quad
    D_a = \sqrt{\mu^2 m^2 + (\mu M_3 - \omega_a - \Omega)^2},

with c_a the *signed* length (c_a < 0: antiparallel to its axis). M = <P> gives

.. math::

    \text{(Q1)}\ \mu \langle c_a / D_a \rangle = 1, \qquad
    \text{(Q2)}\ \langle c_a (\omega_a + \Omega) / D_a \rangle = 0.

``solve_qss`` solves Q1-Q2 for (Omega, m) by Newton's method in (Omega, m^2) -- every term of
the equations and of the flow depends on m through m^2 only, which keeps Newton well
conditioned as m -> 0 -- with continuation of the branch from a previous solution, and raises
:class:`NoQSSError` when no root with m > 0 exists. Particles with the same omega share an
axis, so the equations only need the weighted sums of c per distinct omega: the cost is
O(number of distinct frequencies), whatever N.

``qss_from_dataset`` does the inverse: from a window of any engine's result it measures Omega
(the phase of M_perp), projects each particle on its axis (c_a) and keeps the rest as a
dephased part (q_a^2), iterating to self-consistency with the solver.

Units: omega, Omega and mu in the same units; times (in Datasets) are mu t.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import InputError, check_array, check_real

__all__ = [
    "QSS",
    "QSSFit",
    "NoQSSError",
    "solve_qss",
    "qss_roots",
    "qss_from_dataset",
    "qss_from_samples",
    "qss_from_state",
    "detrended_scatter",
    "solve_reduced",
    "RESIDUAL_TOL",
]

RESIDUAL_TOL = 1e-12
_NEWTON_TOL = 1e-14


class NoQSSError(InputError):
    """No quasi-steady state with m > 0 exists (or continues the branch) for the given input."""


@dataclasses.dataclass(frozen=True)
class QSS:
    r"""A solution of Q1-Q2 (see the module docstring).

    Attributes
    ----------
    Omega : float
        Precession frequency of the mode (units of omega; M_perp turns by +Omega t about B).
    m : float
        |M_perp| > 0.
    M3 : float
        <P_3> in the mass basis.
    mu : float
    omega : ndarray (K,)
        The distinct vacuum frequencies.
    C : ndarray (K,)
        Weighted sums of c per distinct frequency (weights normalised to 1): the only thing
        of c the equations depend on.
    h : ndarray (K, 3)
        The unit axes per distinct frequency, co-rotating frame (M_perp along x), mass basis.
    residual : float
        max(|Q1|, |Q2|) at the solution.
    iterations : int
        Newton iterations used (all continuation steps included).
    """

    Omega: float
    m: float
    M3: float
    mu: float
    omega: np.ndarray
    C: np.ndarray
    h: np.ndarray
    residual: float
    iterations: int

    @property
    def D(self) -> np.ndarray:
        """D_k = |H_k - Omega B| per distinct frequency."""
        return np.hypot(self.mu * self.m, self.mu * self.M3 - self.omega - self.Omega)

    def axes(self, omega) -> np.ndarray:
        """h_a (N, 3) for particles with vacuum frequencies ``omega`` (each one of ``self.omega``)."""
        return self.h[_index(self.omega, np.asarray(omega, dtype=float))]

    def bloch(self, c, omega, phase: float = 0.0) -> np.ndarray:
        """P_a = c_a R_z(phase) h_a (N, 3), mass basis: the state in the frame turned by ``phase``."""
        from .conventions import rotation_z

        P = np.asarray(c, dtype=float)[:, None] * self.axes(omega)
        return P @ rotation_z(phase).T


@dataclasses.dataclass(frozen=True)
class QSSFit:
    """A QSS measured in a window of a result (``qss_from_dataset``).

    Attributes
    ----------
    qss : QSS
        The self-consistent solution (Omega, m, axes) for the measured c.
    c, q2 : ndarray (N,)
        Signed lengths along the axes and squared lengths of the dephased parts,
        q_a^2 = <|P_a|^2> - c_a^2 over the window (clipped at 0).
    Omega_fit : float
        Omega measured from the phase of M_perp (least squares over the window).
    m_measured : float
        Mean |M_perp| over the window.
    scatter : float
        Relative scatter of |M_perp| over the window about a straight line (standard deviation
        of the residuals / mean; the line takes out the slow drift along the path): the quality
        figure of the QSS criterion.
    mismatch : float
        max(|m - m_measured| / m_measured, |Omega - Omega_fit| / mu): how far the measured
        mode is from the self-consistent one.
    phase : float
        Phase of M_perp at ``t_end`` (the frame angle there).
    t_start, t_end : float
        The window in mu t.
    iterations : int
        Projection / solve rounds to self-consistency.
    """

    qss: QSS
    c: np.ndarray
    q2: np.ndarray
    Omega_fit: float
    m_measured: float
    scatter: float
    mismatch: float
    phase: float
    t_start: float
    t_end: float
    iterations: int

    def summary(self) -> dict:
        """Scalars for result attributes."""
        return {
            "Omega": self.qss.Omega,
            "m": self.qss.m,
            "M3": self.qss.M3,
            "Omega_fit": self.Omega_fit,
            "m_measured": self.m_measured,
            "scatter": self.scatter,
            "mismatch": self.mismatch,
            "phase": self.phase,
            "t_start": self.t_start,
            "t_end": self.t_end,
            "iterations": self.iterations,
            "residual": self.qss.residual,
        }


# --------------------------------------------------------------------------- the equations


def _index(levels, omega):
    idx = np.searchsorted(levels, omega)
    idx = np.clip(idx, 0, len(levels) - 1)
    if not np.array_equal(levels[idx], omega):
        raise InputError("`omega` holds a frequency that is not among the QSS's distinct frequencies.")
    return idx


def _reduce(c, omega, weights):
    """Distinct frequencies and the normalised weighted sums of c per frequency."""
    levels, inv = np.unique(omega, return_inverse=True)
    C = np.bincount(inv, weights=weights * c, minlength=len(levels)) / weights.sum()
    return levels, C


def _residual(x, w, C, M3, mu):
    Omega, s = x
    u = mu * M3 - w - Omega
    D = np.sqrt(mu * mu * s + u * u)
    return np.array([mu * np.sum(C / D) - 1.0, np.sum(C * (w + Omega) / D)])


def _fj(Omega, s, w, C, M3, mu):
    """Residual (F1, F2) and Jacobian entries in one pass (hot loop of the flow)."""
    u = mu * M3 - w - Omega
    D2 = mu * mu * s + u * u
    D = np.sqrt(D2)
    cD = C / D
    cD3 = cD / D2
    a = w + Omega
    F1 = mu * cD.sum() - 1.0
    F2 = (cD * a).sum()
    J11 = mu * (cD3 * u).sum()
    J12 = -0.5 * mu**3 * cD3.sum()
    J21 = cD.sum() + (cD3 * a * u).sum()
    J22 = -0.5 * mu * mu * (cD3 * a).sum()
    return F1, F2, J11, J12, J21, J22


def _newton(x0, w, C, M3, mu, *, maxiter=60):
    """Damped Newton in (Omega, s = m^2), keeping s > 0. Returns (x, residual, iterations) or
    (None, residual, iterations) when it does not converge."""
    Om, s = float(x0[0]), float(x0[1])
    if not s > 0:
        return None, np.inf, 0
    for it in range(maxiter + 1):
        F1, F2, J11, J12, J21, J22 = _fj(Om, s, w, C, M3, mu)
        r = max(abs(F1), abs(F2))
        if not np.isfinite(r):
            return None, r, it
        if r <= _NEWTON_TOL:
            return np.array([Om, s]), r, it
        det = J11 * J22 - J12 * J21
        if det == 0.0 or not np.isfinite(det):
            return (np.array([Om, s]), r, it) if r <= RESIDUAL_TOL else (None, r, it)
        dO = (-F1 * J22 + F2 * J12) / det
        ds = (-F2 * J11 + F1 * J21) / det
        lam = 1.0
        while lam > 1e-6:
            On, sn = Om + lam * dO, s + lam * ds
            if sn > 0:
                Fn = _residual((On, sn), w, C, M3, mu)
                rn = max(abs(Fn[0]), abs(Fn[1]))
                if np.isfinite(rn) and rn < r:
                    break
            lam *= 0.5
        else:  # no decrease: converged to rounding, or stuck
            return (np.array([Om, s]), r, it) if r <= RESIDUAL_TOL else (None, r, it)
        Om, s = On, sn
    F = _residual((Om, s), w, C, M3, mu)
    r = float(np.abs(F).max())
    return (np.array([Om, s]), r, maxiter) if r <= RESIDUAL_TOL else (None, r, maxiter)


def _make(x, w, C, M3, mu, res, its):
    Omega, s = float(x[0]), float(x[1])
    m = np.sqrt(s)
    u = mu * M3 - w - Omega
    D = np.sqrt(mu * mu * s + u * u)
    h = np.stack([np.full_like(u, mu * m) / D, np.zeros_like(u), u / D], axis=-1)
    return QSS(
        Omega=Omega, m=float(m), M3=float(M3), mu=float(mu), omega=w, C=C, h=h, residual=float(res), iterations=int(its)
    )


def _check_inputs(c, omega, M3, mu, weights):
    c = check_array("c", c, (None,))
    omega = check_array("omega", omega, (c.shape[0],))
    M3 = check_real("M3", M3, low=-1.0, high=1.0)
    mu = check_real("mu", mu, positive=True)
    if weights is None:
        weights = np.ones_like(c)
    else:
        weights = check_array("weights", weights, (c.shape[0],))
        if np.any(weights < 0) or not weights.sum() > 0:
            raise InputError(
                f"`weights` must be non-negative with a positive sum; got min {weights.min():g}, sum {weights.sum():g}."
            )
    if c.size == 0:
        raise InputError("`c` must hold at least one signed length; got an empty array.")
    return c, omega, M3, mu, weights


def qss_roots(c, omega, *, M3, mu=1.0, weights=None, grid=(400, 160)):
    """Every QSS (Q1-Q2 root with m > 0) found by a grid search and Newton polishing.

    The search scans Omega over the range where the axes turn (the resonances
    mu M3 - omega_a, widened by 4 mu) and m over (1e-6, 1] (|M_perp| <= 1 for Bloch vectors;
    lengths |c_a| > 1 are accepted too), starting Newton from the local minima of the residual.

    Returns
    -------
    list of QSS, by decreasing m (empty when there is none).
    """
    c, omega, M3, mu, weights = _check_inputs(c, omega, M3, mu, weights)
    w, C = _reduce(c, omega, weights)
    reach = max(1.0, float(np.abs(C).sum()))
    res = mu * M3 - w
    O = np.linspace(res.min() - 4 * mu * reach, res.max() + 4 * mu * reach, grid[0])
    s = np.geomspace(1e-12, reach**2, grid[1])
    OO, SS = np.meshgrid(O, s, indexing="ij")
    u = mu * M3 - w[None, None, :] - OO[..., None]
    D = np.sqrt(mu * mu * SS[..., None] + u * u)
    F1 = mu * np.sum(C / D, -1) - 1.0
    F2 = np.sum(C * (w + OO[..., None]) / D, -1)
    R = np.log(np.abs(F1) + np.abs(F2) + 1e-300)
    # local minima on the grid (8 neighbours), best first
    pad = np.pad(R, 1, constant_values=np.inf)
    nb = np.stack(
        [
            pad[1 + i : 1 + i + R.shape[0], 1 + j : 1 + j + R.shape[1]]
            for i in (-1, 0, 1)
            for j in (-1, 0, 1)
            if (i, j) != (0, 0)
        ]
    )
    cand = np.argwhere(np.all(R[None] <= nb, axis=0))
    cand = cand[np.argsort(R[cand[:, 0], cand[:, 1]])][:40]
    roots = []
    for i, j in cand:
        x, r, its = _newton((O[i], s[j]), w, C, M3, mu)
        if x is None or r > RESIDUAL_TOL:
            continue
        if any(abs(q.Omega - x[0]) <= 1e-8 * mu and abs(q.m**2 - x[1]) <= 1e-8 * max(x[1], 1e-16) for q in roots):
            continue
        roots.append(_make(x, w, C, M3, mu, r, its))
    return sorted(roots, key=lambda q: -q.m)


def solve_qss(c, omega, *, M3, mu=1.0, weights=None, guess=None, continuation_steps=20) -> QSS:
    r"""Solve Q1-Q2 for (Omega, m) given the signed lengths c_a.

    .. math::

        \mu \langle c_a / D_a \rangle = 1, \qquad \langle c_a (\omega_a + \Omega) / D_a \rangle = 0,
        \qquad D_a = \sqrt{\mu^2 m^2 + (\mu M_3 - \omega_a - \Omega)^2}

    Parameters
    ----------
    c : array (N,)
        Signed lengths per particle, or per group with ``weights`` the group sizes.
    omega : array (N,)
        Vacuum frequencies (same units as ``mu``).
    M3 : float
        The conserved <P_3> in the mass basis.
    mu : float
    weights : array (N,), optional
        Non-negative weights of the average <.> (default: equal).
    guess : QSS or (Omega, m), optional
        A previous solution: Newton starts there; if that fails and ``guess`` is a QSS, the
        branch is continued from the guess's c (per-frequency sums) to the new c, halving the
        continuation step at most ``continuation_steps`` times in a row. Without a guess the
        root with the largest m among ``qss_roots`` is returned.

    Returns
    -------
    QSS
        With residual <= 1e-12.

    Raises
    ------
    NoQSSError
        When no root with m > 0 exists, or none continues the branch of ``guess``.

    Examples
    --------
    >>> import numpy as np
    >>> q = solve_qss([0.9, -0.5], [0.1, 0.2], M3=0.4, weights=[0.6, 0.4])
    >>> bool(q.residual <= 1e-12 and q.m > 0)
    True
    """
    c, omega, M3, mu, weights = _check_inputs(c, omega, M3, mu, weights)
    w, C = _reduce(c, omega, weights)
    if guess is None:
        roots = qss_roots(c, omega, M3=M3, mu=mu, weights=weights)
        if not roots:
            raise NoQSSError(_no_root_message(w, C, M3))
        return roots[0]
    if isinstance(guess, QSS):
        x0 = (guess.Omega, guess.m**2)
    else:
        g = check_array("guess", guess, (2,))
        x0 = (g[0], g[1] ** 2)
    x, r, its = _newton(x0, w, C, M3, mu)
    if x is not None:
        return _make(x, w, C, M3, mu, r, its)
    if isinstance(guess, QSS) and np.array_equal(guess.omega, w) and guess.M3 == M3:
        # continuation in c from the guess's sums to the new ones
        C0, x, t, dt, total = guess.C, np.array(x0), 0.0, 0.25, 0
        while t < 1.0:
            step = min(dt, 1.0 - t)
            Ct = C0 + (t + step) * (C - C0)
            xn, r, its = _newton(x, w, Ct, M3, mu)
            total += its
            if xn is not None:
                x, t = xn, t + step
                dt = min(2 * step, 0.25)
            else:
                dt = step / 2
                if dt < 0.25 / 2**continuation_steps:
                    break
        if t >= 1.0:
            return _make(x, w, C, M3, mu, r, total)
    raise NoQSSError(_no_root_message(w, C, M3, branch=True, guess=x0))


def solve_reduced(levels, C, *, M3, guess, mu=1.0) -> QSS:
    """``solve_qss`` for inputs already reduced per distinct frequency (no checks; for hot loops).

    ``levels`` (K,) sorted distinct frequencies, ``C`` (K,) the normalised weighted sums of c,
    ``guess`` a QSS on the same levels (Newton, then continuation from ``guess.C``)."""
    x, r, its = _newton((guess.Omega, guess.m**2), levels, C, M3, mu)
    if x is not None:
        return _make(x, levels, C, M3, mu, r, its)
    return solve_qss(np.asarray(C, dtype=float), levels, M3=M3, mu=mu, guess=guess)


def _no_root_message(w, C, M3, branch=False, guess=None):
    what = (
        f"no QSS with m > 0 continues the branch from Omega = {guess[0]:.6g}, m = {np.sqrt(max(guess[1], 0)):.3g}"
        if branch
        else "no QSS with m > 0 exists"
    )
    return (
        f"{what} for <c> per frequency {np.round(C, 6).tolist()} at omega {np.round(w, 6).tolist()} "
        f"and M3 = {M3:.6g} (Q1-Q2 of DESIGN.md section 7 have no root there)."
    )


# --------------------------------------------------------------------------- extraction


def qss_from_state(P, omega, *, mu=1.0, weights=None, Omega=None, maxiter=200) -> QSSFit:
    """The QSS closest to one mass-basis state P (N, 3): a window of one time.

    Omega is taken from the instantaneous turning of M_perp under the isotropic mean field,
    dM/dt = -B x <omega P> (unless given); see ``qss_from_dataset``."""
    P = check_array("P", P, (None, 3))
    return _fit(
        P[None],
        np.array([0.0]),
        np.asarray(omega, dtype=float),
        mu=mu,
        weights=weights,
        Omega_fit=Omega,
        maxiter=maxiter,
    )


def qss_from_dataset(ds, *, t_end=None, window=50.0, maxiter=200) -> QSSFit:
    r"""Measure a QSS in the window [t_end - window, t_end] (mu t) of any engine's result.

    Steps: M = <P> (mass basis, all particles alike); Omega from a least-squares fit of the
    unwrapped phase of M_perp (a one-time window: from dM/dt = -B x <omega P>); each P_a is
    turned into the co-rotating frame by the measured phase at every time of the window and
    projected on its axis; c_a is that projection and q_a^2 = |P_a|^2 - c_a^2, both taken at
    the window's end from least-squares lines over the window (which average out the dephased
    parts' precession and keep the slow drift); then (Omega, m) are solved from Q1-Q2 with the
    fitted values as the guess and the projection repeated with the new axes, until c no longer
    changes.

    Parameters
    ----------
    ds : xarray.Dataset
        A result with the shared layout.
    t_end : float, optional
        End of the window (default: the last time).
    window : float
        Length of the window in mu t (>= 0).

    Returns
    -------
    QSSFit
    """
    from .results import mass_basis

    return qss_from_samples(
        np.asarray(ds["time"], dtype=float),
        np.asarray(mass_basis(ds)),
        np.asarray(ds["omega"], dtype=float),
        mu=float(ds.attrs.get("mu", 1.0)),
        t_end=t_end,
        window=window,
        maxiter=maxiter,
    )


def qss_from_samples(times, P, omega, *, mu=1.0, t_end=None, window=50.0, maxiter=200, weights=None) -> QSSFit:
    """``qss_from_dataset`` on arrays: ``times`` (T,) in mu t, mass-basis ``P`` (T, N, 3), ``omega`` (N,);
    ``weights`` (N,): particle b stands for w_b particles (a velocity quadrature; default equal)."""
    t = check_array("times", times, (None,))
    P = check_array("P", P, (t.shape[0], None, 3))
    omega = check_array("omega", omega, (P.shape[1],))
    window = check_real("window", window, nonnegative=True)
    if t_end is None:
        t_end = float(t[-1])
    t_end = check_real("t_end", t_end)
    if t_end < t[0] - 1e-9 or t_end > t[-1] + 1e-9:
        raise InputError(f"`t_end` must lie within the result's times [{t[0]:g}, {t[-1]:g}]; got {t_end:g}.")
    sel = (t >= t_end - window - 1e-9) & (t <= t_end + 1e-9)
    if not sel.any():
        sel = np.abs(t - t_end) == np.abs(t - t_end).min()
    if weights is not None:
        weights = check_array("weights", weights, (P.shape[1],))
    return _fit(P[sel], t[sel], omega, mu=mu, weights=weights, maxiter=maxiter)


def _nearest(c, omega, M3, mu, wts, guess):
    """The root from Newton at ``guess`` (Omega, m), else the root nearest to it."""
    try:
        return solve_qss(c, omega, M3=M3, mu=mu, weights=wts, guess=guess)
    except NoQSSError:
        roots = qss_roots(c, omega, M3=M3, mu=mu, weights=wts)
        if not roots:
            raise
        return min(roots, key=lambda q: abs(q.m - guess[1]) / guess[1] + abs(q.Omega - guess[0]) / mu)


def _at_end(t, Y):
    """Least-squares lines through the columns of Y (T, k) in t, evaluated at t[-1]: a window
    average that is centred on the window's end (the slow drift along the path is O(gamma) per
    mu t, so a plain mean would describe the window's middle)."""
    if len(t) < 3:
        return Y[-1].copy()
    x = t - t[-1]
    A = np.stack([np.ones_like(x), x], 1)
    coef = np.linalg.lstsq(A, Y, rcond=None)[0]
    return coef[0]


def detrended_scatter(t, a) -> float:
    """Standard deviation of ``a`` about its least-squares line in ``t``, over the mean of ``a``."""
    t = np.asarray(t, dtype=float)
    a = np.asarray(a, dtype=float)
    if len(t) < 3:
        return 0.0
    return float(np.std(a - np.polyval(np.polyfit(t, a, 1), t)) / np.mean(a))


def _fit(P, t, omega, *, mu, weights=None, Omega_fit=None, maxiter=200):
    n = P.shape[1]
    wts = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    wn = wts / wts.sum()
    M = np.einsum("a,tai->ti", wn, P)
    Mp = M[:, 0] + 1j * M[:, 1]
    amp = np.abs(Mp)
    if not np.all(amp > 0):
        raise NoQSSError(
            "no QSS: M_perp vanishes in the window (|<P_perp>| = 0), so no precession mode with m > 0 can be measured."
        )
    ph = np.unwrap(np.angle(Mp))
    if Omega_fit is None:
        if len(t) >= 3:
            Omega_fit = mu * float(np.polyfit(t, ph, 1)[0])
        else:  # dM/dt = -B x <omega P> (isotropic mean field, units of mu: omega/mu)
            wP = np.einsum("a,ai->i", wn * omega / mu, P[-1])
            dM = np.array([wP[1], -wP[0]])
            Omega_fit = mu * float((M[-1, 0] * dM[1] - M[-1, 1] * dM[0]) / amp[-1] ** 2)
    m_meas = float(_at_end(t, amp[:, None])[0])
    scatter = detrended_scatter(t, amp)
    M3 = float(np.clip(M[-1, 2], -1.0, 1.0))
    # every time of the window turned into the co-rotating frame (M_perp along x)
    c_, s_ = np.cos(ph), np.sin(ph)
    Pr = np.stack(
        [
            c_[:, None] * P[..., 0] + s_[:, None] * P[..., 1],
            -s_[:, None] * P[..., 0] + c_[:, None] * P[..., 1],
            P[..., 2],
        ],
        -1,
    )
    norm2 = _at_end(t, (P**2).sum(-1))
    # initial axes from the measured mode, then self-consistency
    guess = (Omega_fit, m_meas)
    qss = None
    c = None
    for it in range(1, maxiter + 1):  # noqa: B007 - the count is reported
        if qss is None:
            u = mu * M3 - omega - Omega_fit
            D = np.hypot(mu * m_meas, u)
            h = np.stack([mu * m_meas / D, np.zeros_like(u), u / D], -1)
        else:
            h = qss.axes(omega)
        c_new = _at_end(t, np.einsum("tai,ai->ta", Pr, h))
        if qss is None:
            qss = _nearest(c_new, omega, M3, mu, wts, guess)
        else:
            qss = solve_qss(c_new, omega, M3=M3, mu=mu, weights=wts, guess=qss)
        if c is not None and np.abs(c_new - c).max() <= 1e-13:
            c = c_new
            break
        c = c_new
    q2 = np.clip(norm2 - c**2, 0.0, None)
    mismatch = max(abs(qss.m - m_meas) / m_meas, abs(qss.Omega - Omega_fit) / mu)
    return QSSFit(
        qss=qss,
        c=c,
        q2=q2,
        Omega_fit=float(Omega_fit),
        m_measured=m_meas,
        scatter=scatter,
        mismatch=float(mismatch),
        phase=float(ph[-1]),
        t_start=float(t[0]),
        t_end=float(t[-1]),
        iterations=it,
    )
