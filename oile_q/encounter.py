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
import scipy.linalg

from .conventions import IDENTITY2, PAULI, PROPAGATORS, b_vector, flavor_to_mass, mass_to_flavor
from .errors import InputError

__all__ = [
    "SWAP",
    "pair_hamiltonian",
    "pair_propagator",
    "swap_power",
    "encounter_rho",
    "encounter_bloch",
    "swap_map",
    "pair_blocks",
    "pair_unitary",
    "PROPAGATORS",
]

SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex)


def _bsigma(theta):
    return np.einsum("i,ijk->jk", b_vector(theta), PAULI)


def pair_hamiltonian(omega_a, omega_b, g, *, theta=0.0, mu=1.0) -> np.ndarray:
    """The 4x4 pair Hamiltonian H_ab in the flavor basis (a is the first factor)."""
    bs = _bsigma(theta)
    ss = sum(np.kron(PAULI[i], PAULI[i]) for i in range(3))
    return -(omega_a / 2) * np.kron(bs, IDENTITY2) - (omega_b / 2) * np.kron(IDENTITY2, bs) + (mu / 2) * g * ss


def swap_power(phi) -> np.ndarray:
    """exp(-i phi SWAP) = cos(phi) 1 - i sin(phi) SWAP (SWAP^2 = 1)."""
    return np.cos(phi) * np.eye(4) - 1j * np.sin(phi) * SWAP


def _vacuum(omega, tau, theta):
    """exp(+i (omega tau / 2) B.sigma), the one-body vacuum propagator."""
    a = omega * tau / 2
    return np.cos(a) * IDENTITY2 + 1j * np.sin(a) * _bsigma(theta)


def pair_propagator(omega_a, omega_b, g, *, gamma, theta=0.0, mu=1.0, duration=None, propagator="exact") -> np.ndarray:
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


def pair_blocks(wa, wb, phi, propagator="exact") -> np.ndarray:
    """The pair unitary of one encounter in the mass basis, in closed form (no LAPACK).

    ``wa = omega_a tau`` and ``wb = omega_b tau`` are the vacuum angles of the step, ``phi =
    gamma g_ab`` the kick. Returns an array (..., 6) complex: the phases of |up up> and
    |down down> and the 2x2 block on (|up down>, |down up>), (e_uu, e_dd, b00, b01, b10,
    b11), global phase included (it equals ``pair_propagator`` rotated to the mass basis).
    Broadcasts over its arguments. Used by the ``closed`` engine on state vectors and by the
    circuit gates; the ``oile`` kernel applies the same coefficients to Bloch vectors.
    """
    from . import _kernels

    if propagator not in PROPAGATORS:
        raise InputError(f"`propagator` must be one of {list(PROPAGATORS)}; got {propagator!r}.")
    wa, wb, phi = np.broadcast_arrays(np.asarray(wa, float), np.asarray(wb, float), np.asarray(phi, float))
    shape = wa.shape
    out = np.empty((wa.size, 6), dtype=complex)
    flat = lambda x: np.ascontiguousarray(x.reshape(-1), dtype=float)
    _kernels.pair_blocks_flat(flat(wa), flat(wb), flat(phi), _kernels.MODES[propagator], out)
    return out.reshape(shape + (6,))


def pair_unitary(wa, wb, phi, *, theta=0.0, propagator="exact") -> np.ndarray:
    """The 4x4 pair unitary in the flavor basis (particle a the first Kronecker factor), from
    the closed form ``pair_blocks`` (scalars only)."""
    e_uu, e_dd, b00, b01, b10, b11 = pair_blocks(wa, wb, phi, propagator)
    um = np.zeros((4, 4), dtype=complex)
    um[0, 0], um[3, 3] = e_uu, e_dd
    um[1, 1], um[1, 2], um[2, 1], um[2, 2] = b00, b01, b10, b11
    # mass basis -> flavor basis: a Bloch vector rotates about y by -2 theta, a state by Ry(-2 theta)
    c, s = np.cos(theta), np.sin(theta)
    ry = np.array([[c, s], [-s, c]], dtype=complex)  # Ry(-2 theta) = exp(+i theta sigma_y)
    V = np.kron(ry, ry)
    return V @ um @ V.conj().T


def encounter_rho(rho_a, rho_b, U):
    """Reduced one-body density matrices after U (rho_a x rho_b) U^dagger."""
    rho = U @ np.kron(rho_a, rho_b) @ U.conj().T
    r = rho.reshape(2, 2, 2, 2)
    return np.einsum("ijkj->ik", r), np.einsum("ijil->jl", r)


def encounter_bloch(Pa, Pb, omega_a, omega_b, g, *, gamma, theta=0.0, mu=1.0, duration=None, propagator="exact"):
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
    oa, ob = _kernels.encounter_batch(
        ma, mb, gamma * flat(g), flat(omega_a) * tau, flat(omega_b) * tau, _kernels.MODES[propagator]
    )
    return (mass_to_flavor(oa, theta).reshape(shape), mass_to_flavor(ob, theta).reshape(shape))


def swap_map(Pa, Pb, phi):
    """Closed form of exp(-i phi SWAP) on Bloch vectors (no vacuum terms):
    P_a' = cos^2 phi P_a + sin^2 phi P_b + sin phi cos phi (P_b x P_a), and a <-> b."""
    Pa, Pb = np.asarray(Pa, float), np.asarray(Pb, float)
    c = np.cos(np.asarray(phi))[..., None]
    s = np.sin(np.asarray(phi))[..., None]
    cross = np.cross(Pb, Pa)
    return c * c * Pa + s * s * Pb + s * c * cross, c * c * Pb + s * s * Pa - s * c * cross
