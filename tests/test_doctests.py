"""The examples in the library's docstrings run and print what they say, so the reference cannot
drift from the code. One test per module of ``oile_q``, ``oile_q.circuits`` and ``oile_q.exact``
(the studies in ``oile_q.comparisons`` are run by tests/test_studies.py)."""

import doctest
import importlib
import pkgutil

import numpy as np
import pytest


def _modules():
    names = ["oile_q", "oile_q.circuits", "oile_q.exact"]
    for package in list(names):  # oile_q.circuits and oile_q.exact live in folders of their own
        path = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(path, package + "."):
            if not info.name.startswith("oile_q.comparisons"):
                names.append(info.name)
    return sorted(set(names))


MODULES = _modules()


def test_the_public_packages_are_covered():
    assert {"oile_q.runner", "oile_q.circuits.gates", "oile_q.exact.exact_engine", "oile_q.sweeps.execute"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    module = importlib.import_module(name)
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    with np.printoptions(legacy=False):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed (see above)"
