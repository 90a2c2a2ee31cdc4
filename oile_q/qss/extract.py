"""Quasi-steady states measured in a result: ``qss_from_dataset`` (any engine's Dataset),
``qss_from_samples`` (arrays) and ``qss_from_state`` (one time).

From a window of a result: Omega from the phase of M_perp, each particle projected on its axis
(c_a) with the rest kept as a dephased part (q_a^2), iterated to self-consistency with the solver
(``oile_q.qss.solver``). The ``misci`` engine measures its switch onto the slow flow this way.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InputError, check_array, check_real
from ..results import mass_basis
from .solver import QSS, NoQSSError, qss_roots, solve_qss

__all__ = ["QSSFit", "qss_from_dataset", "qss_from_samples", "qss_from_state", "detrended_scatter"]


@dataclasses.dataclass(frozen=True)
class QSSFit:
    """A QSS measured in a window of a result (``qss_from_dataset``, ``qss_from_samples``,
    ``qss_from_state``).

    Parameters
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

    Examples
    --------
    >>> q = solve_qss([0.9, -0.5], [0.1, 0.2], M3=0.4, weights=[0.6, 0.4])  # two groups, 60 % and 40 %
    >>> fit = qss_from_state(q.bloch([0.9, -0.5], [0.1, 0.2]), [0.1, 0.2], weights=[0.6, 0.4])
    >>> fit.c.round(12).tolist(), fit.q2.round(12).tolist(), bool(fit.mismatch < 1e-12)
    ([0.9, -0.5], [0.0, 0.0], True)
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
        """The fit's scalars, for result attributes.

        Returns
        -------
        dict
            Omega, m, M3 and residual of the QSS; Omega_fit, m_measured, scatter, mismatch, phase,
            t_start, t_end and iterations of the fit.
        """
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


def qss_from_state(
    P: ArrayLike,
    omega: ArrayLike,
    *,
    mu: float = 1.0,
    weights: ArrayLike | None = None,
    Omega: float | None = None,
    maxiter: int = 200,
) -> QSSFit:
    """The QSS closest to one mass-basis state P (N, 3): a window of one time.

    Omega is taken from the instantaneous turning of M_perp under the isotropic mean field,
    dM/dt = -B x <omega P> (unless given); see ``qss_from_dataset`` for the rest.

    Parameters
    ----------
    P : array (N, 3)
        Mass-basis Bloch vectors.
    omega : array (N,)
        Vacuum frequencies (same units as ``mu``).
    mu : float
        The interaction strength.
    weights : array (N,), optional
        Particle b stands for w_b particles (default: equal).
    Omega : float, optional
        The precession frequency, if known.
    maxiter : int
        The most projection / solve rounds.

    Returns
    -------
    QSSFit
        With ``scatter`` 0 (one time) and ``t_start`` = ``t_end`` = 0.

    Raises
    ------
    NoQSSError
        When M_perp vanishes or no QSS with m > 0 fits the state.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.r_[np.full(6, 0.1), np.full(4, 0.2)]
    >>> c = np.r_[np.full(6, 0.9), np.full(4, -0.5)]
    >>> q = solve_qss(c, w, M3=0.4)
    >>> fit = qss_from_state(q.bloch(c, w), w)
    >>> bool(abs(fit.qss.Omega - q.Omega) < 1e-12 and abs(fit.Omega_fit - q.Omega) < 1e-12)
    True
    """
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


def qss_from_dataset(ds, *, t_end: float | None = None, window: float = 50.0, maxiter: int = 200) -> QSSFit:
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
    maxiter : int
        The most projection / solve rounds.

    Returns
    -------
    QSSFit
        The QSS, c_a and q_a^2 at the window's end, and the fit's quality figures.

    Raises
    ------
    NoQSSError
        When M_perp vanishes in the window or no QSS with m > 0 fits it.
    InputError
        When ``t_end`` lies outside the result's times or ``window`` < 0.

    Examples
    --------
    >>> import numpy as np, oile_q
    >>> w = np.r_[np.full(6, 0.1), np.full(4, 0.2)]
    >>> c = np.r_[np.full(6, 0.9), np.full(4, -0.5)]
    >>> q = solve_qss(c, w, M3=0.4)
    >>> sc = oile_q.Scenario(q.bloch(c, w), w, np.tile([0, 0, 1.0], (10, 1)), gamma=1e-4, basis="mass")
    >>> ds = oile_q.run(sc, "master", times=np.arange(0, 20.01, 0.5), isotropic=True)
    >>> fit = qss_from_dataset(ds, window=20.0)
    >>> bool(abs(fit.qss.Omega - q.Omega) < 1e-3), fit.t_start, fit.t_end
    (True, 0.0, 20.0)
    """
    return qss_from_samples(
        np.asarray(ds["time"], dtype=float),
        np.asarray(mass_basis(ds)),
        np.asarray(ds["omega"], dtype=float),
        mu=float(ds.attrs.get("mu", 1.0)),
        t_end=t_end,
        window=window,
        maxiter=maxiter,
    )


def qss_from_samples(times: ArrayLike, P: ArrayLike, omega: ArrayLike, *, mu: float = 1.0, t_end: float | None = None,
                     window: float = 50.0, maxiter: int = 200, weights: ArrayLike | None = None) -> QSSFit:  # fmt: skip
    """``qss_from_dataset`` on arrays.

    Parameters
    ----------
    times : array (T,)
        Times in mu t, increasing.
    P : array (T, N, 3)
        Mass-basis Bloch vectors at those times.
    omega : array (N,)
        Vacuum frequencies (same units as ``mu``).
    mu : float
        The interaction strength.
    t_end : float, optional
        End of the window (default: the last time).
    window : float
        Length of the window in mu t (>= 0); at least the time nearest to ``t_end`` is used.
    maxiter : int
        The most projection / solve rounds.
    weights : array (N,), optional
        Particle b stands for w_b particles (a velocity quadrature; default equal).

    Returns
    -------
    QSSFit
        As for ``qss_from_dataset``.

    Raises
    ------
    NoQSSError
        When M_perp vanishes in the window or no QSS with m > 0 fits it.
    InputError
        When the shapes disagree, ``t_end`` lies outside ``times`` or ``window`` < 0.

    Examples
    --------
    A QSS turning rigidly at Omega, its two groups given as two weighted particles:

    >>> import numpy as np
    >>> q = solve_qss([0.9, -0.5], [0.1, 0.2], M3=0.4, weights=[0.6, 0.4])
    >>> t = np.linspace(0.0, 50.0, 101)
    >>> P = np.stack([q.bloch([0.9, -0.5], [0.1, 0.2], phase=q.Omega * ti) for ti in t])
    >>> fit = qss_from_samples(t, P, [0.1, 0.2], window=50.0, weights=[0.6, 0.4])
    >>> bool(abs(fit.qss.Omega - q.Omega) < 1e-12 and fit.scatter < 1e-12), fit.c.round(12).tolist()
    (True, [0.9, -0.5])
    """
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


def detrended_scatter(t: ArrayLike, a: ArrayLike) -> float:
    """Standard deviation of ``a`` about its least-squares line in ``t``, over the mean of ``a``:
    the QSS criterion's measure of how steady |M_perp| is (the line takes out the slow drift).

    Parameters
    ----------
    t, a : array (T,)
        Times and values.

    Returns
    -------
    float
        The relative scatter (0 for fewer than three points).

    Examples
    --------
    >>> round(detrended_scatter([0, 1, 2, 3], [1.0, 1.1, 1.2, 1.3]), 12)
    0.0
    >>> round(detrended_scatter([0, 1, 2, 3], [1.0, 1.2, 1.0, 1.2]), 4)
    0.0813
    """
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
