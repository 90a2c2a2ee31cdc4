"""Reduced density matrices and entanglement measures of N-spin states (mass basis).

One-body states are Bloch vectors P (rho = (1 + P.sigma)/2); two-body states are 4x4
density matrices in the basis |up up>, |up down>, |down up>, |down down> (particle a
first). Entropies are in bits (log base 2), so a qubit's entropy is at most 1.
"""

from __future__ import annotations

import numpy as np

from . import _kernels

__all__ = ["one_body", "two_body", "entropy_bits", "vn_entropy", "concurrence", "mutual_information", "purity"]

_SY2 = np.kron(np.array([[0, -1j], [1j, 0]]), np.array([[0, -1j], [1j, 0]]))


def one_body(v: np.ndarray, n: int):
    """Mass-basis Bloch vectors (N, 3) of every particle of the 2^N vector v, and |v|^2."""
    bits_P, norm2 = _kernels.one_body(v, n)
    return bits_P[::-1].copy(), float(norm2)


def two_body(v: np.ndarray, n: int, a: int, b: int) -> np.ndarray:
    """4x4 reduced density matrix of particles a, b (mass basis, |up up> first)."""
    return _kernels.two_body(v, n, n - 1 - a, n - 1 - b)


def entropy_bits(P) -> np.ndarray:
    """von Neumann entropy (bits) of one-body states with Bloch vectors P (..., 3)."""
    r = np.clip(np.linalg.norm(np.asarray(P, float), axis=-1), 0.0, 1.0)
    out = np.zeros_like(r)
    for lam in ((1 + r) / 2, (1 - r) / 2):
        with np.errstate(divide="ignore", invalid="ignore"):
            out -= np.where(lam > 0, lam * np.log2(np.where(lam > 0, lam, 1.0)), 0.0)
    return out


def purity(P) -> np.ndarray:
    """Tr rho^2 = (1 + |P|^2) / 2 of one-body states."""
    return 0.5 * (1.0 + np.sum(np.asarray(P, float) ** 2, axis=-1))


def vn_entropy(rho) -> float:
    """von Neumann entropy (bits) of a density matrix."""
    lam = np.linalg.eigvalsh(0.5 * (rho + rho.conj().T))
    lam = lam[lam > 1e-15]
    return float(-np.sum(lam * np.log2(lam)))


def concurrence(rho) -> float:
    """Wootters concurrence of a two-qubit density matrix."""
    rt = _SY2 @ rho.conj() @ _SY2
    lam = np.sqrt(np.clip(np.linalg.eigvals(rho @ rt).real, 0.0, None))
    lam = np.sort(lam)[::-1]
    return float(max(0.0, lam[0] - lam[1] - lam[2] - lam[3]))


def bloch_of_pair(rho):
    """One-body Bloch vectors (Pa, Pb) of a two-qubit density matrix (|up up> first)."""
    r = rho.reshape(2, 2, 2, 2)
    ra = np.einsum("ijkj->ik", r)
    rb = np.einsum("ijil->jl", r)
    out = []
    for m in (ra, rb):
        out.append(np.array([2 * m[0, 1].real, -2 * m[0, 1].imag, (m[0, 0] - m[1, 1]).real]))
    return out


def mutual_information(rho) -> float:
    """I(a:b) = S(a) + S(b) - S(ab) in bits."""
    Pa, Pb = bloch_of_pair(rho)
    return float(entropy_bits(Pa) + entropy_bits(Pb) - vn_entropy(rho))
