"""oile-q: once-in-a-lifetime encounter (OILE) models of dense neutrino gases, checked
against exact many-body physics and quantum circuits.

``import oile_q`` stays light: numpy and the scenario layer only. The engines load
numba, scipy and xarray on first use; Qiskit and QuSpin live in ``oile_q.circuits`` and
``oile_q.exact``.
"""

__version__ = "0.1.0"

from .scenario import Scenario  # noqa: E402
from .runner import run  # noqa: E402

__all__ = ["Scenario", "run", "__version__"]
