"""The circuit engine's options: their declarations and checks, and what a request's options mean.

``OPTIONS`` is what ``CircuitEngine.options`` declares (the command line's ``--backend``,
``--shots``, ``--compile``, ... are generated from it). The checks here look at one value
each; the checks that combine options with each other or with the backend are in
``planning``. ``mitigation_of`` reads the mitigation settings of validated options, and
``recorded_options`` chooses what a result records. Nothing here imports Qiskit: declaring the
engine (``oile-q engines``) must stay light.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

from oile_q.engine import Option
from oile_q.errors import InputError, InputTypeError, check_int, describe

from .mitigation import DD_SEQUENCES, FITS, Mitigation, parse_methods, parse_scales
from .modes import COMPILE_MODES

__all__ = ["OPTIONS", "DEFAULT_SHOTS", "DEFAULT_MAX_ENCOUNTERS", "mitigation_of", "recorded_options"]

DEFAULT_SHOTS = 4000
DEFAULT_MAX_ENCOUNTERS = 1023  # a light-cone tree of 10 steps


def _shots(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise InputError(f"`shots` must be a positive integer; got {describe(value)}.")
    return int(value)


def _particles(value):
    if isinstance(value, (numbers.Integral, str)) or not hasattr(value, "__iter__"):
        raise InputTypeError(f"`particles` must be a list of particle indices; got {describe(value)}.")
    out = [check_int("particles[]", i, low=0) for i in value]
    if not out:
        raise InputError("`particles` must name at least one particle; got an empty list.")
    return out


def _level(value):
    if value > 3:
        raise InputError(f"`optimization_level` must be 0, 1, 2 or 3; got {value}.")
    return value


def _job_ids(value):
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (bytes, numbers.Number)) or not hasattr(value, "__iter__"):
        raise InputTypeError(f"`job_ids` must be a list of job id strings; got {describe(value)}.")
    value = [str(j) for j in value]
    if not value or any(not j for j in value):
        raise InputError("`job_ids` must be a non-empty list of job id strings.")
    return value


def _callable(value):
    if not callable(value):
        raise InputTypeError(f"`on_submit` must be callable; got {describe(value)}.")
    return value


def _layout(value):
    if isinstance(value, str):
        if value not in ("auto", "transpiler"):
            raise InputError(f"`layout` must be 'auto', 'transpiler' or a list of physical qubits; got {value!r}.")
        return value
    if isinstance(value, (bytes, numbers.Number)) or not hasattr(value, "__iter__"):
        raise InputTypeError(
            f"`layout` must be 'auto', 'transpiler' or a list of physical qubits; got {describe(value)}."
        )
    out = [check_int("layout[]", q, low=0) for q in value]
    if len(set(out)) != len(out):
        raise InputError(f"`layout` must list distinct physical qubits; got {out}.")
    return out


def _methods(value):
    parse_methods(value)
    return value


def _scales(value):
    return list(parse_scales(value))


def _choice(name, doc, choices, **kwargs):
    return Option(name, doc, kind="choice", choices=choices, **kwargs)


OPTIONS = (
    Option(
        "backend",
        "aer (exact density matrix), aer-shots, aer-noise:fake_<name>, fake_<name>, "
        "ibm:<name>, or a Qiskit backend object",
        default="aer",
    ),
    Option("shots", "shots per circuit and Pauli basis (shot backends; default 4000)", check=_shots),
    _choice(
        "compile",
        "how an encounter is compiled: exact, split, symmetric, or isometry (two CNOTs, fresh pure partners)",
        COMPILE_MODES,
        default="exact",
    ),
    _choice(
        "circuit",
        "tree (light-cone tree, exactly OILE; ensembles' default), closed (all N qubits, no tracing) or foreground",
        ("tree", "closed", "foreground"),
    ),
    Option(
        "reset",
        "foreground: reset and re-prepare one partner qubit (True) or a fresh qubit per encounter",
        default=True,
        kind="bool",
    ),
    Option("particles", "tree circuit: the particles to compute (default all; the others are NaN)", check=_particles),
    Option("seed_simulator", "seed of the shot sampling", kind="int", low=0),
    Option("seed_transpiler", "seed of the transpiler", default=0, kind="int", low=0),
    Option(
        "optimization_level",
        "preset pass manager level for device backends",
        default=3,
        kind="int",
        low=0,
        check=_level,
    ),
    Option(
        "max_encounters",
        "refuse light-cone trees with more encounters per particle",
        default=DEFAULT_MAX_ENCOUNTERS,
        kind="int",
        low=1,
    ),
    Option(
        "reference",
        "on non-exact backends also compute the ideal Bloch vectors (P_ideal) on exact Aer",
        default=True,
        kind="bool",
    ),
    Option(
        "layout",
        "device backends: physical qubits -- auto (the best chain by the backend's reported "
        "errors), transpiler (Qiskit's own), or a list",
        default="auto",
        check=_layout,
    ),
    Option(
        "mitigate",
        "shot backends: error mitigation, comma-separated from readout (M3), zne (folded "
        "encounters), twirl (Pauli twirling), dd (dynamical decoupling); all; none",
        default="none",
        check=_methods,
    ),
    Option("zne_scales", "ZNE noise scales (odd integers, from 1)", default=[1, 3, 5], check=_scales),
    _choice("zne_fit", "ZNE extrapolation to zero noise", FITS, default="richardson"),
    Option("twirls", "Pauli-twirled copies per circuit (the shots are split over them)", default=16, kind="int", low=1),
    _choice(
        "dd_sequence", "dynamical-decoupling sequence (XpXm and XY4: IBM service only)", DD_SEQUENCES, default="XX"
    ),
    Option("readout_shots", "shots per readout-calibration state (all 0, all 1)", default=10000, kind="int", low=1),
    Option(
        "idle_noise",
        "device backends: schedule the circuits and pad idle qubits with delays, so a noise "
        "model applies relaxation while they wait (as a device does)",
        default=False,
        kind="bool",
    ),
    Option("job_ids", "IBM hardware: fetch these finished jobs instead of submitting", check=_job_ids, record=False),
    Option(
        "on_submit",
        "called with the job ids right after an IBM submission",
        check=_callable,
        record=False,
        affects_result=False,
        cli=False,
    ),
)


def mitigation_of(options: Mapping) -> Mitigation:
    """The ``Mitigation`` that a circuit-engine request's options ask for.

    Parameters
    ----------
    options : Mapping
        Validated options of the circuit engine (``Request.options``: every option present,
        defaults filled in).

    Returns
    -------
    Mitigation
        The methods, ZNE scales and fit, twirls, decoupling sequence, readout shots and
        whether idle noise is scheduled.

    Raises
    ------
    InputError
        When ``mitigate`` or ``zne_scales`` is not valid (validated options always are).

    Examples
    --------
    >>> opts = {o.name: o.default for o in OPTIONS} | {"mitigate": "zne,readout"}
    >>> mitigation_of(opts).methods, mitigation_of(opts).zne_scales
    (('readout', 'zne'), (1, 3, 5))
    """
    return Mitigation(
        methods=parse_methods(options["mitigate"]),
        scales=parse_scales(options["zne_scales"]),
        fit=options["zne_fit"],
        twirls=options["twirls"],
        dd_sequence=options["dd_sequence"],
        readout_shots=options["readout_shots"],
        idle_noise=options["idle_noise"],
    )


def recorded_options(
    options: Mapping, *, backend: str, circuit: str, needs_isa: bool, shots: int | None, seed_simulator: int | None
) -> dict:
    """The options a circuit result records, so that the file re-runs as it ran.

    Every recordable option that is set, with the backend's resolved name and the circuit kind,
    the shots and simulator seed actually used (drawn ones included), and without the options
    that had no effect on this run (mitigation settings of methods not asked for, ``layout``
    and ``idle_noise`` off a device, ``reset`` off the foreground model).

    Parameters
    ----------
    options : Mapping
        Validated options of the request.
    backend : str
        The resolved backend name (``BackendChoice.name``).
    circuit : str
        The circuit kind: "foreground", "tree" or "closed".
    needs_isa : bool
        Whether the circuits ran on a device's ISA (``BackendChoice.needs_isa``).
    shots : int or None
        Shots per circuit and basis, None on exact Aer.
    seed_simulator : int or None
        The seed of the shot sampling that was used.

    Returns
    -------
    dict
        Option name -> value.

    Examples
    --------
    >>> opts = {o.name: o.default for o in OPTIONS}
    >>> rec = recorded_options(opts, backend="aer", circuit="tree", needs_isa=False, shots=None, seed_simulator=None)
    >>> sorted(rec)
    ['backend', 'circuit', 'compile', 'max_encounters', 'optimization_level', 'reference', 'seed_transpiler']
    """
    recordable = {o.name for o in OPTIONS if o.record}
    recorded = {k: v for k, v in options.items() if v is not None and k in recordable}
    recorded.update(backend=backend, circuit=circuit)
    mit = mitigation_of(options)
    unused = {
        "zne_scales": mit.zne,
        "zne_fit": mit.zne,
        "twirls": mit.twirl,
        "dd_sequence": mit.dd,
        "readout_shots": mit.readout,
        "mitigate": bool(mit.methods),
        "idle_noise": needs_isa,
        "layout": needs_isa,
    }
    for key, used in unused.items():
        if not used:
            recorded.pop(key, None)
    if circuit != "foreground":
        recorded.pop("reset", None)
    if shots is not None:
        recorded["shots"] = shots
    if seed_simulator is not None:
        recorded["seed_simulator"] = seed_simulator
    return recorded
