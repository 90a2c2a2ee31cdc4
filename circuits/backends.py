"""Backends: exact Aer, Aer with shots or a device noise model, fake IBM backends in the
runtime's local testing mode, IBM hardware; Bloch vectors from counts; transpile statistics.

Backend names (``resolve_backend``):

* ``"aer"``: exact density-matrix simulation (statevector when the circuit has no reset),
  Bloch vectors read from saved density matrices;
* ``"aer-shots"``: Aer's density-matrix method with shots, Bloch vectors from X/Y/Z
  measurements (the statevector method would re-simulate every shot);
* ``"aer-noise:fake_<name>"``: ``AerSimulator.from_backend`` of a fake device (its noise
  model), circuits transpiled to the device's ISA;
* ``"fake_<name>"``: a fake IBM backend of ``qiskit_ibm_runtime.fake_provider``, run through
  the executor-based ``qiskit_ibm_runtime.executor_sampler.Sampler`` in local testing mode;
* ``"ibm:<name>"``: IBM hardware through ``QiskitRuntimeService()`` (saved account or
  environment), the same Sampler code path; job ids are kept for ``fetch``;
* a Qiskit backend object (an ``AerSimulator``, a fake backend, an ``IBMBackend``).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from oile_q.errors import InputError, InputTypeError

if TYPE_CHECKING:
    from qiskit.providers import BackendV2

__all__ = [
    "BackendChoice",
    "resolve_backend",
    "fake_backend_names",
    "fake_backend",
    "supports_reset",
    "bloch_from_counts",
    "expval_from_counts",
    "restrict_noise_model",
    "ibm_service",
    "run_exact",
    "run_counts",
    "runtime_sampler",
    "AER_DM_MAX_QUBITS",
    "AER_SV_MAX_QUBITS",
]

AER_DM_MAX_QUBITS = 13  # 4^13 * 16 B = 1 GB per density matrix
AER_SV_MAX_QUBITS = 26  # 2^26 * 16 B = 1 GB per state vector


@dataclass
class BackendChoice:
    """A resolved backend request.

    kind: "aer" (exact), "aer-shots", "aer-noise", "fake", "ibm" or "object".
    """

    name: str
    kind: str
    backend: object = None
    service: object = None

    @property
    def exact(self) -> bool:
        return self.kind == "aer"

    @property
    def num_qubits(self):
        if self.kind in ("aer", "aer-shots"):
            return None
        return getattr(self.backend, "num_qubits", None)

    @property
    def reset_supported(self) -> bool:
        if self.kind in ("aer", "aer-shots"):
            return True
        return supports_reset(self.backend)

    @property
    def needs_isa(self) -> bool:
        """Whether circuits are transpiled to the backend's ISA before running."""
        return self.kind in ("aer-noise", "fake", "ibm", "object") and not _is_plain_aer(self.backend)


def _is_plain_aer(backend) -> bool:
    from qiskit_aer import AerSimulator

    return isinstance(backend, AerSimulator) and backend.options.noise_model is None


def supports_reset(backend) -> bool:
    target = getattr(backend, "target", None)
    if target is None:
        return True
    return "reset" in target.operation_names


def _runtime(spec):
    """qiskit-ibm-runtime is an optional extra: fake devices and IBM hardware need it."""
    try:
        import qiskit_ibm_runtime  # noqa: F401
    except ImportError as err:
        raise InputError(
            f"`backend` {spec!r} needs qiskit-ibm-runtime, which cannot be imported here "
            f"(pip install 'oile-q[ibm]'): {err}."
        ) from err


@functools.lru_cache(maxsize=1)
def _fake_classes() -> dict:
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    out = {}
    for attr in dir(fake_provider):
        cls = getattr(fake_provider, attr)
        if isinstance(cls, type) and issubclass(cls, FakeBackendV2) and attr.startswith("Fake"):
            stem = re.sub(r"V2$", "", attr[4:])
            if not stem or stem in ("Backend",):
                continue
            out["fake_" + stem.lower()] = cls
    return out


def fake_backend_names() -> list[str]:
    """Names accepted as ``backend="fake_<name>"`` (lower case, e.g. "fake_sherbrooke").

    Returns
    -------
    list of str
        The fake IBM backends of ``qiskit_ibm_runtime.fake_provider``, sorted.

    Raises
    ------
    ImportError
        Without qiskit-ibm-runtime (the ``ibm`` extra).

    Examples
    --------
    >>> names = fake_backend_names()
    >>> "fake_manila" in names and "fake_sherbrooke" in names
    True
    """
    return sorted(_fake_classes())


def fake_backend(name: str) -> BackendV2:
    """A fresh fake IBM backend by name ("fake_manila", "fake_sherbrooke", ...).

    Parameters
    ----------
    name : str
        One of ``fake_backend_names()`` (case-insensitive).

    Returns
    -------
    FakeBackendV2
        A new instance (its own calibration snapshot, no shared state).

    Raises
    ------
    InputError
        For a name that is not a fake backend (close names are suggested).

    Examples
    --------
    >>> fake_backend("fake_manila").num_qubits
    5
    """
    classes = _fake_classes()
    key = name.lower()
    if key not in classes:
        close = [n for n in classes if n.startswith(key[:7])][:5]
        hint = f" (close: {', '.join(close)})" if close and key != "fake_" else ""
        raise InputError(
            f"`backend` {name!r} is not a fake IBM backend of qiskit_ibm_runtime.fake_provider{hint}; "
            f"expected one of {len(classes)} names such as 'fake_manila' or 'fake_sherbrooke'."
        )
    return classes[key]()


def _active(circuits):
    used = set()
    for qc in circuits:
        for inst in qc.data:
            if inst.operation.name != "barrier":
                used.update(qc.find_bit(q).index for q in inst.qubits)
    return used


def restrict_noise_model(sim, circuits):
    """``sim`` with its noise model cut down to the qubits the circuits use.

    Aer converts the whole noise model at every ``run`` call, whatever the circuits, so the
    cost of a run on a large device grows with the device's qubits. The errors of the used
    qubits are kept unchanged (the counts are identical, checked by a test), so a run of small
    circuits costs what it would on a small device. Falls back to ``sim`` if the noise model's
    layout is not the one known here.
    """
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel

    nm = sim.options.noise_model
    try:
        local, readout = nm._local_quantum_errors, nm._local_readout_errors
        default_q, default_r, passes = nm._default_quantum_errors, nm._default_readout_error, nm._custom_noise_passes
    except AttributeError:
        return sim
    if default_q or default_r is not None:
        return sim  # errors on every qubit: nothing to cut
    keep = _active(circuits)
    out = NoiseModel(basis_gates=nm.basis_gates)
    for name, errors in local.items():
        for qubits, err in errors.items():
            if set(qubits) <= keep:
                out.add_quantum_error(err, name, qubits, warnings=False)
    for qubits, err in readout.items():
        if set(qubits) <= keep:
            out.add_readout_error(err, qubits, warnings=False)
    out._custom_noise_passes = list(passes)  # thermal relaxation of delays (all qubits' T1, T2)
    return AerSimulator(noise_model=out)


@functools.lru_cache(maxsize=4)
def _noise_simulator(name: str):
    """``AerSimulator.from_backend`` of a fake device, built once per process (building it
    converts every qubit's errors, which is slow for large devices); runs pass their options
    to ``run``, never to the simulator."""
    from qiskit_aer import AerSimulator

    return AerSimulator.from_backend(fake_backend(name))


def ibm_service():
    """QiskitRuntimeService from the user's saved account or environment variables.

    Raises ValueError (without any credential in the message) when none can be loaded.
    """
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        return QiskitRuntimeService()
    except Exception as err:  # account errors, missing network: one clear line, no secrets
        raise InputError(
            "IBM hardware needs a saved IBM Quantum account (QiskitRuntimeService.save_account(...)) "
            "or QISKIT_IBM_TOKEN and QISKIT_IBM_INSTANCE in the environment; "
            f"none could be used here ({type(err).__name__})."
        ) from None


def resolve_backend(spec: str | BackendV2 | None) -> BackendChoice:
    """Turn a backend name or object into a ``BackendChoice`` (see the module docstring).

    Parameters
    ----------
    spec : str, BackendV2 or None
        "aer" (None means the same), "aer-shots", "aer-noise:fake_<name>", "fake_<name>",
        "ibm:<name>", or a Qiskit backend object.

    Returns
    -------
    BackendChoice
        The name, kind and backend object (and the IBM service for "ibm:").

    Raises
    ------
    InputError
        For an unknown name, a missing qiskit-ibm-runtime, or an IBM account or device that
        cannot be reached; ``InputTypeError`` for an object that is not a backend.

    Examples
    --------
    >>> choice = resolve_backend("aer")
    >>> choice.kind, choice.exact, choice.needs_isa
    ('aer', True, False)
    >>> resolve_backend("fake_manila").num_qubits
    5
    """
    if spec is None:
        spec = "aer"
    if not isinstance(spec, str):
        from qiskit.providers import BackendV2

        if not isinstance(spec, BackendV2):
            raise InputTypeError(f"`backend` must be a name or a Qiskit BackendV2 object; got {type(spec).__name__}.")
        try:
            from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2
        except ImportError:
            FakeBackendV2 = ()
        if FakeBackendV2 and isinstance(spec, FakeBackendV2):
            return BackendChoice(spec.name, "fake", spec)
        try:
            from qiskit_ibm_runtime import IBMBackend

            if isinstance(spec, IBMBackend):
                return BackendChoice(f"ibm:{spec.name}", "ibm", spec)
        except ImportError:  # pragma: no cover
            pass
        return BackendChoice(getattr(spec, "name", type(spec).__name__), "object", spec)
    if spec == "aer":
        return BackendChoice("aer", "aer")
    if spec == "aer-shots":
        return BackendChoice("aer-shots", "aer-shots")
    if spec.startswith(("aer-noise:", "fake_", "ibm:", "ibm_")):
        _runtime(spec)
    if spec.startswith("aer-noise:"):
        return BackendChoice(spec, "aer-noise", _noise_simulator(spec.split(":", 1)[1].lower()))
    if spec.startswith("fake_"):
        return BackendChoice(spec.lower(), "fake", fake_backend(spec))
    if spec.startswith("ibm:") or spec.startswith("ibm_"):
        name = spec.split(":", 1)[1] if spec.startswith("ibm:") else spec
        if not name:
            raise InputError("`backend` 'ibm:' needs a device name, e.g. 'ibm:ibm_brisbane'.")
        service = ibm_service()
        try:
            backend = service.backend(name)
        except Exception as err:
            raise InputError(
                f"`backend` {spec!r}: the IBM service has no backend {name!r} for this account ({type(err).__name__})."
            ) from None
        return BackendChoice(f"ibm:{name}", "ibm", backend, service)
    raise InputError(
        f"`backend` must be 'aer', 'aer-shots', 'aer-noise:fake_<name>', 'fake_<name>', 'ibm:<name>' "
        f"or a Qiskit backend; got {spec!r}."
    )


# --------------------------------------------------------------------------- counts -> Bloch


def expval_from_counts(counts, nbits):
    """<Z> of every bit (bit j of the register is qubit j's outcome) and its binomial
    standard error sqrt((1 - <Z>^2)/shots) from one counts dict."""
    v = np.zeros(nbits)
    total = 0
    for key, cnt in counts.items():
        bits = key.replace(" ", "")
        total += cnt
        for j in range(nbits):
            v[j] += cnt if bits[-1 - j] == "0" else -cnt
    if total <= 0:
        raise RuntimeError("empty counts: the backend returned no shots.")
    v /= total
    return v, np.sqrt(np.clip(1.0 - v**2, 0.0, None) / total)


def bloch_from_counts(counts_xyz: Sequence[Mapping[str, int]], nbits: int, shots: int) -> tuple[np.ndarray, np.ndarray]:
    """Bloch vectors and standard errors from counts of the X, Y, Z measurements.

    Parameters
    ----------
    counts_xyz : sequence of three dicts
        Bitstring -> count of the X, Y and Z measurements; bit j of the register (the j-th
        character from the right) is qubit j's outcome.
    nbits : int
        Bits of the register.
    shots : int
        Shots per basis (for the standard error).

    Returns
    -------
    P : ndarray, shape (nbits, 3)
        P_i = <sigma_i> = (n0 - n1) / total counts.
    stderr : ndarray, shape (nbits, 3)
        sqrt((1 - P_i^2) / shots), the binomial standard error.

    Raises
    ------
    RuntimeError
        When a counts dict is empty.

    Examples
    --------
    >>> P, err = bloch_from_counts([{"0": 50, "1": 50}, {"0": 100}, {"1": 100}], 1, 100)
    >>> P.tolist(), err.tolist()
    ([[0.0, 1.0, -1.0]], [[0.1, 0.0, 0.0]])
    """
    P = np.zeros((nbits, 3))
    for c, counts in enumerate(counts_xyz):
        P[:, c] = expval_from_counts(counts, nbits)[0]
    err = np.sqrt(np.clip(1.0 - P**2, 0.0, None) / shots)  # shots per basis
    return P, err


# --------------------------------------------------------------------------- running


def run_exact(circuits, *, method):
    """Run save-instruction circuits on Aer (exact); returns one data dict per circuit."""
    from qiskit_aer import AerSimulator

    sim = AerSimulator(method=method)
    res = sim.run(circuits).result()
    if not res.success:
        raise RuntimeError(f"Aer failed: {res.status}")
    return [res.data(i) for i in range(len(circuits))]


def runtime_sampler(choice: BackendChoice, *, seed=None, service_options=None):
    """The Runtime ``Sampler`` for a fake or IBM backend, with ``service_options`` (e.g.
    {"twirling": {...}, "dynamical_decoupling": {...}}) set for IBM hardware. In local testing
    mode (fake backends) service options have no effect -- and gate twirling there returns the
    outcomes of one randomization only (qiskit-ibm-runtime 0.51) -- so they are not set."""
    from qiskit_ibm_runtime.executor_sampler import Sampler

    sampler = Sampler(mode=choice.backend)
    if seed is not None:
        sampler.options.simulator.seed_simulator = int(seed)
    if choice.kind == "ibm" and _is_ibm_hardware(choice.backend):
        for group, values in (service_options or {}).items():
            for key, value in values.items():
                setattr(getattr(sampler.options, group), key, value)
    return sampler


def _is_ibm_hardware(backend) -> bool:
    try:
        from qiskit_ibm_runtime import IBMBackend
    except ImportError:  # pragma: no cover
        return False
    return isinstance(backend, IBMBackend)


def run_counts(
    choice: BackendChoice, circuits, *, shots: int, seed=None, on_submit=None, job_ids=None, service_options=None
):
    """Counts of measured circuits (register "c") on a shot-based backend.

    Returns (list of counts dicts, list of job ids). ``job_ids`` fetches finished IBM jobs
    instead of submitting (the circuits must then be the same, in the same order).
    ``service_options``: Runtime sampler options for IBM hardware (``runtime_sampler``).
    """
    from qiskit_aer import AerSimulator

    if choice.kind in ("aer-shots", "aer-noise") or (
        choice.kind == "object" and isinstance(choice.backend, AerSimulator)
    ):
        if choice.kind == "aer-shots":
            sim = AerSimulator(method="density_matrix")
        else:
            sim = restrict_noise_model(choice.backend, circuits)
        opts = {"shots": shots}
        if seed is not None:
            opts["seed_simulator"] = seed
        res = sim.run(circuits, **opts).result()
        if not res.success:
            raise RuntimeError(f"Aer failed: {res.status}")
        return [res.get_counts(i) for i in range(len(circuits))], []
    if job_ids:
        if choice.service is None:
            raise InputError("`job_ids` can only be fetched from IBM hardware backends ('ibm:<name>').")
        results = []
        for jid in job_ids:
            try:
                job = choice.service.job(jid)
            except Exception as err:
                raise InputError(
                    f"`job_ids`: the IBM service has no job {jid!r} for this account ({type(err).__name__})."
                ) from None
            pubs = list(job.result())
            if not all(hasattr(r, "data") and hasattr(r.data, "c") for r in pubs):
                raise InputError(
                    f"`job_ids`: job {jid!r} did not return Sampler results with register 'c' "
                    "(was it submitted by oile-q circuit?)."
                )
            results.extend(pubs)
        if len(results) != len(circuits):
            raise InputError(
                f"`job_ids` hold {len(results)} results; this run expects {len(circuits)} "
                "(same scenario, steps, times and options as the submitted run?)."
            )
        return [r.data.c.get_counts() for r in results], list(job_ids)
    sampler = runtime_sampler(choice, seed=seed, service_options=service_options)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*have no effect in local testing mode.*")
        job = sampler.run(circuits, shots=shots)
        jid = job.job_id()
        if on_submit is not None and choice.kind == "ibm":
            on_submit([jid])
        result = job.result()
    return [r.data.c.get_counts() for r in result], [jid]
