r"""Quasi-steady states: the solver of Q1-Q2 for (Omega, m) given the signed lengths c_a.

``solve_qss`` solves Q1-Q2 (see ``oile_q.qss``) by Newton's method in (Omega, m^2) -- every term
of the equations and of the flow depends on m through m^2 only, which keeps Newton well
conditioned as m -> 0 -- with continuation of the branch from a previous solution, and raises
:class:`NoQSSError` when no root with m > 0 exists. ``qss_roots`` finds every root by a grid
search; ``solve_reduced`` is ``solve_qss`` for the hot loop of the ``misci`` flow. Particles with
the same omega share an axis, so the equations only need the weighted sums of c per distinct
omega: the cost is O(number of distinct frequencies), whatever N.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from ..conventions import rotation_z
from ..errors import InputError, check_array, check_real

__all__ = ["QSS", "NoQSSError", "solve_qss", "qss_roots", "solve_reduced", "RESIDUAL_TOL"]

RESIDUAL_TOL = 1e-12  # the largest max(|Q1|, |Q2|) accepted as a root
_NEWTON_TOL = 1e-14


class NoQSSError(InputError):
    """No quasi-steady state with m > 0 exists (or continues the branch) for the given input.

    An ``InputError`` (so a ``ValueError``): the command line prints its one-line message.

    Parameters
    ----------
    message : str
        One line: what has no root, and for which input.

    Examples
    --------
    >>> try:
    ...     solve_qss([-0.5, -0.3], [0.1, 0.2], M3=0.2)  # Q1 needs <c/D> > 0
    ... except NoQSSError as err:
    ...     print(str(err)[:24])
    no QSS with m > 0 exists
    """


@dataclasses.dataclass(frozen=True)
class QSS:
    r"""A solution of Q1-Q2 (see ``oile_q.qss``), as returned by ``solve_qss``.

    Parameters
    ----------
    Omega : float
        Precession frequency of the mode (units of omega; M_perp turns by +Omega t about B).
    m : float
        |M_perp| > 0.
    M3 : float
        <P_3> in the mass basis.
    mu : float
        The interaction strength the frequencies are measured against.
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

    Examples
    --------
    >>> q = solve_qss([0.9, -0.5], [0.1, 0.2], M3=0.4, weights=[0.6, 0.4])
    >>> q.h.shape, q.C.tolist()
    ((2, 3), [0.54, -0.2])
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
        """The denominators of Q1-Q2.

        Returns
        -------
        ndarray (K,)
            D_k = |H_k - Omega B| per distinct frequency.
        """
        return np.hypot(self.mu * self.m, self.mu * self.M3 - self.omega - self.Omega)

    def axes(self, omega: ArrayLike) -> np.ndarray:
        """The axes of particles with vacuum frequencies ``omega`` (each one of ``self.omega``).

        Returns
        -------
        ndarray (N, 3)
            h_a in the co-rotating frame, mass basis.

        Raises
        ------
        InputError
            When a frequency is not among the QSS's distinct frequencies.
        """
        return self.h[_index(self.omega, np.asarray(omega, dtype=float))]

    def bloch(self, c: ArrayLike, omega: ArrayLike, phase: float = 0.0) -> np.ndarray:
        """The state of particles with signed lengths ``c`` and frequencies ``omega`` in the frame
        turned by ``phase`` about B.

        Returns
        -------
        ndarray (N, 3)
            P_a = c_a R_z(phase) h_a, mass basis.
        """
        P = np.asarray(c, dtype=float)[:, None] * self.axes(omega)
        return P @ rotation_z(phase).T


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


def qss_roots(c: ArrayLike, omega: ArrayLike, *, M3: float, mu: float = 1.0, weights: ArrayLike | None = None,
              grid: tuple[int, int] = (400, 160)) -> list[QSS]:  # fmt: skip
    """Every QSS (Q1-Q2 root with m > 0) found by a grid search and Newton polishing.

    The search scans Omega over the range where the axes turn (the resonances
    mu M3 - omega_a, widened by 4 mu) and m over (1e-6, 1] (|M_perp| <= 1 for Bloch vectors;
    lengths |c_a| > 1 are accepted too), starting Newton from the local minima of the residual.

    Parameters
    ----------
    c, omega, M3, mu, weights
        As for ``solve_qss``.
    grid : (int, int)
        Grid points in Omega and in m^2 (log-spaced).

    Returns
    -------
    list of QSS
        By decreasing m (empty when there is none).

    Raises
    ------
    InputError
        When the inputs are malformed (shapes, M3 outside [-1, 1], negative weights).

    Examples
    --------
    >>> roots = qss_roots([0.9, -0.5], [0.1, 0.2], M3=0.4, weights=[0.6, 0.4])
    >>> [(round(q.Omega, 6), round(q.m, 6)) for q in roots]
    [(0.171484, 0.067926)]
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


def solve_qss(
    c: ArrayLike,
    omega: ArrayLike,
    *,
    M3: float,
    mu: float = 1.0,
    weights: ArrayLike | None = None,
    guess: QSS | tuple[float, float] | None = None,
    continuation_steps: int = 20,
) -> QSS:
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
        The interaction strength (> 0).
    weights : array (N,), optional
        Non-negative weights of the average <.> (default: equal).
    guess : QSS or (Omega, m), optional
        A previous solution: Newton starts there; if that fails and ``guess`` is a QSS, the
        branch is continued from the guess's c (per-frequency sums) to the new c, halving the
        continuation step at most ``continuation_steps`` times in a row. Without a guess the
        root with the largest m among ``qss_roots`` is returned.
    continuation_steps : int
        How often the continuation step may be halved in a row before giving up.

    Returns
    -------
    QSS
        With residual <= 1e-12.

    Raises
    ------
    NoQSSError
        When no root with m > 0 exists, or none continues the branch of ``guess``.
    InputError
        When the inputs are malformed (shapes, M3 outside [-1, 1], negative weights).

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
        q = _continue_branch(guess.C, np.array(x0), w, C, M3, mu, continuation_steps)
        if q is not None:
            return q
    raise NoQSSError(_no_root_message(w, C, M3, branch=True, guess=x0))


def _continue_branch(C0, x, w, C, M3, mu, halvings):
    """Continuation in c from the sums ``C0`` (where ``x`` = (Omega, m^2) solves) to ``C``: the
    root at ``C``, or None when the step has been halved ``halvings`` times in a row."""
    t, dt, total = 0.0, 0.25, 0
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
            if dt < 0.25 / 2**halvings:
                return None
    return _make(x, w, C, M3, mu, r, total)


def solve_reduced(levels: np.ndarray, C: np.ndarray, *, M3: float, guess: QSS, mu: float = 1.0) -> QSS:
    """``solve_qss`` for inputs already reduced per distinct frequency (no checks; for hot loops).

    Parameters
    ----------
    levels : ndarray (K,)
        The sorted distinct frequencies.
    C : ndarray (K,)
        The normalised weighted sums of c per frequency.
    M3 : float
        The conserved <P_3> in the mass basis.
    guess : QSS
        A QSS on the same levels: Newton starts there, then continuation from ``guess.C``.
    mu : float
        The interaction strength.

    Returns
    -------
    QSS
        As from ``solve_qss`` with this guess.

    Raises
    ------
    NoQSSError
        When neither Newton from ``guess`` nor the continuation from ``guess.C`` finds a root.

    Examples
    --------
    >>> q = solve_qss([0.9, -0.5], [0.1, 0.2], M3=0.4, weights=[0.6, 0.4])
    >>> q2 = solve_reduced(q.omega, q.C * 1.01, M3=q.M3, guess=q)
    >>> bool(q2.residual <= 1e-12 and q2.m != q.m)
    True
    """
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
        f"and M3 = {M3:.6g} (the QSS equations Q1-Q2 have no root there)."
    )
