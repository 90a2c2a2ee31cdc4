"""Gates of one OILE encounter: SWAP power, vacuum rotation, the encounter and its isometry.

Qiskit orders qubits little-endian (qubit 0 is the least significant bit), while
``oile_q.encounter`` puts particle a in the first (most significant) Kronecker factor.
Every two-qubit gate here acts on ``[a, b]`` in Qiskit's order, so its matrix is
``S @ U_core @ S`` with S the SWAP that exchanges the two tensor factors.

* ``SwapPowerGate(phi)``: exp(-i phi SWAP), the interaction part of an encounter;
* ``VacuumRotationGate(wt, theta)``: exp(+i (wt/2) B.sigma), one particle's vacuum
  precession during a step (wt = omega * tau; a rotation by -wt about B);
* ``EncounterGate(phi, wt_a, wt_b, theta, mode)``: the whole pair propagator in the mode
  "exact", "split" or "symmetric" (the modes of ``oile_q.encounter.pair_propagator``);
* ``EncounterIsometryGate(phi, wt_a, wt_b, theta, Q)``: a two-CNOT gate W such that,
  with the partner qubit b in |0> on input and traced out afterwards, particle a
  undergoes exactly the channel of the ``exact`` encounter with a partner in the pure
  state Q.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike
from qiskit.circuit import Gate, QuantumCircuit
from qiskit.circuit.parameterexpression import ParameterValueType

from oile_q.encounter import pair_unitary
from oile_q.errors import InputError, InputTypeError

from .modes import COMPILE_MODES, MODES

__all__ = [
    "SwapPowerGate",
    "VacuumRotationGate",
    "EncounterGate",
    "EncounterIsometryGate",
    "swap_power_matrix",
    "vacuum_matrix",
    "encounter_matrix",
    "pure_state",
    "MODES",
    "COMPILE_MODES",
]

_I2 = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.array([[1, 0], [0, -1]], dtype=complex)
_SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex)


def _float(name, value):
    try:
        return float(value)
    except TypeError as err:
        raise InputTypeError(f"`{name}` must be bound to a number to build a matrix; got {value!r}.") from err


def _bsigma(theta):
    return -np.sin(2 * theta) * _X + np.cos(2 * theta) * _Z


def swap_power_matrix(phi: float) -> np.ndarray:
    r"""The matrix of the SWAP-power gate, exp(-i phi SWAP) = cos(phi) 1 - i sin(phi) SWAP.

    Parameters
    ----------
    phi : float
        The kick (gamma * g_ab for an encounter).

    Returns
    -------
    ndarray, shape (4, 4)
        The unitary; symmetric in the two qubits, so the same in Qiskit's and the core's order.

    Examples
    --------
    >>> import numpy as np
    >>> np.allclose(swap_power_matrix(np.pi / 2), -1j * swap_power_matrix(0.0)[[0, 2, 1, 3]])
    True
    """
    return np.cos(phi) * np.eye(4) - 1j * np.sin(phi) * _SWAP


def vacuum_matrix(wt: float, theta: float) -> np.ndarray:
    r""":math:`\exp(+i (\omega\tau/2) B\cdot\sigma)`, the one-body vacuum propagator for
    :math:`H = -(\omega/2) B\cdot\sigma` over a step tau (wt = omega tau).

    Parameters
    ----------
    wt : float
        omega * tau, the precession angle of the step.
    theta : float
        Vacuum mixing angle; B = (-sin 2 theta, 0, cos 2 theta).

    Returns
    -------
    ndarray, shape (2, 2)
        The unitary.

    Examples
    --------
    >>> import numpy as np
    >>> np.allclose(vacuum_matrix(0.4, 0.0), np.diag(np.exp([0.2j, -0.2j])))
    True
    """
    return np.cos(wt / 2) * _I2 + 1j * np.sin(wt / 2) * _bsigma(theta)


def _ry(angle):
    c, s = np.cos(angle / 2), np.sin(angle / 2)
    return np.array([[c, -s], [s, c]], dtype=complex)


def encounter_matrix(
    phi: float, wt_a: float, wt_b: float, theta: float = 0.0, mode: str = "exact", *, order: str = "qiskit"
) -> np.ndarray:
    r"""The 4x4 unitary of one encounter.

    .. math:: U_{ab} = \exp(-i[-(\omega_a\tau/2) B\cdot\sigma_a - (\omega_b\tau/2) B\cdot\sigma_b
              + \phi\,\mathrm{SWAP}])

    for ``mode="exact"`` (closed form, no LAPACK), SWAP power then vacuum rotations for
    "split", half vacuum / SWAP power / half vacuum for "symmetric".

    Parameters
    ----------
    phi, wt_a, wt_b, theta : float
        The kick gamma * g_ab, the vacuum angles omega_a tau and omega_b tau of the step, and
        the vacuum mixing angle (as for ``EncounterGate``).
    mode : {"exact", "split", "symmetric"}
        The propagator (``MODES``).
    order : {"qiskit", "core"}
        "qiskit" (default): the matrix of a gate on ``[a, b]`` (little-endian); "core": a is
        the first Kronecker factor, as in ``oile_q.encounter.pair_propagator``.

    Returns
    -------
    ndarray, shape (4, 4)
        The unitary.

    Raises
    ------
    InputError
        For an unknown ``mode`` or ``order``; ``InputTypeError`` for an unbound parameter.

    Examples
    --------
    >>> import numpy as np
    >>> u = encounter_matrix(0.3, 0.2, -0.1, 0.1)
    >>> np.allclose(u @ u.conj().T, np.eye(4)), np.allclose(encounter_matrix(0.3, 0, 0), swap_power_matrix(0.3))
    (True, True)
    """
    if mode not in MODES:
        raise InputError(f"`mode` must be one of {list(MODES)}; got {mode!r}.")
    if order not in ("qiskit", "core"):
        raise InputError(f"`order` must be 'qiskit' or 'core'; got {order!r}.")
    u = pair_unitary(
        _float("wt_a", wt_a), _float("wt_b", wt_b), _float("phi", phi), theta=float(theta), propagator=mode
    )
    if order == "qiskit":
        u = _SWAP @ u @ _SWAP
    return u


def _as_array(matrix, dtype, copy):
    if copy is False:
        raise ValueError("unable to avoid copy while creating an array as requested")
    return np.array(matrix, dtype=dtype)


class SwapPowerGate(Gate):
    r"""The SWAP-power gate :math:`\exp(-i\phi\,\mathrm{SWAP}) = \cos\phi\,1 - i\sin\phi\,\mathrm{SWAP}`.

    One OILE encounter without vacuum terms is this gate with phi = gamma (1 - v_a.v_b)
    (docs/conventions.md: sigma.sigma = 2 SWAP - 1). Its Weyl coordinates lie on the SWAP
    line, so any phi that is not a multiple of pi needs three CNOTs; the definition is an
    exact three-CNOT template that also takes an unbound ``Parameter``.

    Parameters
    ----------
    phi : float or Parameter
        The kick gamma * g_ab.
    label : str, optional
        The label shown in drawings.

    Examples
    --------
    >>> import numpy as np
    >>> from qiskit.quantum_info import Operator
    >>> g = SwapPowerGate(0.3)
    >>> Operator(g).equiv(Operator(g.definition))
    True
    >>> np.allclose(Operator(g.power(2)), Operator(SwapPowerGate(0.6)))
    True
    """

    def __init__(self, phi: ParameterValueType, label: str | None = None) -> None:
        super().__init__("swap_pow", 2, [phi], label=label)

    def _define(self):
        p = self.params[0]
        qc = QuantumCircuit(2, global_phase=-p / 2 - np.pi / 4, name=self.name)
        qc.rz(np.pi / 2, 1)
        qc.cx(1, 0)
        qc.rz(p - np.pi / 2, 0)
        qc.ry(p - np.pi / 2, 1)
        qc.cx(0, 1)
        qc.ry(np.pi / 2 - p, 1)
        qc.cx(1, 0)
        qc.rz(-np.pi / 2, 0)
        self.definition = qc

    def inverse(self, annotated: bool = False) -> SwapPowerGate:
        """The inverse, exp(-i phi SWAP)^dagger = exp(+i phi SWAP).

        Returns
        -------
        SwapPowerGate
            The gate with -phi (whose three-CNOT definition is the same template with the
            opposite angle).
        """
        return SwapPowerGate(-self.params[0])

    def power(self, exponent: float, annotated: bool = False) -> SwapPowerGate:
        """The power exp(-i phi SWAP)^k = exp(-i k phi SWAP) (the branch continuous in phi).

        Returns
        -------
        SwapPowerGate
            The gate with k * phi.
        """
        return SwapPowerGate(exponent * self.params[0])

    def __array__(self, dtype=None, copy=None):
        return _as_array(swap_power_matrix(_float("phi", self.params[0])), dtype, copy)


class VacuumRotationGate(Gate):
    r"""One particle's vacuum precession over a step:
    :math:`\exp(+i(\omega\tau/2) B\cdot\sigma)`, a rotation by :math:`-\omega\tau` about
    B = (-sin 2 theta, 0, cos 2 theta).

    Parameters
    ----------
    wt : float or Parameter
        omega * tau, the precession angle of the step.
    theta : float or Parameter
        Vacuum mixing angle.
    label : str, optional
        The label shown in drawings.

    Examples
    --------
    >>> from qiskit.quantum_info import Operator
    >>> g = VacuumRotationGate(0.4, 0.1)
    >>> Operator(g).equiv(Operator(g.definition)), Operator(g.inverse()).equiv(Operator(g).adjoint())
    (True, True)
    """

    def __init__(self, wt: ParameterValueType, theta: ParameterValueType = 0.0, label: str | None = None) -> None:
        super().__init__("vacuum", 1, [wt, theta], label=label)

    def _define(self):
        wt, theta = self.params
        qc = QuantumCircuit(1, name=self.name)
        # R_B(alpha) = Ry(-2 theta) Rz(alpha) Ry(2 theta), alpha = -wt
        qc.ry(2 * theta, 0)
        qc.rz(-wt, 0)
        qc.ry(-2 * theta, 0)
        self.definition = qc

    def inverse(self, annotated: bool = False) -> VacuumRotationGate:
        """The inverse: the rotation by the opposite angle.

        Returns
        -------
        VacuumRotationGate
            The gate with -wt.
        """
        return VacuumRotationGate(-self.params[0], self.params[1])

    def power(self, exponent: float, annotated: bool = False) -> VacuumRotationGate:
        """The power: the rotation by ``exponent`` times the angle.

        Returns
        -------
        VacuumRotationGate
            The gate with exponent * wt.
        """
        return VacuumRotationGate(exponent * self.params[0], self.params[1])

    def __array__(self, dtype=None, copy=None):
        return _as_array(vacuum_matrix(_float("wt", self.params[0]), _float("theta", self.params[1])), dtype, copy)


class EncounterGate(Gate):
    r"""One OILE encounter of particles a (first qubit) and b (second qubit).

    Parameters
    ----------
    phi : float
        The kick gamma * g_ab.
    wt_a, wt_b : float
        omega_a tau and omega_b tau, the vacuum angles of the step.
    theta : float
        Vacuum mixing angle.
    mode : {"exact", "split", "symmetric"}
        "exact": the pair propagator (definition: the exact unitary, which the transpiler
        synthesises with three two-qubit gates); "split": SwapPowerGate then the two
        vacuum rotations (exact when wt_a = wt_b, first order otherwise); "symmetric": half
        vacuum, SWAP power, half vacuum (second order).
    label : str, optional
        The label shown in drawings (default "enc <mode>").

    Raises
    ------
    InputError
        For an unknown ``mode``. The angles are not checked here: an unbound ``Parameter`` is
        allowed until a matrix is needed.

    Examples
    --------
    >>> import numpy as np
    >>> from oile_q.encounter import pair_propagator
    >>> from qiskit.quantum_info import Operator
    >>> g = EncounterGate(0.24, 0.21, -0.12, 0.3)
    >>> u = encounter_matrix(0.24, 0.21, -0.12, 0.3, order="core")
    >>> np.allclose(u, pair_propagator(0.7, -0.4, 0.8, gamma=0.3, theta=0.3))
    True
    """

    def __init__(
        self,
        phi: ParameterValueType,
        wt_a: ParameterValueType,
        wt_b: ParameterValueType,
        theta: ParameterValueType = 0.0,
        mode: str = "exact",
        label: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise InputError(f"`mode` must be one of {list(MODES)}; got {mode!r}.")
        self.mode = mode
        super().__init__("encounter", 2, [phi, wt_a, wt_b, theta], label=label or f"enc {mode}")

    def _define(self):
        phi, wt_a, wt_b, theta = self.params
        qc = QuantumCircuit(2, name=self.name)
        if self.mode == "exact":
            from qiskit.circuit.library import UnitaryGate

            qc.append(UnitaryGate(self.to_matrix(), label="U_ab"), [0, 1])
        elif self.mode == "split":
            qc.append(SwapPowerGate(phi), [0, 1])
            qc.append(VacuumRotationGate(wt_a, theta), [0])
            qc.append(VacuumRotationGate(wt_b, theta), [1])
        else:
            qc.append(VacuumRotationGate(wt_a / 2, theta), [0])
            qc.append(VacuumRotationGate(wt_b / 2, theta), [1])
            qc.append(SwapPowerGate(phi), [0, 1])
            qc.append(VacuumRotationGate(wt_a / 2, theta), [0])
            qc.append(VacuumRotationGate(wt_b / 2, theta), [1])
        self.definition = qc

    def inverse(self, annotated: bool = False) -> Gate:
        """The inverse: an encounter with negated angles (exact and symmetric modes), else
        Qiskit's inverse of the definition ((V S)^-1 = S^-1 V^-1 is not a split encounter).

        Returns
        -------
        Gate
            The inverse gate.
        """
        if self.mode == "split":  # (V S)^-1 = S^-1 V^-1 is not a split encounter
            return super().inverse(annotated=annotated)
        phi, wt_a, wt_b, theta = self.params
        return EncounterGate(-phi, -wt_a, -wt_b, theta, self.mode)

    def power(self, exponent: float, annotated: bool = False) -> Gate:
        """The power: an exact encounter with scaled angles (exact mode), else Qiskit's power.

        Returns
        -------
        Gate
            The gate raised to ``exponent``.
        """
        if self.mode != "exact":
            return super().power(exponent, annotated=annotated)
        phi, wt_a, wt_b, theta = self.params
        return EncounterGate(exponent * phi, exponent * wt_a, exponent * wt_b, theta, "exact")

    def __array__(self, dtype=None, copy=None):
        phi, wt_a, wt_b, theta = (_float(n, v) for n, v in zip(("phi", "wt_a", "wt_b", "theta"), self.params))
        return _as_array(encounter_matrix(phi, wt_a, wt_b, theta, self.mode), dtype, copy)

    def __eq__(self, other):
        return super().__eq__(other) and getattr(other, "mode", None) == self.mode

    __hash__ = None


# --------------------------------------------------------------------------- isometry


def pure_state(P) -> np.ndarray:
    """The state vector (2,) with Bloch vector P (|P| = 1), in Qiskit's |0>, |1> basis."""
    P = np.asarray(P, dtype=float)
    pol = np.arccos(np.clip(P[2], -1.0, 1.0))
    az = np.arctan2(P[1], P[0])
    return np.array([np.cos(pol / 2), np.exp(1j * az) * np.sin(pol / 2)])


_YY = np.kron(_Y, _Y)


def _im_trace_gamma(W):
    """Im tr(gamma(W)) for W scaled into SU(4): zero iff W needs at most 2 CNOTs
    (Shende, Bullock & Markov, PRA 70, 012310 (2004))."""
    W = W / np.linalg.det(W) ** 0.25
    return float(np.trace(W @ _YY @ W.T @ _YY).imag)


def _channel_choi(W_core):
    """Choi matrix of rho_a -> Tr_b[W (rho_a x |0><0|) W^dag], W with a first."""
    V = W_core[:, [0, 2]].reshape(2, 2, 2)  # (a_out, b_out, a_in)
    return np.einsum("abi,cbj->iajc", V, V.conj()).reshape(4, 4)


@functools.lru_cache(maxsize=4096)
def _isometry_solution(phi, wt_a, wt_b, theta, qx, qy, qz):
    """W (Qiskit order), its 2-CNOT circuit and the Choi error against the exact channel."""
    from qiskit.circuit.library import CXGate
    from qiskit.quantum_info import Operator
    from qiskit.synthesis import TwoQubitBasisDecomposer
    from scipy.optimize import brentq

    U = encounter_matrix(phi, wt_a, wt_b, theta, "exact", order="core")
    q = pure_state((qx, qy, qz))
    qperp = np.array([-np.conj(q[1]), np.conj(q[0])])
    Rq = np.column_stack([q, qperp])  # |0> -> |q>
    U1 = U @ np.kron(_I2, Rq)
    target = _channel_choi(U1)
    P0 = np.diag([1.0, 0.0])
    P1 = np.diag([0.0, 1.0])

    # The completion W = U (1 x R_q) C_M with C_M = 1 x |0><0| + M x |1><1| acts like
    # U (1 x R_q) on every input with b in |0>; choose M = Ry(alpha) so that W needs 2 CNOTs.
    def W_of(alpha):
        return U1 @ (np.kron(_I2, P0) + np.kron(_ry(alpha), P1))

    def f(alpha):
        return _im_trace_gamma(W_of(alpha))

    grid = np.linspace(0.0, 2 * np.pi, 49)
    vals = np.array([f(a) for a in grid])
    roots = [a for a, v in zip(grid, vals) if abs(v) < 1e-14]
    for i in range(grid.size - 1):
        if vals[i] * vals[i + 1] < 0:
            roots.append(brentq(f, grid[i], grid[i + 1], xtol=1e-15, maxiter=200))
    decomposer = TwoQubitBasisDecomposer(CXGate())
    best = None
    for alpha in roots:
        Wq = _SWAP @ W_of(alpha) @ _SWAP
        circ = decomposer(Wq, _num_basis_uses=2)
        Wc = _SWAP @ Operator(circ).data @ _SWAP
        err = float(np.abs(_channel_choi(Wc) - target).max())
        if best is None or err < best[2]:
            best = (Wq, circ, err)
        if err < 1e-14:
            break
    if best is None or best[2] > 1e-10:
        got = "no root" if best is None else f"channel error {best[2]:.2g}"
        raise RuntimeError(f"two-CNOT isometry synthesis failed ({got}) for phi={phi}, wt=({wt_a}, {wt_b}).")
    return best


class EncounterIsometryGate(Gate):
    r"""The ``exact`` encounter with a fresh partner in the pure state Q, as a two-CNOT gate.

    With the partner qubit (second qubit) in |0> on input and traced out afterwards,

    .. math:: \mathrm{Tr}_b[W(\rho_a\otimes|0\rangle\langle0|)W^\dagger]
              = \mathrm{Tr}_b[U_{ab}(\rho_a\otimes|Q\rangle\langle Q|)U_{ab}^\dagger],

    so preparing Q and the encounter are one isometry from a to (a, b). W is U_ab (1 x R_Q)
    completed on the b = |1> inputs by a controlled rotation chosen (by a one-dimensional
    root search on the Shende-Bullock-Markov invariant) so that W needs only two CNOTs
    instead of three. Construction checks the channel to 1e-10 (it is ~1e-14 in practice).
    On any other partner input the gate is not the encounter.

    Parameters
    ----------
    phi, wt_a, wt_b, theta : float
        The encounter's kick, vacuum angles and mixing angle, as for ``EncounterGate``.
    Q : array_like, shape (3,)
        The partner's pure Bloch vector (|Q| = 1).
    label : str, optional
        The label shown in drawings (default "enc iso").

    Raises
    ------
    InputError
        When Q is not a pure Bloch vector.
    RuntimeError
        When the two-CNOT synthesis fails (at definition or matrix time; not seen in practice).

    Examples
    --------
    >>> g = EncounterIsometryGate(0.24, 0.21, -0.12, 0.3, [0.6, 0.0, 0.8])
    >>> g.definition.count_ops()["cx"]
    2
    """

    def __init__(
        self, phi: float, wt_a: float, wt_b: float, theta: float, Q: ArrayLike, label: str | None = None
    ) -> None:
        Q = np.asarray(Q, dtype=float)
        if Q.shape != (3,) or abs(np.linalg.norm(Q) - 1.0) > 1e-9:
            raise InputError(f"`Q` must be a pure Bloch vector (|Q| = 1) for the isometry; got {Q.tolist()}.")
        Q = Q / np.linalg.norm(Q)
        params = [float(phi), float(wt_a), float(wt_b), float(theta), *map(float, Q)]
        super().__init__("encounter_iso", 2, params, label=label or "enc iso")

    def _solution(self):
        return _isometry_solution(*(float(p) for p in self.params))

    def _define(self):
        circ = self._solution()[1]
        qc = QuantumCircuit(2, global_phase=circ.global_phase, name=self.name)
        qc.compose(circ, inplace=True)
        self.definition = qc

    def __array__(self, dtype=None, copy=None):
        return _as_array(self._solution()[0], dtype, copy)
