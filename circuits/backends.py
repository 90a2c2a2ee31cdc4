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
from dataclasses import dataclass

import numpy as np

from oile_q.errors import InputError, InputTypeError

__all__ = [
    "BackendChoice",
    "resolve_backend",
    "fake_backend_names",
    "fake_backend",
    "supports_reset",
    "bloch_from_counts",
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
        raise InputError(f"`backend` {spec!r} needs qiskit-ibm-runtime, which cannot be imported here "
                         f"(pip install 'oile-q[ibm]'): {err}.") from err


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
    """Names accepted as ``backend="fake_<name>"`` (lower case, e.g. "fake_sherbrooke")."""
    return sorted(_fake_classes())


def fake_backend(name: str):
    """A fresh fake IBM backend by name ("fake_manila", "fake_sherbrooke", ...)."""
    classes = _fake_classes()
    key = name.lower()
    if key not in classes:
        close = [n for n in classes if n.startswith(key[:7])][:5]
        hint = f" (close: {', '.join(close)})" if close and key != "fake_" else ""
        raise InputError(
            f"`backend` {name!r} is not a fake IBM backend of qiskit_ibm_runtime.fake_provider{hint}; "
            f"expected one of {len(classes)} names such as 'fake_manila' or 'fake_sherbrooke'.")
    return classes[key]()


def _ibm_service():
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


def resolve_backend(spec) -> BackendChoice:
    """Turn a backend name or object into a ``BackendChoice`` (see the module docstring)."""
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
        from qiskit_aer import AerSimulator

        device = fake_backend(spec.split(":", 1)[1])
        return BackendChoice(spec, "aer-noise", AerSimulator.from_backend(device))
    if spec.startswith("fake_"):
        return BackendChoice(spec.lower(), "fake", fake_backend(spec))
    if spec.startswith("ibm:") or spec.startswith("ibm_"):
        name = spec.split(":", 1)[1] if spec.startswith("ibm:") else spec
        if not name:
            raise InputError("`backend` 'ibm:' needs a device name, e.g. 'ibm:ibm_brisbane'.")
        service = _ibm_service()
        try:
            backend = service.backend(name)
        except Exception as err:
            raise InputError(f"`backend` {spec!r}: the IBM service has no backend {name!r} for this account "
                             f"({type(err).__name__}).") from None
        return BackendChoice(f"ibm:{name}", "ibm", backend, service)
    raise InputError(
        f"`backend` must be 'aer', 'aer-shots', 'aer-noise:fake_<name>', 'fake_<name>', 'ibm:<name>' "
        f"or a Qiskit backend; got {spec!r}.")


# --------------------------------------------------------------------------- counts -> Bloch


def bloch_from_counts(counts_xyz, nbits: int, shots: int):
    """Bloch vectors and standard errors from counts of the X, Y, Z measurements.

    counts_xyz: three dicts (bitstring -> count), bit j of the register is qubit j's
    outcome. Returns (P, stderr), each (nbits, 3); P_i = <sigma_i> = (n0 - n1)/shots,
    stderr = sqrt((1 - P_i^2)/shots) (binomial).
    """
    P = np.zeros((nbits, 3))
    for c, counts in enumerate(counts_xyz):
        total = 0
        acc = np.zeros(nbits)
        for key, cnt in counts.items():
            bits = key.replace(" ", "")
            total += cnt
            for j in range(nbits):
                acc[j] += cnt if bits[-1 - j] == "0" else -cnt
        if total <= 0:
            raise RuntimeError("empty counts: the backend returned no shots.")
        P[:, c] = acc / total
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


def run_counts(choice: BackendChoice, circuits, *, shots, seed=None, on_submit=None,
               job_ids=None, service_options=None):
    """Counts of measured circuits (register "c") on a shot-based backend.

    shots: one number for all circuits, or one per circuit. Returns (list of counts dicts,
    list of job ids). ``job_ids`` fetches finished IBM jobs instead of submitting (the circuits
    must then be the same, in the same order). ``service_options``: Runtime sampler options
    (e.g. {"twirling": {...}, "dynamical_decoupling": {...}}) set before an IBM submission;
    in local testing mode they have no effect and are not set.
    """
    from qiskit_aer import AerSimulator

    per = [int(shots)] * len(circuits) if np.ndim(shots) == 0 else [int(s) for s in shots]
    if len(per) != len(circuits):
        raise ValueError(f"{len(per)} shot counts for {len(circuits)} circuits")

    if choice.kind in ("aer-shots", "aer-noise") or (choice.kind == "object" and isinstance(choice.backend, AerSimulator)):
        if choice.kind == "aer-shots":
            sim = AerSimulator(method="density_matrix")
        else:
            sim = choice.backend
        out = [None] * len(circuits)
        for g, value in enumerate(sorted(set(per))):  # Aer takes one shot count per call
            idx = [i for i, s in enumerate(per) if s == value]
            opts = {"shots": value}
            if seed is not None:
                opts["seed_simulator"] = seed + g
            res = sim.run([circuits[i] for i in idx], **opts).result()
            if not res.success:
                raise RuntimeError(f"Aer failed: {res.status}")
            for j, i in enumerate(idx):
                out[i] = res.get_counts(j)
        return out, []
    if job_ids:
        if choice.service is None:
            raise InputError("`job_ids` can only be fetched from IBM hardware backends ('ibm:<name>').")
        results = []
        for jid in job_ids:
            try:
                job = choice.service.job(jid)
            except Exception as err:
                raise InputError(f"`job_ids`: the IBM service has no job {jid!r} for this account "
                                 f"({type(err).__name__}).") from None
            pubs = list(job.result())
            if not all(hasattr(r, "data") and hasattr(r.data, "c") for r in pubs):
                raise InputError(f"`job_ids`: job {jid!r} did not return Sampler results with register 'c' "
                                 "(was it submitted by oile-q circuit?).")
            results.extend(pubs)
        if len(results) != len(circuits):
            raise InputError(f"`job_ids` hold {len(results)} results; this run expects {len(circuits)} "
                             "(same scenario, steps, times and options as the submitted run?).")
        return [r.data.c.get_counts() for r in results], list(job_ids)
    from qiskit_ibm_runtime.executor_sampler import Sampler

    sampler = Sampler(mode=choice.backend)
    if seed is not None:
        sampler.options.simulator.seed_simulator = int(seed)
    if choice.kind == "ibm":
        for group, values in (service_options or {}).items():
            for key, value in values.items():
                setattr(getattr(sampler.options, group), key, value)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*have no effect in local testing mode.*")
        job = sampler.run([(c, None, s) for c, s in zip(circuits, per)])
        jid = job.job_id()
        if on_submit is not None and choice.kind == "ibm":
            on_submit([jid])
        result = job.result()
    return [r.data.c.get_counts() for r in result], [jid]
