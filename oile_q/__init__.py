"""oile-q: once-in-a-lifetime encounter (OILE) models of dense neutrino gases, checked
against exact many-body physics and quantum circuits.

``import oile_q`` stays light: numpy and the scenario layer only. The engines load
numba, scipy and xarray on first use, ``oile_q.sweep`` loads Dask when it runs; Qiskit and
QuSpin live in ``oile_q.circuits`` and ``oile_q.exact``.
"""

from ._version import __version__
from .engine import Engine, Option, Output, list_engines, register_engine
from .errors import InputError
from .runner import rerun, run
from .scenario import Scenario
from .sweeps import sweep

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
