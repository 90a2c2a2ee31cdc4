"""Conventions shared by every engine (docs/conventions.md), and small Bloch algebra.

One-body state: rho = (1 + P . sigma) / 2. Flavor basis: nu_e -> P = (0, 0, +1).
Mixing: in flavor coordinates B = (-sin 2 theta, 0, cos 2 theta); a mass-basis vector
is the flavor-basis vector rotated about y by +2 theta, so that B -> (0, 0, 1).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PROPAGATORS",
    "PAULI",
    "IDENTITY2",
    "b_vector",
    "flavor_to_mass",
    "mass_to_flavor",
    "rotation_y",
    "rotation_z",
    "bloch_to_rho",
    "rho_to_bloch",
]

# The pair propagators every encounter engine offers (oile, closed, circuit): the exact
# exp(-i tau H_ab), "split" (SWAP power, then the vacuum rotations; first order in tau) and
# "symmetric" (half vacuum, SWAP power, half vacuum; second order).
PROPAGATORS = ("exact", "split", "symmetric")

IDENTITY2 = np.eye(2, dtype=complex)
PAULI = np.array(
    [
        [[0, 1], [1, 0]],
        [[0, -1j], [1j, 0]],
        [[1, 0], [0, -1]],
    ],
    dtype=complex,
)


def b_vector(theta: float) -> np.ndarray:
    """The vacuum unit vector B in flavor coordinates for mixing angle ``theta``."""
    return np.array([-np.sin(2 * theta), 0.0, np.cos(2 * theta)])


def rotation_y(angle: float) -> np.ndarray:
    """Active rotation matrix about y by ``angle`` (right-handed)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_z(angle) -> np.ndarray:
    """Active rotation matrices about z by ``angle`` (scalar or array, stacked last)."""
    angle = np.asarray(angle, dtype=float)
    c, s = np.cos(angle), np.sin(angle)
    z, o = np.zeros_like(c), np.ones_like(c)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def flavor_to_mass(P, theta: float) -> np.ndarray:
    """Bloch vectors (..., 3) from flavor to mass coordinates (rotate about y by +2 theta)."""
    return np.asarray(P, dtype=float) @ rotation_y(2 * theta).T


def mass_to_flavor(P, theta: float) -> np.ndarray:
    """Bloch vectors (..., 3) from mass to flavor coordinates."""
    return np.asarray(P, dtype=float) @ rotation_y(-2 * theta).T


def bloch_to_rho(P) -> np.ndarray:
    """Density matrices (..., 2, 2) from Bloch vectors (..., 3)."""
    P = np.asarray(P, dtype=float)
    return 0.5 * (IDENTITY2 + np.einsum("...i,ijk->...jk", P, PAULI))


def rho_to_bloch(rho) -> np.ndarray:
    """Bloch vectors (..., 3) of density matrices (..., 2, 2): P_i = tr(rho sigma_i)."""
    rho = np.asarray(rho)
    return np.einsum("...jk,ikj->...i", rho, PAULI).real
