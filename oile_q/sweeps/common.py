"""What the parts of a sweep share: the store's file names, plain-data conversion, point hashes
and the short labels used in messages."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping

import numpy as np

from ..errors import InputError, InputTypeError, describe

__all__ = [
    "MANIFEST",
    "POINTS",
    "FAILED",
    "LOG",
    "LOCK",
    "FORMAT",
    "HASH_CHARS",
    "plain_data",
    "canonical_json",
    "point_hash",
    "params_label",
    "short_text",
    "one_line",
    "group_names",
    "group_runs",
]

MANIFEST = "sweep.json"
POINTS = "points"
FAILED = "failed"
LOG = "log.jsonl"
LOCK = ".lock"
FORMAT = "oile-q sweep 1"
HASH_CHARS = 16


def plain_data(value, name: str):
    """``value`` as plain JSON data (numpy scalars and arrays converted); InputTypeError naming
    ``name`` if it is not plain data, InputError if a number is not finite."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise InputError(f"`{name}` must be finite; got {value}.")
        return value
    if isinstance(value, (list, tuple)):
        return [plain_data(v, name) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputTypeError(f"`{name}` keys must be strings; got {describe(k)}.")
            out[k] = plain_data(v, f"{name}.{k}")
        return out
    raise InputTypeError(
        f"`{name}` must be plain data (numbers, strings, booleans, lists, tables); got {describe(value)}."
    )


def canonical_json(obj) -> str:
    """JSON with sorted keys and no spaces: equal data give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def point_hash(payload: Mapping) -> str:
    """The stable name of a point: the first 16 hex digits of the SHA-256 of its resolved
    parameters (scenario, engine, run keywords, options) in canonical JSON.

    Examples
    --------
    >>> point_hash({"engine": "oile", "run": {"steps": 3}})
    'fa9e6c63f51f225e'
    """
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:HASH_CHARS]


def params_label(params: Mapping) -> str:
    """``"gamma=0.01, seed=3"``: a point's axis values for messages."""
    return ", ".join(f"{k}={short_text(v)}" for k, v in params.items())


def short_text(value) -> str:
    """A value as at most 40 characters of text."""
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def one_line(err: BaseException) -> str:
    """An exception as one line of at most 400 characters: ``Type: message``."""
    text = " ".join(str(err).split())
    name = type(err).__name__
    line = f"{name}: {text}" if text else name
    return line if len(line) <= 400 else line[:397] + "..."


def group_names(groups) -> list:
    """Group names as Scenario.from_groups gives them (unnamed: "group<i>")."""
    return [g.get("name", f"group{i}") for i, g in enumerate(groups)]


def group_runs(scenario: Mapping) -> list:
    """The group labels of a scenario dict's particles, run-length encoded: [[label, count], ...]."""
    if "foreground" in scenario:
        return [["foreground", 1]]
    if "group" in scenario:
        return [[name, g["count"]] for name, g in zip(group_names(scenario["group"]), scenario["group"])]
    labels = scenario["particles"].get("group") or ["all"] * len(scenario["particles"]["P0"])
    out = []
    for g in labels:
        if out and out[-1][0] == g:
            out[-1][1] += 1
        else:
            out.append([g, 1])
    return out
