"""Sectors, the kept basis and the initial state of the collective-spin evolution.

Everything runs in the mass basis (B = z). A basis state is (k_1, ..., k_G), k_g = j_g + m_g
the number of beam-g spins up (nu_1); H conserves the total mass-basis J_3, i.e. the sector
K = sum_g k_g, and is block diagonal in K. A sector's states are enumerated from the product
grid of the first G - 1 beams sorted by their partial sum S (the last beam takes k_G = K - S):
every sector is a contiguous slice of that sorted grid, so positions, raising maps and hops are
index arithmetic (``Basis``, ``raise_map``).

The initial product state |n_g>^{(x) N_g} of a beam is the spin coherent state of spin
j_g = N_g/2 along n_g (``initial_state``). Its weight in sector K is the convolution of the
beams' binomial distributions; sectors whose summed weight is below ``drop`` (default
(tol/100)^2) are left out (``sector_plan``). H never couples sectors, so that weight is lost
exactly and for good: the state error is at most sqrt(dropped weight) at every time (reported
as ``stats["dropped_weight"]``; the state is not renormalised). With theta = 0 and flavor
states only one sector is occupied.

Sectors are evolved in chunks of consecutive whole sectors of about ``CHUNK_STATES`` states
(``chunk_sizes``, ``chunk_ranges``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from .structure import BeamStructure

__all__ = ["CHUNK_STATES", "sector_plan", "Basis", "raise_map", "chunk_sizes", "chunk_ranges", "initial_state"]

CHUNK_STATES = 1 << 17


def _beam_amplitudes(n: int, P: np.ndarray):
    """(log |c_k|, arg c_k) of the coherent state |P>^{(x) n} on the symmetric states k = 0..n
    (k spins up): c_k = sqrt(C(n, k)) u^k d^(n-k), u = cos(th/2), d = e^{i ph} sin(th/2)."""
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


def sector_plan(
    struct: BeamStructure, *, tol: float = 1e-12, drop: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """The sectors evolved for ``struct``: the initial state's sectors but the lightest.

    Parameters
    ----------
    struct : BeamStructure
        The beams.
    tol : float
        Accuracy of the state; sets the default ``drop``.
    drop : float, optional
        Sectors are dropped from the lightest up while their summed initial weight stays at
        most this (default (tol/100)^2, i.e. a state error <= tol/100).

    Returns
    -------
    sectors : ndarray of int
        The kept sectors K (number of spins up), increasing.
    dims : ndarray of int
        Their dimensions.
    dropped : float
        The summed weight of the sectors left out.

    Examples
    --------
    >>> import numpy as np
    >>> from oile_q.conventions import flavor_to_mass
    >>> s = BeamStructure(labels=("e", "x"), sizes=np.array([300, 300]), omega=np.array([0.5, -0.5]),
    ...                   P0_mass=flavor_to_mass(np.array([[0, 0, 1.0], [0, 0, -1.0]]), 0.05),
    ...                   coupling=np.array([[0, 2.0], [2.0, 0]]), theta=0.05)
    >>> sectors, dims, dropped = sector_plan(s)
    >>> int(sectors.size) < 601 and int(dims.sum()) < s.full_dimension // 4 and 0 < dropped <= 1e-28
    True
    """
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


class Basis:
    """The kept basis states, sector by sector; positions by index arithmetic.

    Parameters
    ----------
    sizes : array of int (G,)
        N_g.
    sectors : array of int
        The kept sectors K, increasing (``sector_plan``).

    Attributes
    ----------
    k : int32 ndarray (D, G)
        Occupations k_g of the kept states, sector after sector.
    offsets : int ndarray (S + 1,)
        Sector i holds the states offsets[i] .. offsets[i + 1] - 1.
    dims : int ndarray (S,)
        Sector dimensions.
    dim : int
        D, the number of kept states.
    """

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
        """Positions of the configurations kk (M, G) in the sectors KK (M,).

        Returns
        -------
        int64 ndarray (M,)
            -1 where a configuration is not kept or not valid.
        """
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


def raise_map(basis: Basis, g: int, lo: int = 0, hi: int | None = None):
    """(src, dst, coef) of J_g^+ on the states lo..hi-1: J_g^+ |src> = coef |dst>, dst kept."""
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


def chunk_sizes(dims, target: int) -> list[int]:
    """Sizes of the chunks of consecutive whole sectors (dimensions ``dims``), each closed once it
    holds at least ``target`` states (the last one: whatever is left; target 1: one per sector)."""
    out, cur = [], 0
    for i, d in enumerate(dims):
        cur += int(d)
        if cur >= target or i == len(dims) - 1:
            out.append(cur)
            cur = 0
    return out


def chunk_ranges(basis: Basis, target: int) -> list[tuple[int, int]]:
    """The [lo, hi) state ranges of the chunks of ``chunk_sizes(basis.dims, target)``."""
    ends = np.cumsum(chunk_sizes(basis.dims, target))
    return [(int(hi - size), int(hi)) for hi, size in zip(ends, np.diff(ends, prepend=0))]


def initial_state(struct: BeamStructure, basis: Basis) -> np.ndarray:
    """The product of the beams' coherent states on the kept basis (complex (D,); its norm is
    1 - the dropped weight)."""
    la = np.zeros(basis.dim)
    ph = np.zeros(basis.dim)
    for g, (n, P) in enumerate(zip(struct.sizes, struct.P0_mass)):
        lg, pg = _beam_amplitudes(int(n), P)
        la += lg[basis.k[:, g]]
        ph += pg[basis.k[:, g]]
    return np.exp(la) * np.exp(1j * ph)
