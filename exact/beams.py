"""Exact evolution of a gas of neutrino *beams* in the product of the beams' symmetric subspaces.

A beam is a group of N_g neutrinos that share velocity v_g, vacuum frequency omega_g and one
pure initial state. With J_g = (1/2) sum_{a in g} sigma_a the collective spin of beam g, the
all-to-all Hamiltonian of DESIGN.md section 2,

    H = sum_a -(omega_a/2) B.sigma_a + mu/(N-1) sum_{a<b} (g_ab/2) sigma_a.sigma_b,

is, term by term (sigma_a.sigma_b = 4 s_a.s_b; sum_{a<b in g} s_a.s_b = (J_g^2 - (3/4) N_g)/2),

    H = sum_g -omega_g B.J_g + (2 mu/(N-1)) sum_{g<h} g_gh J_g.J_h
        + (mu/(N-1)) sum_g g_gg (J_g.J_g - (3/4) N_g),

with g_gh = 1 - v_g.v_h. The initial product state |n_g>^{(x) N_g} of a beam is the spin
coherent state of spin j_g = N_g/2 along n_g, and H commutes with every J_g^2, so the state
stays in the product of the spin-j_g spaces: dimension prod_g (N_g + 1) instead of 2^N, and
the within-beam term is the constant g_gg N_g (N_g - 1)/4 (zero here: equal velocities give
g_gg = 0; the constant is kept for a general g_gg, and enters the energy).

Basis and sectors
-----------------
Everything runs in the mass basis (B = z). A basis state is (k_1, ..., k_G), k_g = j_g + m_g
the number of beam-g spins up (nu_1); H conserves the total mass-basis J_3, i.e. the
sector K = sum_g k_g, and is block diagonal in K. A sector's states are enumerated from the
product grid of the first G - 1 beams sorted by their partial sum S (the last beam takes
k_G = K - S): every sector is a contiguous slice of that sorted grid, so positions, raising
maps and hops are index arithmetic. In the sector the matrix elements are

    diagonal   sum_g -(omega_g/mu) m_g + (2/(N-1)) sum_{g<h} g_gh m_g m_h + constant,
    hop        <..k_g+1..k_h-1..| H/mu |..k_g..k_h..> = (g_gh/(N-1)) sqrt((N_g-k_g)(k_g+1))
                                                          sqrt(k_h (N_h-k_h+1)),

at most G(G-1) hops per row (tridiagonal for two beams). The initial state's weight in
sector K is the convolution of the beams' binomial distributions; sectors whose summed
weight is below ``drop`` (default (tol/100)^2) are left out. H never couples sectors, so
that weight is lost exactly and for good: the state error is at most sqrt(dropped weight)
at every time (reported as ``stats["dropped_weight"]``; the state is not renormalised).
With theta = 0 and flavor states only one sector is occupied.

Propagator: Chebyshev per chunk of sectors -- coping with ||H|| ~ mu N
----------------------------------------------------------------------
The spectral norm of H grows like mu N: in a sector of two beams of N/2 the diagonal
(4 mu/(N-1)) m_e m_x and the hops (2 mu/(N-1)) j^2 span ~ mu N/2 (measured half-width
r = 100, 400 mu for N = 256, 1024; ~ mu N/2.6). What the propagator does about it:

* Each chunk (consecutive whole sectors, about ``chunk_states`` states) is expanded as
  exp(-i H tau) = exp(-i c tau) sum_k (2 - delta_k0) (-i)^k J_k(r tau) T_k((H - c)/r), with
  its own interval [c - r, c + r] (60 Lanczos steps from a random vector, widened by 2%,
  clipped to the rigorous Gershgorin interval). The centre c -- the mean energy, itself
  ~ mu N -- costs nothing (a phase); only the width r matters, and small sectors at the
  edges of the kept range get their own, narrower, interval.
* The number of terms is r tau + O((r tau)^(1/3)) + O(log 1/tol) (cut where
  2 |J_k(r tau)| < tol/100): at the Nyquist limit of the spectrum, no more. Windows hold
  r tau <= 250 (round-off growth of the recursion), every output is checked for norm
  conservation, and a window is redone on the Gershgorin interval should the Lanczos
  interval ever be too tight (``stats["bounds_fallbacks"]``). Outputs share one recursion
  while it spans r tau <= WINDOW_X = 100, beyond which each step's additions to the open
  outputs cost more than the tail of a separate series.
* The error does not grow with r: the coefficients J_k(r tau) are bounded by 1 and the
  recursion is stable on [-1, 1]; round-off accumulates like eps r t (conservation checks
  of S3, energy and <J_g^2> stay at 1e-12 relative in the benchmark).

So the cost is ~ r t products of a sparse matrix with 1 + G(G-1) entries per row over the
kept states: ~ mu N t D (measured, two beams, mu t = 20: 596 s at N = 4096).

Two beams: sector eigenpairs in the state's energy window (``propagator="spectral"``)
-------------------------------------------------------------------------------------
With two beams every sector is tridiagonal (dimension <= min(N_1, N_2) + 1), and the
initial state's energy distribution in a sector is narrow (sigma_E ~ 3-7 mu at N = 4096) with
exponential tails. LAPACK's MRRR (``eigh_tridiagonal(select="v")``) gives the eigenpairs in
[E - W, E + W] in O(dim x pairs); W starts at max(100 mu, 30 sigma_E) and doubles until the
part of the sector state outside them is <= max(tol/100, 2e-13) (~200 pairs per sector at
N = 4096, 0.6 s each). Then x(t) = U (c e^{-i lambda t}) at any t: no time stepping, so the
norm ~ mu N never enters; the cost is independent of t and ~ N^2 x (kept sectors) overall.
This is the default for two beams ("auto"); Chebyshev stays available and the two agree to
1e-10 (tests). Measured (two beams, theta = 0.1, mu t = 20, 201 outputs): N = 4096 in 43 s
(Chebyshev: 596 s). The eigenvectors are streamed: a chunk of sectors is diagonalised,
its states at the pass's output times formed, and its observables accumulated once its
neighbour chunk exists (``_Stream``: at most three chunks' states held), so memory stays
~1 GB at N = 16384 (holding every sector's eigenvectors had passed 17 GB). Why not Krylov: a
Lanczos approximation adapts to the spectral measure of the state, which for these coherent states
is narrow (sigma_E ~ 1-2 mu) with exponential tails, and on the exact initial state 15-40 Lanczos
vectors per step would do at any N. But after a few steps the round-off noise of any propagator
(norm ~1e-14, spread over the whole spectrum out to +-r) times H^j outgrows the smooth Krylov residual from j ~ 8 on
(N = 1024), Ritz values appear at the noise energies and the Galerkin approximation loses
accuracy -- measured: with a state propagated to mu t = 1.6 (error 4e-14), 15 Lanczos vectors
for tau = 0.1 gave an error of 7e-9 instead of 1e-13, full reorthogonalisation or not. A
Lanczos propagator then needs ~ r tau vectors anyway, and more at larger r; Chebyshev is
robust to the noise by construction.

Observables (per output time, from the whole state)
---------------------------------------------------
With the 3G vectors J_g^i psi: <J_g^i> and the Gram matrix C_gh^{ij} = <psi| J_g^i J_h^j |psi>.
Per particle of beam g, P_g = 2 <J_g>/N_g (mass basis), purity (1 + |P_g|^2)/2. Two
particles a in g, b in h: T_ij = <sigma_a^i sigma_b^j> = 4 C_gh^{ij}/(N_g N_h) (g != h) or
4 (Re C_gg^{ij} - delta_ij N_g/4)/(N_g (N_g - 1)) (g = h), hence the 4x4 reduced density
matrix rho_ab = (1 + P_a.sigma x 1 + 1 x P_b.sigma + T_ij sigma_i x sigma_j)/4, its
concurrence and mutual information (bits). Entanglement entropy of beam g with the rest:
the eigenvalues of the smaller of M M^+ and M^+ M, M[k_g, rest] the Schmidt matrix of the
state (where min(N_g + 1, #rest configurations) <= ``entropy_max_dim``, else NaN).
Conserved checks: S3_total = sum_a P_a3 = 2 sum_g <J_g3>, the energy <H>/mu, each beam's
<J_g^2> = j_g (j_g + 1), and |psi|^2.

May import numpy, scipy and the core ``oile_q``; nothing here imports QuSpin.
"""

from __future__ import annotations

import dataclasses
import math
import time as _time

import numpy as np

from oile_q.errors import InputError, InputTypeError, check_array, check_int, check_real, describe

__all__ = ["BeamStructure", "beam_structure", "evolve_beams", "estimate_beams_bytes", "sector_plan", "beam_hamiltonian"]

_PURE_TOL = 1e-12  # |P| = 1 within this for a pure state
_SAME_TOL = 1e-12  # members' omega (relative), velocity and P0 equal within this
CHUNK_STATES = 1 << 17
ENTROPY_MAX_DIM = 1024
ENTROPY_MAX_CELLS = 1 << 24
# Outputs share one Chebyshev recursion while it spans r tau <= WINDOW_X: each step also adds
# the term to every open output (as costly as the sparse product of a tridiagonal sector), while
# a recursion's tail beyond r tau is only ~12 (r tau)^(1/3) + log(1/tol) terms.
WINDOW_X = 100.0


# --------------------------------------------------------------------------- structure


@dataclasses.dataclass(frozen=True, eq=False)
class BeamStructure:
    """The beams of a scenario: what the collective-spin evolution needs, nothing else.

    Attributes
    ----------
    labels : tuple of str
        Beam (group) names.
    sizes : ndarray of int (G,)
        N_g, the number of neutrinos in each beam.
    omega : ndarray (G,)
        Vacuum frequencies (units of ``mu``; may be negative).
    P0_mass : ndarray (G, 3)
        Initial Bloch vector of every member, mass basis, unit length.
    coupling : ndarray (G, G)
        g_gh = 1 - v_g.v_h, symmetric; the diagonal g_gg is the within-beam coupling
        (0 for beams from a Scenario; any value is handled).
    mu, theta : float
    members : tuple of int arrays, optional
        Particle indices of each beam in the scenario (to broadcast per-beam results).
    """

    labels: tuple
    sizes: np.ndarray
    omega: np.ndarray
    P0_mass: np.ndarray
    coupling: np.ndarray
    mu: float = 1.0
    theta: float = 0.0
    members: tuple | None = None

    def __post_init__(self):
        sizes = np.asarray(self.sizes)
        if sizes.ndim != 1 or sizes.size < 1 or sizes.dtype.kind not in "iu" or np.any(sizes < 1):
            raise InputError(f"`sizes` must be a 1-d array of positive integers; got {describe(self.sizes)}.")
        G = sizes.size
        omega = check_array("omega", self.omega, (G,))
        P0 = check_array("P0_mass", self.P0_mass, (G, 3))
        r = np.linalg.norm(P0, axis=1)
        if np.any(np.abs(r - 1.0) > _PURE_TOL):
            i = int(np.argmax(np.abs(r - 1.0)))
            raise InputError(f"`P0_mass` must hold unit (pure-state) Bloch vectors; got |P0_mass[{i}]| = {r[i]:.12g}.")
        g = check_array("coupling", self.coupling, (G, G))
        if not np.allclose(g, g.T, rtol=0, atol=1e-14):
            raise InputError("`coupling` must be a symmetric (G, G) matrix; got an asymmetric one.")
        labels = tuple(self.labels) if self.labels is not None else tuple(f"beam{i}" for i in range(G))
        if len(labels) != G:
            raise InputError(f"`labels` must name {G} beams; got {len(labels)}.")
        if int(sizes.sum()) < 2:
            raise InputError(f"`sizes` must add up to at least 2 particles; got {int(sizes.sum())}.")
        object.__setattr__(self, "sizes", sizes.astype(np.int64))
        object.__setattr__(self, "omega", omega)
        object.__setattr__(self, "P0_mass", P0 / r[:, None])
        object.__setattr__(self, "coupling", 0.5 * (g + g.T))
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "mu", check_real("mu", self.mu, positive=True))
        object.__setattr__(self, "theta", check_real("theta", self.theta))

    @property
    def n(self) -> int:
        """Total number of particles N."""
        return int(self.sizes.sum())

    @property
    def n_beams(self) -> int:
        return int(self.sizes.size)

    @property
    def full_dimension(self) -> int:
        """prod_g (N_g + 1): the dimension of the product of the symmetric subspaces."""
        return math.prod(int(s) + 1 for s in self.sizes)

    def broadcast(self, per_beam: np.ndarray) -> np.ndarray:
        """Per-beam values (..., G, ...) -> per-particle values (..., N, ...) on axis 1
        (time first), using ``members``."""
        if self.members is None:
            raise ValueError("this BeamStructure has no `members`; build it with beam_structure(scenario)")
        index = np.empty(self.n, dtype=np.int64)
        for g, idx in enumerate(self.members):
            index[idx] = g
        return np.take(per_beam, index, axis=1)

    def __repr__(self):
        beams = ", ".join(f"{l}: {int(s)}" for l, s in zip(self.labels, self.sizes))
        return f"BeamStructure(N={self.n}, beams={{{beams}}}, mu={self.mu:g}, theta={self.theta:g})"


def beam_structure(scenario, *, tol: float = _SAME_TOL) -> BeamStructure:
    """The beam structure of an ensemble ``Scenario``, or ``InputError`` naming the group that
    is not a beam and why.

    Every group (``scenario.groups``, members in any order) must share velocity and vacuum
    frequency and start in one pure state; values are compared within ``tol`` (absolute for
    unit vectors, relative for omega).

    Examples
    --------
    >>> from oile_q import Scenario
    >>> sc = Scenario.from_groups([dict(name="e", count=4, flavor="e", omega=-0.5, velocity=[0, 0, 1]),
    ...                            dict(name="x", count=4, flavor="x", omega=0.5, velocity=[0, 0, -1])],
    ...                           gamma=0.05, theta=0.1)
    >>> beam_structure(sc)
    BeamStructure(N=8, beams={e: 4, x: 4}, mu=1, theta=0.1)
    """
    from oile_q.scenario import Scenario

    if not isinstance(scenario, Scenario):
        raise InputTypeError(f"`scenario` must be an oile_q.Scenario; got {describe(scenario)}.")
    if scenario.kind != "ensemble":
        raise InputError(
            "`scenario` is a foreground scenario (fresh partners, no closed Hamiltonian); "
            "method 'beams' needs an ensemble of beams."
        )
    tol = check_real("tol", tol, positive=True)
    P_mass = scenario.P0_mass
    labels, members, omega, vel, P0 = [], [], [], [], []
    why = "method 'beams' needs every group to share velocity, vacuum frequency and a pure initial state"
    for name in scenario.groups:
        idx = np.flatnonzero(scenario.group == name)
        w = scenario.omega[idx]
        if np.any(np.abs(w - w[0]) > tol * max(1.0, abs(w[0]))):
            j = int(idx[np.argmax(np.abs(w - w[0]))])
            raise InputError(
                f"group {name!r} is not a beam: its members have different omega "
                f"({w[0]:g} for particle {int(idx[0])}, {scenario.omega[j]:g} for particle {j}); {why}."
            )
        v = scenario.velocity[idx]
        dv = np.abs(v - v[0]).max(axis=1)
        if np.any(dv > tol):
            j = int(idx[np.argmax(dv)])
            raise InputError(
                f"group {name!r} is not a beam: its members have different velocities "
                f"({np.round(v[0], 6).tolist()} for particle {int(idx[0])}, "
                f"{np.round(scenario.velocity[j], 6).tolist()} for particle {j}); {why}."
            )
        p = P_mass[idx]
        r = np.linalg.norm(p, axis=1)
        if np.any(r < 1.0 - _PURE_TOL):
            j = int(idx[np.argmin(r)])
            raise InputError(
                f"group {name!r} is not a beam: particle {j} starts in a mixed state (|P0| = {r.min():.6g} < 1); {why}."
            )
        dp = np.abs(p - p[0]).max(axis=1)
        if np.any(dp > tol):
            j = int(idx[np.argmax(dp)])
            raise InputError(
                f"group {name!r} is not a beam: its members start in different states "
                f"(P0 of particles {int(idx[0])} and {j} differ by {dp.max():.3g}); {why}."
            )
        labels.append(str(name))
        members.append(idx)
        omega.append(float(w[0]))
        vel.append(v[0])
        P0.append(p[0])
    V = np.array(vel)
    g = 1.0 - V @ V.T
    g[np.abs(g) < 1e-14] = 0.0  # as the generic engine: equal velocities, exactly no coupling
    return BeamStructure(
        labels=tuple(labels),
        sizes=np.array([len(m) for m in members], dtype=np.int64),
        omega=np.array(omega),
        P0_mass=np.array(P0),
        coupling=g,
        mu=scenario.mu,
        theta=scenario.theta,
        members=tuple(members),
    )


# --------------------------------------------------------------------------- initial state, sectors


def _beam_amplitudes(n: int, P: np.ndarray):
    """(log |c_k|, arg c_k) of the coherent state |P>^{(x) n} on the symmetric states k = 0..n
    (k spins up): c_k = sqrt(C(n, k)) u^k d^(n-k), u = cos(th/2), d = e^{i ph} sin(th/2)."""
    from scipy.special import gammaln

    x, y, z = P
    lu = 0.5 * np.log(max((1.0 + z) / 2.0, 0.0)) if z > -1.0 else -np.inf
    ld = 0.5 * np.log(max((1.0 - z) / 2.0, 0.0)) if z < 1.0 else -np.inf
    ph = math.atan2(y, x) if (x != 0.0 or y != 0.0) else 0.0
    k = np.arange(n + 1, dtype=float)
    lc = 0.5 * (gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0))
    with np.errstate(invalid="ignore"):
        tu = np.where(k > 0, k * lu, 0.0)
        td = np.where(n - k > 0, (n - k) * ld, 0.0)
    return lc + tu + td, (n - k) * ph


def _sector_weights(struct: BeamStructure) -> np.ndarray:
    """Weight of the initial state in each sector K = 0..N (direct convolution, so tails far
    below the peak keep their relative accuracy)."""
    W = np.ones(1)
    for n, P in zip(struct.sizes, struct.P0_mass):
        la, _ = _beam_amplitudes(int(n), P)
        W = np.convolve(W, np.exp(2.0 * la))
    return W


def _sector_dims(sizes) -> np.ndarray:
    """Number of basis states (k_1..k_G), sum k = K, for K = 0..N."""
    c = np.ones(1, dtype=np.int64)
    for n in sizes:
        c = np.convolve(c, np.ones(int(n) + 1, dtype=np.int64))
    return c


def sector_plan(struct: BeamStructure, *, tol: float = 1e-12, drop: float | None = None):
    """(kept sectors K, their dimensions, dropped weight): the sectors evolved for ``struct``.

    Sectors are dropped from the lightest up while their summed initial weight stays <= ``drop``
    (default (tol/100)^2, i.e. a state error <= tol/100)."""
    if drop is None:
        drop = (tol / 100.0) ** 2
    W = _sector_weights(struct)
    dims = _sector_dims(struct.sizes)
    order = np.argsort(W, kind="stable")
    csum = np.cumsum(W[order])
    ndrop = int(np.searchsorted(csum, drop, side="right"))
    keep = np.sort(order[ndrop:])
    dropped = float(csum[ndrop - 1]) if ndrop else 0.0
    return keep, dims[keep], dropped


class _Basis:
    """The kept basis states, sector by sector; positions by index arithmetic."""

    def __init__(self, sizes, sectors):
        sizes = np.asarray(sizes, dtype=np.int64)
        self.sizes = sizes
        G = sizes.size
        self.G = G
        n_tot = int(sizes.sum())
        last = int(sizes[-1])
        head = sizes[:-1]
        if G > 1:
            grid = np.indices(tuple(int(s) + 1 for s in head)).reshape(G - 1, -1).T
        else:
            grid = np.zeros((1, 0), dtype=np.int64)
        self.strides = np.ones(max(G - 1, 0), dtype=np.int64)
        for g in range(G - 3, -1, -1):
            self.strides[g] = self.strides[g + 1] * (int(head[g + 1]) + 1)
        S = grid.sum(axis=1)
        order = np.argsort(S, kind="stable")
        self.gk = grid[order].astype(np.int64)
        self.gS = S[order]
        self.inv = np.empty(order.size, dtype=np.int64)
        self.inv[order] = np.arange(order.size)
        self.sectors = np.asarray(sectors, dtype=np.int64)
        self.a = np.searchsorted(self.gS, self.sectors - last, side="left")
        self.b = np.searchsorted(self.gS, self.sectors, side="right")
        self.dims = self.b - self.a
        self.offsets = np.concatenate([[0], np.cumsum(self.dims)])
        self.dim = int(self.offsets[-1])
        self.sec_index = np.full(n_tot + 3, -1, dtype=np.int64)
        self.sec_index[self.sectors] = np.arange(self.sectors.size)
        k = np.empty((self.dim, G), dtype=np.int32)
        for i, K in enumerate(self.sectors):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            k[lo:hi, : G - 1] = self.gk[self.a[i] : self.b[i]]
            k[lo:hi, G - 1] = K - self.gS[self.a[i] : self.b[i]]
        self.k = k

    def positions(self, kk: np.ndarray, KK: np.ndarray) -> np.ndarray:
        """Positions of configurations kk (M, G) in sectors KK (M,); -1 where not kept/valid."""
        ok = np.all((kk >= 0) & (kk <= self.sizes[None, :]), axis=1)
        KK = np.where(ok, KK, -1)
        si = np.where((KK >= 0) & (KK < self.sec_index.size), self.sec_index[np.clip(KK, 0, None)], -1)
        ok &= si >= 0
        out = np.full(kk.shape[0], -1, dtype=np.int64)
        if not np.any(ok):
            return out
        ridx = kk[ok, : self.G - 1].astype(np.int64) @ self.strides if self.G > 1 else np.zeros(int(ok.sum()), np.int64)
        gp = self.inv[ridx]
        s = si[ok]
        out[ok] = self.offsets[s] + gp - self.a[s]
        return out


def _raise_map(basis: _Basis, g: int, lo=0, hi=None):
    """(src, dst, coef) of J_g^+ on states lo..hi-1: J_g^+ |src> = coef |dst>, dst kept."""
    hi = basis.dim if hi is None else hi
    k = basis.k[lo:hi].astype(np.int64)
    n = int(basis.sizes[g])
    K = k.sum(axis=1)
    kk = k.copy()
    kk[:, g] += 1
    dst = basis.positions(kk, K + 1)
    src = np.flatnonzero(dst >= 0)
    kg = k[src, g].astype(float)
    return (src + lo).astype(np.int64), dst[src], np.sqrt((n - kg) * (kg + 1.0))


def _chunks(basis: _Basis, target: int):
    """[lo, hi) state ranges made of whole consecutive sectors, about ``target`` states each."""
    out = []
    lo = 0
    for i in range(basis.sectors.size):
        hi = int(basis.offsets[i + 1])
        if hi - lo >= target or i == basis.sectors.size - 1:
            out.append((lo, hi))
            lo = hi
    return out


# --------------------------------------------------------------------------- Hamiltonian


def _diagonal(struct: BeamStructure, k: np.ndarray) -> np.ndarray:
    """Diagonal of H/mu on states with occupations k (M, G), including the constant."""
    sizes = struct.sizes
    n = struct.n
    m = k.astype(float) - 0.5 * sizes[None, :]
    w = struct.omega / struct.mu
    g = struct.coupling
    d = -(m @ w)
    G = sizes.size
    for a in range(G):
        for b in range(a + 1, G):
            if g[a, b] != 0.0:
                d += (2.0 * g[a, b] / (n - 1)) * m[:, a] * m[:, b]
    const = sum(g[a, a] * sizes[a] * (sizes[a] - 1) / 4.0 for a in range(G)) / (n - 1)
    return d + const


def _chunk_hamiltonian(struct: BeamStructure, basis: _Basis, lo: int, hi: int):
    """H/mu on the states lo..hi-1 (whole sectors) as a real CSR matrix."""
    import scipy.sparse as sp

    k = basis.k[lo:hi].astype(np.int64)
    K = k.sum(axis=1)
    n = struct.n
    G = basis.G
    rows = [np.arange(hi - lo)]
    cols = [np.arange(hi - lo)]
    data = [_diagonal(struct, k)]
    for a in range(G):
        for b in range(G):
            c = struct.coupling[a, b]
            if a == b or c == 0.0:
                continue
            kk = k.copy()
            kk[:, a] += 1
            kk[:, b] -= 1
            dst = basis.positions(kk, K)
            src = np.flatnonzero(dst >= 0)
            ka = k[src, a].astype(float)
            kb = k[src, b].astype(float)
            amp = (c / (n - 1)) * np.sqrt((struct.sizes[a] - ka) * (ka + 1.0) * kb * (struct.sizes[b] - kb + 1.0))
            rows.append(dst[src] - lo)
            cols.append(src)
            data.append(amp)
    H = sp.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(hi - lo, hi - lo))
    H.sum_duplicates()
    return H


def beam_hamiltonian(struct: BeamStructure, *, sectors=None):
    """(H/mu as a CSR matrix over the kept basis, occupations k (D, G)) -- for checks.

    ``sectors``: the sectors K to include (default: every sector, dimension prod (N_g + 1))."""
    import scipy.sparse as sp

    if sectors is None:
        sectors = np.arange(struct.n + 1)
    basis = _Basis(struct.sizes, np.asarray(sectors))
    blocks = [
        _chunk_hamiltonian(struct, basis, int(basis.offsets[i]), int(basis.offsets[i + 1]))
        for i in range(basis.sectors.size)
    ]
    return sp.block_diag(blocks, format="csr"), basis.k.copy()


def _initial_state(struct: BeamStructure, basis: _Basis) -> np.ndarray:
    la = np.zeros(basis.dim)
    ph = np.zeros(basis.dim)
    for g, (n, P) in enumerate(zip(struct.sizes, struct.P0_mass)):
        lg, pg = _beam_amplitudes(int(n), P)
        la += lg[basis.k[:, g]]
        ph += pg[basis.k[:, g]]
    return np.exp(la) * np.exp(1j * ph)


# --------------------------------------------------------------------------- propagators


class _Chebyshev:
    """Chebyshev propagation of one chunk (see the module docstring).

    exp(-i H tau) = exp(-i c tau) sum_k (2 - delta_k0) (-i)^k J_k(r tau) T_k((H - c)/r), with
    [c - r, c + r] enclosing the chunk's spectrum; one recursion serves every output time of a
    window (r tau <= MAX_X); the series of each output is cut where 2 |J_k(r tau)| < tol/100."""

    def __init__(self, H, tol, *, seed=12345, iters=60):
        from scipy.linalg import eigh_tridiagonal

        self.csr = (
            np.ascontiguousarray(H.indptr, dtype=np.int64),
            np.ascontiguousarray(H.indices, dtype=np.int32),
            np.ascontiguousarray(H.data, dtype=np.float64),
        )
        self.tol = float(tol)
        self.matvecs = 0
        self.windows = 0
        self.fallbacks = 0
        n = H.shape[0]
        d = H.diagonal()
        rad = np.asarray(np.abs(H).sum(axis=1)).ravel() - np.abs(d)
        self.rigorous = (float((d - rad).min()), float((d + rad).max()))  # Gershgorin
        # Lanczos extremal Ritz values from a random start, widened by 2% (as exact/evolve.py)
        rng = np.random.default_rng(seed)
        q = rng.normal(size=n)
        q /= np.linalg.norm(q)
        q_prev = np.zeros(n)
        alpha, beta, b = [], [], 0.0
        for _ in range(min(iters, n)):
            w = H @ q - b * q_prev
            a = float(q @ w)
            w -= a * q
            alpha.append(a)
            b = float(np.linalg.norm(w))
            if b < 1e-10:
                break
            beta.append(b)
            q_prev, q = q, w / b
        ev = eigh_tridiagonal(np.array(alpha), np.array(beta[: len(alpha) - 1]), eigvals_only=True)
        pad = 0.02 * (ev[-1] - ev[0]) + 1e-3
        self.bounds = (max(float(ev[0]) - pad, self.rigorous[0]), min(float(ev[-1]) + pad, self.rigorous[1]))

    @property
    def halfwidth(self) -> float:
        return 0.5 * (self.bounds[1] - self.bounds[0])

    def _window(self, psi, taus, outs):
        from ._beams_kernels import cheb_step
        from .evolve import _cut

        lo, hi = self.bounds
        shift, scale = 0.5 * (hi + lo), max(0.5 * (hi - lo), 1e-300)
        x = scale * taus
        cuts = np.array([_cut(xi, self.tol) if xi > 0 else 0 for xi in x])
        kmax = int(cuts.max())
        k = np.arange(kmax + 1)
        import scipy.special

        coef = scipy.special.jv(k[:, None], x[None, :]).astype(complex)
        coef *= np.where(k == 0, 1.0, 2.0)[:, None] * ((-1j) ** (k % 4))[:, None]
        coef *= np.exp(-1j * shift * taus)[None, :]
        coef[k[:, None] > cuts[None, :]] = 0.0
        outs[:] = coef[0][:, None] * psi[None, :]
        if kmax == 0:
            return
        indptr, indices, data = self.csr
        cur = psi.copy()
        nxt = np.empty_like(psi)
        cheb_step(indptr, indices, data, cur, nxt, shift, -scale, outs, coef[1], int(np.sum(cuts < 1)))
        for kk in range(2, kmax + 1):
            cheb_step(indptr, indices, data, nxt, cur, shift, scale, outs, coef[kk], int(np.sum(cuts < kk)))
            cur, nxt = nxt, cur
        self.matvecs += kmax

    def propagate(self, psi, taus, outs):
        """Write exp(-i H tau_k) psi into outs[k] for the increasing taus (>= 0) and leave psi
        at the last one."""
        from .evolve import MAX_X

        taus = np.asarray(taus, float)
        norm0 = float(np.vdot(psi, psi).real)
        t0 = 0.0
        j = 0
        while j < taus.size:
            j2 = j + 1  # outputs share a recursion until it spans r tau ~ WINDOW_X (see _window)
            while j2 < taus.size and self.halfwidth * (taus[j2] - t0) <= WINDOW_X:
                j2 += 1
            if self.halfwidth * (taus[j] - t0) > MAX_X:  # one output beyond a window: step there
                mid = np.array([t0 + MAX_X / self.halfwidth])
                tmp = np.empty((1, psi.size), dtype=np.complex128)
                self._window(psi, mid - t0, tmp)
                psi[:] = tmp[0]
                t0 = float(mid[0])
                continue
            self._window(psi, taus[j:j2] - t0, outs[j:j2])
            self.windows += 1
            drift = max(abs(float(np.vdot(o, o).real) - norm0) for o in outs[j:j2])
            if drift > max(1e3 * self.tol, 1e-9) * max(norm0, 1e-300):
                if self.bounds != self.rigorous:  # the Lanczos interval missed part of the spectrum
                    self.bounds = self.rigorous
                    self.fallbacks += 1
                    continue
                raise RuntimeError(
                    f"Chebyshev evolution lost norm conservation ({drift:.2e}); the spectral "
                    "bounds are wrong. Please report this."
                )
            psi[:] = outs[j2 - 1]
            t0 = float(taus[j2 - 1])
            j = j2


def _rdot(R, z):
    """R @ z for a real matrix and a complex vector/matrix as two real BLAS products (numpy's
    mixed real-complex product does not use BLAS: 13 ms instead of 0.45 ms at 490 x 200)."""
    return (R @ np.ascontiguousarray(z.real)) + 1j * (R @ np.ascontiguousarray(z.imag))


class _Spectral:
    """Exact evolution of one tridiagonal (two-beam) sector from the eigenpairs in the energy
    window of its initial state: x(t) = U (c exp(-i lambda t)), c = U^T x(0).

    The window [E - W, E + W] (E the sector's mean energy, sigma_E its spread) starts at
    W = max(100, 30 sigma_E) and doubles until res(W) = |x - U_W U_W^T x| / |x| (U_W the MRRR
    eigenvectors of the window, LAPACK ``stemr``) is at most max(``target`` / |x|, FLOOR): the
    sector's share of the run's error, or the accuracy of the eigenvectors themselves. That
    floor is real: MRRR eigenvectors have residuals |H u - lambda u| ~ 1e-11 mu at sector
    dimension 8193 (N = 16384), so the span of a window's eigenvectors misses ~5e-12 of x
    however wide the window (measured: res = 6.3e-12, 4.8e-12, 9e-14 for W = 100, 200, 400 mu,
    the last only because the window then held 911 pairs; the state at mu t = 20 then differs
    from a Chebyshev series by 1.4e-12). Asking for 2e-13 cost 7274 of the 8193 eigenpairs of
    that sector; FLOOR = 1e-11 keeps 266. ``residual`` (relative) is the method's error besides
    the eigenvalue round-off (a phase error ~ eps ||H|| t)."""

    FLOOR = 1e-11

    def __init__(self, H, x, tol, *, target=None):
        from scipy.linalg import eigh_tridiagonal

        d = H.diagonal().astype(float)
        e = H.diagonal(1).astype(float)
        if H.nnz > d.size + 2 * e.size:
            raise ValueError("spectral propagation needs a tridiagonal sector (two beams)")
        nx = float(np.linalg.norm(x))
        self.H = H
        self.matvecs = 0
        self.windows = 0
        self.fallbacks = 0
        self.solves = 0
        self.window = 0.0
        self.floor = False
        self.norm = nx
        target = max(tol / 100.0, 2e-13) if target is None else float(target)
        if d.size == 1 or nx == 0.0:
            self.lam, self.U = d.copy(), np.eye(d.size)
            self.c = _rdot(self.U.T, x)
            self.residual = 0.0
            return
        hx = H @ x
        E = float(np.vdot(x, hx).real) / nx**2
        sig = float(np.sqrt(max(float(np.vdot(hx, hx).real) / nx**2 - E * E, 0.0)))
        rad = np.abs(np.concatenate([[0.0], e])) + np.abs(np.concatenate([e, [0.0]]))
        glo, ghi = float((d - rad).min()), float((d + rad).max())
        W = max(100.0, 30.0 * sig)
        want = max(target / nx, self.FLOOR)
        while True:
            lo, hi = max(E - W, glo - 1.0), min(E + W, ghi + 1.0)
            lam, U = eigh_tridiagonal(d, e, select="v", select_range=(lo, hi), lapack_driver="stemr")
            self.solves += 1
            c = _rdot(U.T, x)
            res = float(np.linalg.norm(x - _rdot(U, c))) / nx
            if res <= want or (lo <= glo and hi >= ghi):
                break
            W *= 2.0
        self.window = W
        self.floor = res * nx > target
        self.lam, self.U, self.c, self.residual = lam, np.ascontiguousarray(U), c, res

    @property
    def halfwidth(self) -> float:
        return 0.0

    @property
    def bytes(self) -> int:
        return self.U.nbytes

    def states(self, times, out):
        """out[k] <- x(times[k]) (absolute times; out is complex (T, dim))."""
        Z = self.c[:, None] * np.exp(-1j * np.asarray(times, float)[None, :] * self.lam[:, None])
        out[:] = _rdot(self.U, Z).T


# --------------------------------------------------------------------------- observables


def _sigma_basis():
    """S[a, b] = sigma_a (x) sigma_b for a, b in (1, x, y, z), |up up> first: (4, 4, 4, 4)."""
    from oile_q.conventions import PAULI

    s = np.concatenate([np.eye(2, dtype=complex)[None], PAULI])
    return np.einsum("aij,bkl->abikjl", s, s).reshape(4, 4, 4, 4)


_SIGMA2 = None


def _pair_rho(Pa, Pb, T):
    """4x4 density matrix (|up up> first) from one-body Bloch vectors and T_ij = <s_i x s_j>:
    rho = (1 + P_a.sigma x 1 + 1 x P_b.sigma + T_ij sigma_i x sigma_j) / 4."""
    global _SIGMA2
    if _SIGMA2 is None:
        _SIGMA2 = _sigma_basis()
    M = np.empty((4, 4))
    M[0, 0] = 1.0
    M[1:, 0] = Pa
    M[0, 1:] = Pb
    M[1:, 1:] = T
    return np.einsum("ab,abij->ij", M, _SIGMA2) / 4.0


class _Schmidt:
    """Schmidt matrix M[k_g, rest] of one beam vs the others (dense; rest configurations
    numbered in order of appearance). S = -sum lam log2 lam over the eigenvalues of the
    smaller of M M^+ and M^+ M."""

    def __init__(self, basis: _Basis, g: int):
        k = basis.k
        others = [h for h in range(basis.G) if h != g]
        rows = k[:, g].astype(np.int64)
        if others:
            key = np.zeros(basis.dim, dtype=np.int64)
            for h in others:
                key = key * (int(basis.sizes[h]) + 1) + k[:, h]
            _, cols = np.unique(key, return_inverse=True)
            ncols = int(cols.max()) + 1
        else:
            cols = np.zeros(basis.dim, dtype=np.int64)
            ncols = 1
        self.shape = (int(basis.sizes[g]) + 1, ncols)
        self.flat = rows * ncols + cols.ravel()
        self.side = min(self.shape)

    @staticmethod
    def cells(basis: _Basis, g: int) -> tuple:
        """(side, cells) of the Schmidt matrix without building it (an upper bound of the
        number of rest configurations)."""
        rest = min(basis.dim, math.prod(int(n) + 1 for h, n in enumerate(basis.sizes) if h != g))
        side = int(basis.sizes[g]) + 1
        return min(side, rest), side * rest

    def entropy(self, psi):
        M = np.zeros(self.shape[0] * self.shape[1], dtype=np.complex128)
        M[self.flat] = psi
        M = M.reshape(self.shape)
        R = M @ M.conj().T if self.shape[0] <= self.shape[1] else M.conj().T @ M
        lam = np.linalg.eigvalsh(R)
        lam = lam[lam > 1e-16]
        return float(-np.sum(lam * np.log2(lam)))


# --------------------------------------------------------------------------- memory


def _chunk_sizes(dims, target):
    """The chunk sizes _chunks makes from consecutive sector dimensions."""
    out, cur = [], 0
    for i, d in enumerate(dims):
        cur += int(d)
        if cur >= target or i == len(dims) - 1:
            out.append(cur)
            cur = 0
    return out


def _resolve_propagator(struct, propagator):
    if propagator == "auto":
        return "spectral" if struct.n_beams == 2 else "chebyshev"
    return propagator


def _entropy_beams(struct: BeamStructure, dim: int, entropy_max_dim: int) -> list:
    """Beams whose Schmidt matrix with the rest is affordable (smaller side <= entropy_max_dim,
    at most ENTROPY_MAX_CELLS cells); for two beams only the first (both sides have the same
    entropy)."""
    out = []
    if entropy_max_dim <= 0:
        return out
    for g, n in enumerate(struct.sizes):
        rest = min(dim, math.prod(int(x) + 1 for h, x in enumerate(struct.sizes) if h != g))
        side = min(int(n) + 1, rest)
        if side <= entropy_max_dim and (int(n) + 1) * rest <= ENTROPY_MAX_CELLS:
            out.append(g)
            if struct.n_beams == 2:
                break
    return out


def _memory_parts(struct, *, tol, drop, chunk_states, entropy_max_dim, pairs, propagator):
    """(fixed bytes, bytes per output time held in a pass, entropy store per output, plan)."""
    from .memory import BASE

    propagator = _resolve_propagator(struct, propagator)
    _, dims, _ = sector_plan(struct, tol=tol, drop=drop)
    D = float(dims.sum())
    G = struct.n_beams
    sizes = [int(d) for d in dims] if propagator == "spectral" else _chunk_sizes(dims, chunk_states)
    dmax = float(max(sizes))
    win = float(max(sum(sizes[i : i + 3]) for i in range(len(sizes))))  # three consecutive chunks
    nnz_row = 1 + G * (G - 1)
    grid = float(math.prod(int(n) + 1 for n in struct.sizes[:-1]))
    fixed = BASE + D * (16.0 * 2 + 4.0 * G) + grid * (8.0 * G + 16.0)
    build = dmax * (16.0 * 3 + 8.0 * 4 + 40.0 * G * nnz_row + 36.0 * nnz_row)
    if propagator == "chebyshev":
        fixed += D * (12.0 * nnz_row + 8.0)  # every chunk's Hamiltonian is kept
        work = dmax * 16.0 * 4
    else:
        work = 8.0 * dmax * min(dmax, 2048.0) + 8.0 * 20 * dmax  # eigenvectors (provision), stemr workspace
    obs_block = OBS_BLOCK * (16.0 * win + 16.0 * 3 * G * dmax + 16.0 * dmax)
    maps = 3 * G * (dmax * 24.0)
    ent = 0.0
    eg = _entropy_beams(struct, int(D), entropy_max_dim)
    for g in eg:
        fixed += 8.0 * D
        side, cells = _Schmidt_size(struct, g, int(D))
        ent = max(ent, 16.0 * cells + 16.0 * side * side * 2)
    fixed += max(build, work) + obs_block + maps + ent
    per_output = 16.0 * win + (32.0 * dmax if propagator == "spectral" else 0.0)
    store = 16.0 * D if eg else 0.0
    provision = work if propagator == "spectral" else 0.0
    return (
        fixed,
        per_output,
        store,
        dict(dimension=int(D), largest_chunk=int(dmax), entropy_beams=eg, eig_provision=provision),
    )


def _Schmidt_size(struct, g, dim):
    rest = min(dim, math.prod(int(x) + 1 for h, x in enumerate(struct.sizes) if h != g))
    side = int(struct.sizes[g]) + 1
    return min(side, rest), side * rest


def estimate_beams_bytes(
    struct: BeamStructure,
    *,
    tol: float = 1e-12,
    drop: float | None = None,
    chunk_states: int = CHUNK_STATES,
    outputs: int = 1,
    entropy_max_dim: int = ENTROPY_MAX_DIM,
    pairs: bool = True,
    propagator: str = "auto",
) -> float:
    """Estimated peak bytes of ``evolve_beams(struct, ...)`` when a pass holds ``outputs``
    output times (a run makes as few passes as the memory limit allows, each holding as many
    outputs as fit: ``outputs = 1`` is the least it needs).

    Fixed: the kept state at t = 0 and now (16 B each per kept state), the occupations (4 G B),
    the product grid of the first G - 1 beams, the kept chunk Hamiltonians (Chebyshev: 12 B per
    non-zero, 1 + G(G-1) per row), one chunk's build temporaries or one sector's eigenvectors
    (spectral: provision of 8 B x dim x min(dim, 2048); the actual size is checked as each is
    computed), the observation blocks, the Schmidt positions and matrix of the beams whose
    entropy is computed and the interpreter and libraries (``memory.BASE``). Per output held:
    the states of three consecutive chunks (16 B per state; the observables of a chunk need
    its neighbours' sectors K +- 1), the spectral reconstruction temporaries, and with entropy
    the whole state (16 B per kept state)."""
    fixed, per_output, store, _ = _memory_parts(
        struct,
        tol=tol,
        drop=drop,
        chunk_states=chunk_states,
        entropy_max_dim=entropy_max_dim,
        pairs=pairs,
        propagator=propagator,
    )
    return fixed + max(1, int(outputs)) * (per_output + store)


# --------------------------------------------------------------------------- evolution


_OBSERVABLES = ("pairs", "entropy", "energy")
OBS_BLOCK = 16  # output times observed together (bounds the J_g^i psi vectors held)


def evolve_beams(
    struct: BeamStructure,
    times,
    *,
    tol: float = 1e-12,
    drop: float | None = None,
    observables=("pairs", "entropy", "energy"),
    chunk_states: int = CHUNK_STATES,
    window: int | None = None,
    entropy_max_dim: int = ENTROPY_MAX_DIM,
    propagator: str = "auto",
    memory_limit: float | None = None,
    progress=None,
    stats: dict | None = None,
) -> dict:
    r"""Evolve a gas of beams exactly in the product of their symmetric subspaces.

    .. math::
        H/\mu = \sum_g -\frac{\omega_g}{\mu} J_{g,3}
                + \frac{2}{N-1}\sum_{g<h} g_{gh}\, \mathbf J_g\cdot\mathbf J_h
                + \frac{1}{N-1}\sum_g g_{gg}\left(\mathbf J_g^2 - \tfrac34 N_g\right)

    in the mass basis (B = z), from the product of the beams' coherent states, recorded at
    ``times`` (mu t). See the module docstring for the method.

    Parameters
    ----------
    struct : BeamStructure
        From ``beam_structure(scenario)`` or built directly.
    times : array (T,)
        Non-decreasing mu t >= 0 at which to record.
    tol : float
        Accuracy of the state: Chebyshev terms with 2 |J_k(r tau)| < tol/100 are left out (as
        the generic engine); the spectral propagator keeps the eigenpairs that hold all but
        max(tol/100, 2e-13) of the state, but no less than the accuracy of the eigenvectors
        themselves (``_Spectral.FLOOR`` = 1e-11 relative per sector: use "chebyshev" for a
        tighter state); it also sets the default ``drop``.
    drop : float, optional
        Largest summed initial weight of the sectors left out (default (tol/100)^2).
    observables : iterable of {"pairs", "entropy", "energy"}
        Extras beyond P, purity, S3_total and norm: two-body observables for every beam pair
        (g, h), g <= h (and each beam's <J_g^2>), entanglement entropy of each beam with the
        rest (where affordable), the energy.
    chunk_states : int
        Chebyshev: consecutive sectors are evolved together up to about this many states.
    window : int, optional
        Output times held per pass over the sectors (default: as many as the memory limit
        allows, usually all of them: one pass).
    entropy_max_dim : int
        Entropy is computed where the smaller side of the Schmidt matrix is at most this (and
        the matrix has at most 2^24 cells); NaN elsewhere. 0: never.
    propagator : {"auto", "chebyshev", "spectral"}
        "chebyshev": the Chebyshev expansion per chunk (any number of beams; cost ~ r t
        products, r ~ mu N/2.6). "spectral" (two beams only): each sector, tridiagonal, is
        diagonalised in the energy window of its initial state (LAPACK MRRR), so every output
        time costs the same -- no time stepping. "auto": spectral for two beams, else
        Chebyshev.
    memory_limit : float, optional
        Bytes the run may use (default 85% of the available memory): a larger estimate raises
        InputError before anything is allocated.
    progress : object with ``start(total, unit)`` and ``update(done)``, optional
        Called with the number of kept states evolved so far (summed over passes).
    stats : dict, optional
        Filled with run figures (propagator, dimensions, sectors, dropped weight, passes,
        Chebyshev products or eigenpairs, error bounds, times).

    Returns
    -------
    dict of numpy arrays
        ``times`` (T,); ``P`` (T, G, 3) per-particle Bloch vector of each beam, mass basis;
        ``purity`` (T, G) Tr rho^2 of a member's one-body state; ``S3_total`` (T,) = sum_a P_a3
        (mass basis, conserved); ``norm`` (T,); with "energy": ``energy`` (T,) <H>/mu
        (conserved); with "pairs": ``pairs`` (npairs, 2) beam indices, ``rho2`` (T, npairs, 4, 4)
        two-particle density matrices (mass basis, |up up> first), ``concurrence`` and
        ``mutual_information`` (bits) (T, npairs), ``spin_total`` (T, G) <J_g^2> (conserved,
        j_g (j_g + 1)), ``correlations`` (T, G, G, 3, 3) <J_g^i J_h^j> (complex); with "entropy":
        ``entropy`` (T, G) bits, NaN where not computed.

    Examples
    --------
    >>> import numpy as np
    >>> s = BeamStructure(labels=("e", "x"), sizes=np.array([100, 100]), omega=np.array([-0.5, 0.5]),
    ...                   P0_mass=flavor_to_mass(np.array([[0, 0, 1.0], [0, 0, -1.0]]), 0.1),
    ...                   coupling=np.array([[0, 2.0], [2.0, 0]]), theta=0.1)
    >>> out = evolve_beams(s, [0.0, 1.0])
    >>> bool(abs(out["S3_total"][1] - out["S3_total"][0]) < 1e-10)
    True
    """
    from .memory import memory_limit as _limit

    if not isinstance(struct, BeamStructure):
        raise InputTypeError(f"`struct` must be a BeamStructure; got {describe(struct)}.")
    times = check_array("times", times, (None,))
    if times.size == 0:
        raise InputError("`times` must hold at least one time; got an empty array.")
    if np.any(times < 0) or np.any(np.diff(times) < 0):
        raise InputError(f"`times` must be non-decreasing and >= 0; got {describe(times)}.")
    tol = check_real("tol", tol, positive=True)
    if drop is not None:
        drop = check_real("drop", drop, nonnegative=True)
    chunk_states = check_int("chunk_states", chunk_states, low=1)
    if window is not None:
        window = check_int("window", window, low=1)
    entropy_max_dim = check_int("entropy_max_dim", entropy_max_dim, low=0)
    if isinstance(observables, str):
        observables = (observables,)
    observables = set(observables)
    bad = sorted(observables - set(_OBSERVABLES))
    if bad:
        raise InputError(f"`observables` must be among {list(_OBSERVABLES)}; got {bad[0]!r}.")
    if "entropy" not in observables:
        entropy_max_dim = 0
    if propagator not in ("auto", "chebyshev", "spectral"):
        raise InputError(f"`propagator` must be one of ['auto', 'chebyshev', 'spectral']; got {describe(propagator)}.")
    if propagator == "spectral" and struct.n_beams != 2:
        raise InputError(
            f"`propagator` 'spectral' needs exactly two beams (tridiagonal sectors); got "
            f"{struct.n_beams}. Use 'chebyshev'."
        )
    propagator = _resolve_propagator(struct, propagator)
    budget = _limit(memory_limit)
    fixed, per_output, store, plan = _memory_parts(
        struct,
        tol=tol,
        drop=drop,
        chunk_states=chunk_states,
        entropy_max_dim=entropy_max_dim,
        pairs="pairs" in observables,
        propagator=propagator,
    )
    need = fixed + per_output + store
    if need > budget:
        raise InputError(
            f"`N` = {struct.n} in {struct.n_beams} beams needs an estimated {need / 1e9:.3g} GB "
            f"for method 'beams', more than the {budget / 1e9:.3g} GB memory limit; use fewer "
            "particles or a larger `tol`."
        )
    fit = int((budget - fixed) // (per_output + store))
    w = max(1, min(times.size, fit, window if window is not None else times.size))
    stats = {} if stats is None else stats
    stats["memory_estimate_bytes"] = float(fixed + w * (per_output + store))
    from threadpoolctl import threadpool_limits

    from ._threads import limited_threads

    # One OpenBLAS thread (as oile_q.run does for every engine; repeated here for direct calls):
    # with two, on these shared cores, a 513 x 513 eigvalsh of the entropy took 6 s instead of 0.1 s.
    with limited_threads(struct.n), threadpool_limits(limits=1, user_api="blas"):
        return _evolve(
            struct,
            times,
            tol,
            drop,
            observables,
            chunk_states,
            w,
            plan["entropy_beams"],
            propagator,
            budget - fixed - w * (per_output + store),
            plan["eig_provision"],
            progress,
            stats,
        )


class _Stream:
    """Observables accumulated over the kept states, chunk by chunk, for one pass of outputs.

    A chunk's rows of J_g^i psi need the neighbouring chunks' states (J_g^+- changes the sector
    by +-1), so each chunk is observed once its successor has been evolved; the states of at
    most three chunks are held at a time."""

    def __init__(self, struct, basis, chunks, w, want_pairs, want_energy):
        G = basis.G
        self.struct, self.basis, self.chunks = struct, basis, chunks
        self.want_pairs, self.want_energy = want_pairs, want_energy
        self.norm = np.zeros(w)
        self.J = np.zeros((w, G, 3))
        self.C = np.zeros((w, 3 * G, 3 * G), dtype=complex) if want_pairs else None
        self.E = np.zeros(w) if want_energy else None
        self.X, self.H, self.maps = {}, {}, {}

    def add(self, c, X, H):
        """Chunk c's states X (w, rows) and Hamiltonian H; observes chunk c - 1."""
        lo, hi = self.chunks[c]
        self.X[c], self.H[c] = X, H
        self.maps[c] = [_raise_map(self.basis, g, lo, hi) for g in range(self.basis.G)]
        if c - 1 in self.X:
            self._observe(c - 1)
        for old in [k for k in self.X if k < c - 1]:
            del self.X[old], self.H[old]
        for old in [k for k in self.maps if k < c - 1]:
            del self.maps[old]

    def finish(self):
        last = max(self.X)
        self._observe(last)
        self.X.clear(), self.H.clear(), self.maps.clear()

    def _observe(self, c):
        basis, G = self.basis, self.basis.G
        lo, hi = self.chunks[c]
        rows = hi - lo
        parts = [k for k in (c - 1, c, c + 1) if k in self.X]
        base = self.chunks[parts[0]][0]
        Xc = self.X[c]
        w = Xc.shape[0]
        m = basis.k[lo:hi].astype(float) - 0.5 * basis.sizes[None, :].astype(float)  # (rows, G)
        # J_g^+ pairs landing in chunk c (from c - 1 or c) and J_g^- pairs leaving from chunk c
        up, down = [], []
        for g in range(G):
            src, dst, coef = self.maps[c][g]
            keep = dst < hi
            pl_src, pl_dst, pl_coef = [src[keep]], [dst[keep]], [coef[keep]]
            if c - 1 in self.maps:
                s2, d2, c2 = self.maps[c - 1][g]
                k2 = d2 >= lo
                pl_src.append(s2[k2]), pl_dst.append(d2[k2]), pl_coef.append(c2[k2])
            up.append((np.concatenate(pl_src) - base, np.concatenate(pl_dst) - lo, np.concatenate(pl_coef)))
            down.append((src - lo, dst - base, coef))  # J^- |dst> = coef |src>, src in chunk c
        for j0 in range(0, w, OBS_BLOCK):
            j1 = min(w, j0 + OBS_BLOCK)
            Xw = np.concatenate([self.X[k][j0:j1] for k in parts], axis=1) if len(parts) > 1 else Xc[j0:j1]
            xc = Xc[j0:j1]
            nb = j1 - j0
            self.norm[j0:j1] += np.einsum("tr,tr->t", xc.conj(), xc).real
            A = np.zeros((G, 3, nb, rows), dtype=complex)
            for g in range(G):
                jp = np.zeros((nb, rows), dtype=complex)
                jm = np.zeros((nb, rows), dtype=complex)
                s, d, cf = up[g]
                jp[:, d] = cf[None, :] * Xw[:, s]
                s, d, cf = down[g]
                jm[:, s] = cf[None, :] * Xw[:, d]
                A[g, 0] = 0.5 * (jp + jm)
                A[g, 1] = -0.5j * (jp - jm)
                A[g, 2] = m[:, g][None, :] * xc
                self.J[j0:j1, g] += np.einsum("tr,itr->ti", xc.conj(), A[g]).real
            if self.want_pairs:
                A2 = A.reshape(3 * G, nb, rows).transpose(1, 0, 2)  # (t, 3G, rows)
                self.C[j0:j1] += np.matmul(A2.conj(), A2.transpose(0, 2, 1))
            if self.want_energy:
                hx = self.H[c] @ xc.T  # (rows, nb)
                self.E[j0:j1] += np.einsum("tr,rt->t", xc.conj(), hx).real


def _evolve(
    struct, times, tol, drop, observables, chunk_states, w, entropy_beams, propagator, spare, provision, progress, stats
):
    from .observables import concurrence, mutual_information

    want_pairs = "pairs" in observables
    t_build = _time.perf_counter()
    sectors, _, dropped = sector_plan(struct, tol=tol, drop=drop)
    basis = _Basis(struct.sizes, sectors)
    G = basis.G
    D = basis.dim
    sizes = struct.sizes
    psi0 = _initial_state(struct, basis)
    if propagator == "spectral":
        chunks = [(int(basis.offsets[i]), int(basis.offsets[i + 1])) for i in range(sectors.size)]
        # each sector's share of the state error max(tol/100, 2e-13) (added in quadrature)
        target = max(tol / 100.0, 2e-13) / math.sqrt(len(chunks))
    else:
        chunks = _chunks(basis, chunk_states)
        psi = psi0.copy()
    schmidt = {g: _Schmidt(basis, g) for g in entropy_beams}
    pairs = [(g, h) for g in range(G) for h in range(g, G) if g != h or sizes[g] >= 2]
    T = times.size
    passes = -(-T // w)
    stats.update(
        {
            "method": "beams",
            "propagator": propagator,
            "beams": G,
            "dimension_full": struct.full_dimension,
            "dimension": D,
            "sectors": int(sectors.size),
            "sector_range": [int(sectors.min()), int(sectors.max())],
            "dropped_weight": dropped,
            "chunks": len(chunks),
            "largest_chunk": int(max(h - l for l, h in chunks)),
            "passes": passes,
            "outputs_per_pass": int(w),
            "entropy_beams": list(entropy_beams),
            "build_s": round(_time.perf_counter() - t_build, 4),
        }
    )

    out = {
        "times": times.copy(),
        "P": np.zeros((T, G, 3)),
        "purity": np.zeros((T, G)),
        "S3_total": np.zeros(T),
        "norm": np.zeros(T),
    }
    if "energy" in observables:
        out["energy"] = np.zeros(T)
    if want_pairs:
        out["pairs"] = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        out["rho2"] = np.zeros((T, len(pairs), 4, 4), dtype=complex)
        out["concurrence"] = np.zeros((T, len(pairs)))
        out["mutual_information"] = np.zeros((T, len(pairs)))
        out["spin_total"] = np.zeros((T, G))
        out["correlations"] = np.zeros((T, G, G, 3, 3), dtype=complex)
    if "entropy" in observables:
        out["entropy"] = np.full((T, G), np.nan)

    if progress is not None:
        progress.start(D * passes, "state")
    cache, cached = {}, 0.0
    t_prop = t_obs = 0.0
    eig = {"pairs": 0, "solves": 0, "residual": 0.0, "error2": 0.0, "floor": 0, "bytes_max": 0.0, "window_max": 0.0}
    rebuilds = 0
    done = 0
    t_cur = 0.0
    for j in range(0, T, w):
        j2 = min(T, j + w)
        ts = times[j:j2]
        stream = _Stream(struct, basis, chunks, j2 - j, want_pairs, "energy" in observables)
        full = np.empty((j2 - j, D), dtype=np.complex128) if schmidt else None
        for c, (lo, hi) in enumerate(chunks):
            s = _time.perf_counter()
            kp = cache.get(c)
            if kp is None:
                H = _chunk_hamiltonian(struct, basis, lo, hi)
                if propagator == "spectral":
                    kp = _Spectral(H, psi0[lo:hi], tol, target=target)
                    if kp.bytes > provision + spare - cached:
                        raise InputError(
                            f"`N` = {struct.n}: the eigenvectors of one sector of propagator 'spectral' "
                            f"need {kp.bytes / 1e9:.3g} GB beyond the memory limit; use propagator "
                            "'chebyshev'."
                        )
                    if j == 0:
                        eig["pairs"] += int(kp.lam.size)
                        eig["solves"] += kp.solves
                        eig["residual"] = max(eig["residual"], kp.residual)
                        eig["error2"] += (kp.residual * kp.norm) ** 2
                        eig["floor"] += int(kp.floor)
                        eig["bytes_max"] = max(eig["bytes_max"], float(kp.bytes))
                        eig["window_max"] = max(eig["window_max"], float(kp.window))
                    else:
                        rebuilds += 1
                    if passes > 1 and cached + kp.bytes <= 0.5 * spare:
                        cache[c], cached = kp, cached + kp.bytes
                else:
                    kp = _Chebyshev(H, tol)
                    kp.H = H
                    cache[c] = kp
            X = np.empty((j2 - j, hi - lo), dtype=np.complex128)
            if propagator == "spectral":
                kp.states(ts, X)
            else:
                seg = psi[lo:hi]
                kp.propagate(seg, ts - t_cur, X)  # leaves seg (a view of psi) at ts[-1]
            t_prop += _time.perf_counter() - s
            s = _time.perf_counter()
            if full is not None:
                full[:, lo:hi] = X
            stream.add(c, X, kp.H)
            t_obs += _time.perf_counter() - s
            done += hi - lo
            if progress is not None:
                progress.update(done)
        s = _time.perf_counter()
        stream.finish()
        t_cur = float(ts[-1])
        # per-output observables of the pass
        J = stream.J
        P = 2.0 * J / sizes[None, :, None]
        out["P"][j:j2] = P
        out["purity"][j:j2] = 0.5 * (1.0 + np.sum(P**2, axis=2))
        out["S3_total"][j:j2] = 2.0 * J[:, :, 2].sum(axis=1)
        out["norm"][j:j2] = stream.norm
        if stream.E is not None:
            out["energy"][j:j2] = stream.E
        if want_pairs:
            C = stream.C.reshape(-1, G, 3, G, 3).transpose(0, 1, 3, 2, 4)  # C[t, g, h, i, j]
            out["correlations"][j:j2] = C
            out["spin_total"][j:j2] = np.einsum("tggii->tg", C).real
            for i in range(j2 - j):
                for p, (g, h) in enumerate(pairs):
                    if g != h:
                        Tm = 4.0 * C[i, g, h].real / (sizes[g] * sizes[h])
                    else:
                        n = sizes[g]
                        Tm = 4.0 * (0.5 * (C[i, g, g] + C[i, g, g].T).real - 0.25 * n * np.eye(3)) / (n * (n - 1))
                    rho = _pair_rho(P[i, g], P[i, h], Tm)
                    out["rho2"][j + i, p] = rho
                    out["concurrence"][j + i, p] = concurrence(rho)
                    out["mutual_information"][j + i, p] = mutual_information(rho)
        for g, sch in schmidt.items():
            for i in range(j2 - j):
                out["entropy"][j + i, g] = sch.entropy(full[i])
                if G == 2:  # a pure state of two parts: both have the same entropy
                    out["entropy"][j + i, 1 - g] = out["entropy"][j + i, g]
        t_obs += _time.perf_counter() - s
    if propagator == "chebyshev":
        props = [cache[c] for c in range(len(chunks))]
        stats.update(
            {
                "matvecs": int(sum(k.matvecs for k in props)),
                "matvecs_full": round(sum(k.matvecs * (hi - lo) for k, (lo, hi) in zip(props, chunks)) / D, 1),
                "windows": int(sum(k.windows for k in props)),
                "bounds_fallbacks": int(sum(k.fallbacks for k in props)),
                "halfwidth_max": float(max(k.halfwidth for k in props)),
            }
        )
    else:
        stats.update(
            {
                "eigenpairs": eig["pairs"],
                "eigen_solves": eig["solves"],
                "spectral_residual": eig["residual"],
                "spectral_error_bound": math.sqrt(eig["error2"]),
                "spectral_floor_sectors": eig["floor"],
                "eigvec_bytes_max": eig["bytes_max"],
                "spectral_window_max": eig["window_max"],
                "spectral_rebuilds": rebuilds,
            }
        )
    stats.update({"evolve_s": round(t_prop, 4), "observe_s": round(t_obs, 4)})
    return out
