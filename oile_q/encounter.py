"""The two-body encounter: reference 4x4 algebra and the fast closed-form Bloch map.

Pair Hamiltonian (flavor basis, particle a is the first tensor factor):

    H_ab = -(omega_a/2) B.sigma_a - (omega_b/2) B.sigma_b + (mu/2) g_ab sigma_a.sigma_b,

evolved for the step duration tau (dz = gamma/mu for every-step schedules). The
interaction is, up to a global phase, the SWAP-power gate exp(-i phi SWAP) with
phi = mu g_ab tau = gamma g_ab. Propagators:

* ``"exact"``: exp(-i tau H_ab);
* ``"split"``: SWAP power, then the vacuum rotations (first order in tau);
* ``"symmetric"``: half vacuum, SWAP power, half vacuum (second order).

The 4x4 functions here use scipy and serve as the reference; ``encounter_bloch`` runs
the compiled closed form of ``oile_q._kernels`` on arrays of pairs.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError, InputTypeError
import scipy.linalg

from .conventions import IDENTITY2, PAULI, b_vector, flavor_to_mass, mass_to_flavor

__all__ = [
    "SWAP",
    "pair_hamiltonian",
    "pair_propagator",
    "swap_power",
    "encounter_rho",
    "encounter_bloch",
    "swap_map",
    "PROPAGATORS",
]

PROPAGATORS = ("exact", "split", "symmetric")

SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex)


def _bsigma(theta):
    return np.einsum("i,ijk->jk", b_vector(theta), PAULI)


def pair_hamiltonian(omega_a, omega_b, g, *, theta=0.0, mu=1.0) -> np.ndarray:
    """The 4x4 pair Hamiltonian H_ab in the flavor basis (a is the first factor)."""
    bs = _bsigma(theta)
    ss = sum(np.kron(PAULI[i], PAULI[i]) for i in range(3))
    return (-(omega_a / 2) * np.kron(bs, IDENTITY2) - (omega_b / 2) * np.kron(IDENTITY2, bs)
            + (mu / 2) * g * ss)


def swap_power(phi) -> np.ndarray:
    """exp(-i phi SWAP) = cos(phi) 1 - i sin(phi) SWAP (SWAP^2 = 1)."""
    return np.cos(phi) * np.eye(4) - 1j * np.sin(phi) * SWAP


def _vacuum(omega, tau, theta):
    """exp(+i (omega tau / 2) B.sigma), the one-body vacuum propagator."""
    a = omega * tau / 2
    return np.cos(a) * IDENTITY2 + 1j * np.sin(a) * _bsigma(theta)


def pair_propagator(omega_a, omega_b, g, *, gamma, theta=0.0, mu=1.0, duration=None,
                    propagator="exact") -> np.ndarray:
    """The 4x4 unitary of one encounter (scipy reference; not for hot loops).

    ``duration`` is the step length tau (default gamma/mu); the kick is phi = gamma g.
    For ``duration != gamma/mu`` (Poisson steps), "exact" is exp(-i[tau H_vac + phi SWAP]).
    """
    if propagator not in PROPAGATORS:
        raise InputError(f"`propagator` must be one of {PROPAGATORS}; got {propagator!r}.")
    tau = gamma / mu if duration is None else duration
    phi = gamma * g
    if propagator == "exact":
        h_vac = pair_hamiltonian(omega_a, omega_b, 0.0, theta=theta, mu=mu)
        return scipy.linalg.expm(-1j * (tau * h_vac + phi * SWAP))
    if propagator == "split":
        vac = np.kron(_vacuum(omega_a, tau, theta), _vacuum(omega_b, tau, theta))
        return vac @ swap_power(phi)
    half = np.kron(_vacuum(omega_a, tau / 2, theta), _vacuum(omega_b, tau / 2, theta))
    return half @ swap_power(phi) @ half


def encounter_rho(rho_a, rho_b, U):
    """Reduced one-body density matrices after U (rho_a x rho_b) U^dagger."""
    rho = U @ np.kron(rho_a, rho_b) @ U.conj().T
    r = rho.reshape(2, 2, 2, 2)
    return np.einsum("ijkj->ik", r), np.einsum("ijil->jl", r)


def encounter_bloch(Pa, Pb, omega_a, omega_b, g, *, gamma, theta=0.0, mu=1.0, duration=None,
                    propagator="exact"):
    """Closed-form encounter on Bloch vectors (flavor basis), batched over pairs.

    Pa, Pb: (..., 3); omega_a, omega_b, g broadcast against the leading shape.
    Returns the new (Pa, Pb).
    """
    from . import _kernels

    if propagator not in PROPAGATORS:
        raise InputError(f"`propagator` must be one of {PROPAGATORS}; got {propagator!r}.")
    Pa, Pb = np.asarray(Pa, float), np.asarray(Pb, float)
    shape = np.broadcast_shapes(Pa.shape, Pb.shape)
    lead = shape[:-1]
    tau = gamma / mu if duration is None else duration
    flat = lambda x: np.ascontiguousarray(np.broadcast_to(x, lead).reshape(-1), dtype=float)
    ma = np.ascontiguousarray(flavor_to_mass(np.broadcast_to(Pa, shape), theta).reshape(-1, 3))
    mb = np.ascontiguousarray(flavor_to_mass(np.broadcast_to(Pb, shape), theta).reshape(-1, 3))
    oa, ob = _kernels.encounter_batch(ma, mb, gamma * flat(g), flat(omega_a) * tau,
                                      flat(omega_b) * tau, _kernels.MODES[propagator])
    return (mass_to_flavor(oa, theta).reshape(shape), mass_to_flavor(ob, theta).reshape(shape))


def swap_map(Pa, Pb, phi):
    """Closed form of exp(-i phi SWAP) on Bloch vectors (no vacuum terms):
    P_a' = cos^2 phi P_a + sin^2 phi P_b + sin phi cos phi (P_b x P_a), and a <-> b."""
    Pa, Pb = np.asarray(Pa, float), np.asarray(Pb, float)
    c = np.cos(np.asarray(phi))[..., None]
    s = np.sin(np.asarray(phi))[..., None]
    cross = np.cross(Pb, Pa)
    return c * c * Pa + s * s * Pb + s * c * cross, c * c * Pb + s * s * Pa - s * c * cross
