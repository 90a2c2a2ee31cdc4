"""Observables of the collective-spin evolution, accumulated over the kept states chunk by chunk.

Per output time, from the whole state: with the 3G vectors J_g^i psi, <J_g^i> and the Gram matrix
C_gh^{ij} = <psi| J_g^i J_h^j |psi> (``Stream``). Per particle of beam g, P_g = 2 <J_g>/N_g
(mass basis), purity (1 + |P_g|^2)/2. Two particles a in g, b in h: T_ij = <sigma_a^i sigma_b^j>
= 4 C_gh^{ij}/(N_g N_h) (g != h) or 4 (Re C_gg^{ij} - delta_ij N_g/4)/(N_g (N_g - 1)) (g = h),
hence the 4x4 reduced density matrix rho_ab = (1 + P_a.sigma x 1 + 1 x P_b.sigma
+ T_ij sigma_i x sigma_j)/4, its concurrence and mutual information (bits) (``record_pass``).
Conserved checks: S3_total = sum_a P_a3 = 2 sum_g <J_g3>, the energy <H>/mu, each beam's
<J_g^2> = j_g (j_g + 1), and |psi|^2. The beam-vs-rest entropy is in ``entropy.py``.
"""

from __future__ import annotations

import numpy as np

from oile_q.conventions import PAULI

from ..observables import concurrence, mutual_information
from .basis import Basis, raise_map

__all__ = ["OBSERVABLES", "OBS_BLOCK", "beam_pairs", "Stream", "new_outputs", "record_pass", "record_entropy"]

OBSERVABLES = ("pairs", "entropy", "energy")
OBS_BLOCK = 16  # output times observed together (bounds the J_g^i psi vectors held)


def _sigma_basis():
    """S[a, b] = sigma_a (x) sigma_b for a, b in (1, x, y, z), |up up> first: (4, 4, 4, 4)."""
    s = np.concatenate([np.eye(2, dtype=complex)[None], PAULI])
    return np.einsum("aij,bkl->abikjl", s, s).reshape(4, 4, 4, 4)


_SIGMA2 = _sigma_basis()


def _pair_rho(Pa, Pb, T):
    """4x4 density matrix (|up up> first) from one-body Bloch vectors and T_ij = <s_i x s_j>:
    rho = (1 + P_a.sigma x 1 + 1 x P_b.sigma + T_ij sigma_i x sigma_j) / 4."""
    M = np.empty((4, 4))
    M[0, 0] = 1.0
    M[1:, 0] = Pa
    M[0, 1:] = Pb
    M[1:, 1:] = T
    return np.einsum("ab,abij->ij", M, _SIGMA2) / 4.0


def beam_pairs(sizes) -> list[tuple[int, int]]:
    """The beam pairs (g, h), g <= h, with two-body observables (g = h needs two members)."""
    G = len(sizes)
    return [(g, h) for g in range(G) for h in range(g, G) if g != h or sizes[g] >= 2]


class Stream:
    """Observables accumulated over the kept states, chunk by chunk, for one pass of outputs.

    A chunk's rows of J_g^i psi need the neighbouring chunks' states (J_g^+- changes the sector
    by +-1), so each chunk is observed once its successor has been evolved; the states of at
    most three chunks are held at a time.

    Parameters
    ----------
    basis : Basis
        The kept basis.
    chunks : list of (lo, hi)
        The chunks, in the order they are added.
    w : int
        Output times of the pass.
    want_pairs, want_energy : bool
        Accumulate the Gram matrix C, the energy.
    """

    def __init__(self, basis: Basis, chunks, w: int, want_pairs: bool, want_energy: bool):
        G = basis.G
        self.basis, self.chunks = basis, chunks
        self.want_pairs, self.want_energy = want_pairs, want_energy
        self.norm = np.zeros(w)
        self.J = np.zeros((w, G, 3))
        self.C = np.zeros((w, 3 * G, 3 * G), dtype=complex) if want_pairs else None
        self.E = np.zeros(w) if want_energy else None
        self.X, self.H, self.maps = {}, {}, {}

    def add(self, c: int, X: np.ndarray, H) -> None:
        """Chunk c's states X (w, rows) and Hamiltonian H; observes chunk c - 1."""
        lo, hi = self.chunks[c]
        self.X[c], self.H[c] = X, H
        self.maps[c] = [raise_map(self.basis, g, lo, hi) for g in range(self.basis.G)]
        if c - 1 in self.X:
            self._observe(c - 1)
        for old in [k for k in self.X if k < c - 1]:
            del self.X[old], self.H[old]
        for old in [k for k in self.maps if k < c - 1]:
            del self.maps[old]

    def finish(self) -> None:
        """Observes the last chunk and lets the states go."""
        last = max(self.X)
        self._observe(last)
        self.X.clear(), self.H.clear(), self.maps.clear()

    def _ladders(self, c):
        """Per beam, J_g^+ pairs landing in chunk c (from c - 1 or c) and J_g^- pairs leaving from
        chunk c, as (src, dst, coef) relative to the held states and to chunk c."""
        lo, hi = self.chunks[c]
        base = self.chunks[min(k for k in (c - 1, c) if k in self.X)][0]
        up, down = [], []
        for g in range(self.basis.G):
            src, dst, coef = self.maps[c][g]
            keep = dst < hi
            pl_src, pl_dst, pl_coef = [src[keep]], [dst[keep]], [coef[keep]]
            if c - 1 in self.maps:
                s2, d2, c2 = self.maps[c - 1][g]
                k2 = d2 >= lo
                pl_src.append(s2[k2]), pl_dst.append(d2[k2]), pl_coef.append(c2[k2])
            up.append((np.concatenate(pl_src) - base, np.concatenate(pl_dst) - lo, np.concatenate(pl_coef)))
            down.append((src - lo, dst - base, coef))  # J^- |dst> = coef |src>, src in chunk c
        return up, down

    def _observe(self, c):
        basis, G = self.basis, self.basis.G
        lo, hi = self.chunks[c]
        rows = hi - lo
        parts = [k for k in (c - 1, c, c + 1) if k in self.X]
        Xc = self.X[c]
        w = Xc.shape[0]
        m = basis.k[lo:hi].astype(float) - 0.5 * basis.sizes[None, :].astype(float)  # (rows, G)
        up, down = self._ladders(c)
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


def new_outputs(times: np.ndarray, G: int, pairs, observables) -> dict:
    """The output arrays of ``evolve_beams`` (zeros; entropy NaN) for T times and G beams."""
    T = times.size
    out = {
        "times": times.copy(),
        "P": np.zeros((T, G, 3)),
        "purity": np.zeros((T, G)),
        "S3_total": np.zeros(T),
        "norm": np.zeros(T),
    }
    if "energy" in observables:
        out["energy"] = np.zeros(T)
    if "pairs" in observables:
        out["pairs"] = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        out["rho2"] = np.zeros((T, len(pairs), 4, 4), dtype=complex)
        out["concurrence"] = np.zeros((T, len(pairs)))
        out["mutual_information"] = np.zeros((T, len(pairs)))
        out["spin_total"] = np.zeros((T, G))
        out["correlations"] = np.zeros((T, G, G, 3, 3), dtype=complex)
    if "entropy" in observables:
        out["entropy"] = np.full((T, G), np.nan)
    return out


def record_pass(out: dict, j: int, stream: Stream, sizes, pairs) -> None:
    """Write the observables of a pass (outputs j, j + 1, ...) from its finished stream."""
    J = stream.J
    j2 = j + J.shape[0]
    P = 2.0 * J / sizes[None, :, None]
    out["P"][j:j2] = P
    out["purity"][j:j2] = 0.5 * (1.0 + np.sum(P**2, axis=2))
    out["S3_total"][j:j2] = 2.0 * J[:, :, 2].sum(axis=1)
    out["norm"][j:j2] = stream.norm
    if stream.E is not None:
        out["energy"][j:j2] = stream.E
    if stream.C is None:
        return
    G = sizes.size
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


def record_entropy(out: dict, j: int, full: np.ndarray, schmidt: dict) -> None:
    """Write the beam-vs-rest entropies of a pass (outputs j, j + 1, ...) from its whole states
    ``full`` (w, D); ``schmidt`` maps beam -> ``Schmidt``."""
    G = out["entropy"].shape[1]
    for g, sch in schmidt.items():
        for i in range(full.shape[0]):
            out["entropy"][j + i, g] = sch.entropy(full[i])
            if G == 2:  # a pure state of two parts: both have the same entropy
                out["entropy"][j + i, 1 - g] = out["entropy"][j + i, g]
