"""oile-q: once-in-a-lifetime encounter (OILE) models of dense neutrino gases, checked
against exact many-body physics and quantum circuits.

``import oile_q`` stays light: numpy and the scenario layer only. The engines load
numba, scipy and xarray on first use; Qiskit and QuSpin live in ``oile_q.circuits`` and
``oile_q.exact``.
"""

from ._version import __version__
from .engine import Engine, Option, Output, list_engines, register_engine  # noqa: E402
from .errors import InputError  # noqa: E402
from .runner import rerun, run  # noqa: E402
from .scenario import Scenario  # noqa: E402

__all__ = [
    "Scenario",
    "run",
    "rerun",
    "list_engines",
    "register_engine",
    "Engine",
    "Option",
    "Output",
    "InputError",
    "sweep",
    "__version__",
]


def __getattr__(name):
    # ``oile_q.sweep(spec, out_dir)`` (with ``oile_q.sweep.collect``) loads Dask only when used.
    if name == "sweep":
        from .sweeps import sweep

        globals()["sweep"] = sweep
        return sweep
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
