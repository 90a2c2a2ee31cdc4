"""Names of a package loaded on first use (PEP 562), so that importing the package itself stays
cheap: ``oile_q.circuits`` and ``oile_q.exact`` use it to keep Qiskit and QuSpin out of the way
until something needs them."""

from __future__ import annotations

import importlib

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, names: dict):
    """A module ``__getattr__`` for ``package`` that imports ``names[name]`` (a submodule name)
    on first access of ``name`` and caches the value in the package."""

    def __getattr__(name):
        if name in names:
            module = importlib.import_module(f".{names[name]}", package)
            value = getattr(module, name)
            setattr(importlib.import_module(package), name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
