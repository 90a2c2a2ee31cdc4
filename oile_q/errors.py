"""Bad input, and the validation helpers that report it.

Every message names the parameter, the requirement and what was received, e.g.
"`gamma` must be positive; got -0.1.". Bad input raises ``InputError`` (a ValueError) or,
for a value of the wrong kind, ``InputTypeError`` (an InputError that is also a TypeError),
so library callers that catch ValueError or TypeError keep working, and the command line
can tell bad input (one line, exit status 2) from a bug in oile-q (anything else).
"""

from __future__ import annotations

import numbers
import os

import numpy as np

__all__ = [
    "InputError",
    "InputTypeError",
    "check_real",
    "check_int",
    "check_array",
    "check_bool",
    "check_choice",
    "check_size",
    "available_memory",
    "memory_budget",
    "describe",
]

LIMIT_FRACTION = 0.85  # of the available memory, the default budget of one run


class InputError(ValueError):
    """Bad input to oile-q: the message is one line naming the parameter, what was expected and
    what was received. The command line prints it and exits with status 2.

    Examples
    --------
    >>> import oile_q
    >>> try:
    ...     oile_q.Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=-1)
    ... except oile_q.InputError as err:
    ...     print(err)
    `gamma` must be positive; got -1.0.
    """


class InputTypeError(InputError, TypeError):
    """Bad input of the wrong kind (a TypeError as well as an InputError)."""


def describe(value) -> str:
    """A short description of a received value for error messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_real(name: str, value, *, positive=False, nonnegative=False, finite=True, low=None, high=None) -> float:
    """Validate a real scalar and return it as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"`{name}` must be a real number; got {describe(value)}.")
    value = float(value)
    if finite and not np.isfinite(value):
        raise InputError(f"`{name}` must be finite; got {value}.")
    if positive and not value > 0:
        raise InputError(f"`{name}` must be positive; got {value}.")
    if nonnegative and not value >= 0:
        raise InputError(f"`{name}` must be non-negative; got {value}.")
    if low is not None and value < low:
        raise InputError(f"`{name}` must be >= {low}; got {value}.")
    if high is not None and value > high:
        raise InputError(f"`{name}` must be <= {high}; got {value}.")
    return value


def check_int(name: str, value, *, low=None) -> int:
    """Validate an integer (a float with an integral value is refused: counts are exact)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"`{name}` must be an integer; got {describe(value)}.")
    value = int(value)
    if low is not None and value < low:
        raise InputError(f"`{name}` must be an integer >= {low}; got {value}.")
    return value


def check_array(name: str, value, shape, *, dtype=float) -> np.ndarray:
    """Convert to a finite array of the given shape; ``None`` in ``shape`` matches any size."""
    try:
        arr = np.array(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise InputTypeError(f"`{name}` must be a numeric array; got {describe(value)}.") from err
    if arr.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, arr.shape)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise InputError(f"`{name}` must have shape {want}; got shape {arr.shape}.")
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise InputError(f"`{name}` must be finite; got NaN or infinity.")
    return arr


def check_bool(name: str, value) -> bool:
    """Validate a True/False flag (numbers and strings are refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"`{name}` must be True or False; got {describe(value)}.")
    return bool(value)


def check_choice(name: str, value, choices) -> str:
    """Validate one of a fixed set of values (usually names)."""
    if isinstance(value, np.ndarray) or value not in tuple(choices):
        raise InputError(f"`{name}` must be one of {list(choices)}; got {describe(value)}.")
    return value


def available_memory() -> float:
    """Bytes of memory available now (MemAvailable on Linux, else the physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 8e9


def memory_budget(limit=None) -> float:
    """The byte budget of one run: ``limit`` if given, else 85% of the available memory."""
    return float(limit) if limit is not None else LIMIT_FRACTION * available_memory()


def _gb(x: float) -> str:
    return f"{x / 1e9:.3g} GB"


def check_size(name: str, nbytes: float, what: str, *, hint: str = "", limit=None) -> None:
    """Refuse, before allocating, what would not fit in memory: one line naming the parameter,
    what it would hold and the estimate."""
    budget = memory_budget(limit)
    if nbytes > budget:
        raise InputError(
            f"`{name}` asks for {what}, about {_gb(nbytes)}, more than the {_gb(budget)} of memory "
            f"available{'; ' + hint if hint else ''}."
        )
