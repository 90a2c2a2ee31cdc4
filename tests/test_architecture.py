"""The house rules of docs/architecture.md, checked on the source (nothing is imported or run):

- no import cycle between the library's modules at module level;
- no private name (``_x``) imported from another module: what two modules share is public in a
  shared module;
- an import inside a function only defers a heavy optional dependency (a third-party module in
  ``HEAVY``, or a project module that imports one at its top) or breaks a true cycle, and then
  says so with a ``# cycle: why`` comment on the line;
- no module over ``MAX_MODULE_LINES`` lines, no function over ``MAX_FUNCTION_LINES``.
"""

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> the package it installs as (pyproject's package-dir)
PACKAGES = {"oile_q": "oile_q", "circuits": "oile_q.circuits", "exact": "oile_q.exact"}
HEAVY = frozenset(
    "qiskit qiskit_aer qiskit_ibm_runtime quspin mthree dask distributed matplotlib xarray scipy numba "
    "h5netcdf h5py tqdm threadpoolctl".split()
)
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 100


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = PACKAGES[rel.parts[0]].split(".") + list(rel.parts[1:])
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class Module:
    """One library module: its source, syntax tree and imports."""

    def __init__(self, path: Path):
        self.path = path
        self.name = _module_name(path)
        self.package = path.name == "__init__.py"
        self.text = path.read_text()
        self.tree = ast.parse(self.text)
        inner = set()
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner |= {id(n) for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))}
        self.imports = [  # (node, inside a function, [(module, name or None)])
            (n, id(n) in inner, self._targets(n))
            for n in ast.walk(self.tree)
            if isinstance(n, (ast.Import, ast.ImportFrom))
        ]

    def _targets(self, node):
        if isinstance(node, ast.Import):
            return [(a.name, None) for a in node.names]
        if node.level:
            base = self.name.split(".")[: None if self.package else -1]
            base = base[: len(base) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        return [(module, a.name) for a in node.names]

    def line(self, node) -> str:
        return self.text.splitlines()[node.lineno - 1]


@pytest.fixture(scope="module")
def library():
    mods = {}
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            mod = Module(path)
            mods[mod.name] = mod
    return mods


def _resolve(mods, module, name):
    """The library module an import target is (``from pkg import submodule`` included), or None."""
    if name and f"{module}.{name}" in mods:
        return f"{module}.{name}"
    return module if module in mods else None


def _top_level_graph(mods):
    graph = defaultdict(set)
    heavy_direct = {}
    for mod in mods.values():
        heavy_direct[mod.name] = False
        for _, inside, targets in mod.imports:
            if inside:
                continue
            for module, name in targets:
                target = _resolve(mods, module, name)
                if target is None:
                    heavy_direct[mod.name] |= module.split(".")[0] in HEAVY
                    continue
                parts = target.split(".")
                for k in range(1, len(parts) + 1):  # importing a.b.c imports a and a.b too
                    parent = ".".join(parts[:k])
                    if parent in mods and parent != mod.name and not mod.name.startswith(parent + "."):
                        graph[mod.name].add(parent)
    return graph, heavy_direct


def test_no_import_cycle(library):
    graph, _ = _top_level_graph(library)
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(library):
        if v not in index:
            visit(v)
    assert not cycles, f"module-level import cycles: {cycles}"


def test_no_private_name_crosses_modules(library):
    found = []
    for mod in library.values():
        for node, _, targets in mod.imports:
            for module, name in targets:
                if not (module.startswith("oile_q") and name and name.startswith("_") and not name.startswith("__")):
                    continue
                if f"{module}.{name}" not in library and module != mod.name:  # a name, not a submodule
                    found.append(f"{mod.path.relative_to(ROOT)}:{node.lineno} imports {module}.{name}")
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_imports_inside_functions_have_a_reason(library):
    graph, heavy_direct = _top_level_graph(library)
    memo = {}

    def heavy(name, seen=()):
        if name not in memo:
            memo[name] = heavy_direct[name] or any(heavy(d, seen + (name,)) for d in graph[name] if d not in seen)
        return memo[name]

    found = []
    for mod in library.values():
        for node, inside, targets in mod.imports:
            if not inside or "# cycle:" in mod.line(node):
                continue
            for module, name in targets:
                target = _resolve(library, module, name)
                ok = heavy(target) if target is not None else module.split(".")[0] in HEAVY
                if not ok:
                    found.append(f"{mod.path.relative_to(ROOT)}:{node.lineno}: {mod.line(node).strip()}")
                    break
    assert not found, (
        "imports inside functions that neither defer a heavy dependency nor carry '# cycle: why':\n" + "\n".join(found)
    )


def test_modules_and_functions_stay_readable(library):
    long_modules = [
        f"{m.path.relative_to(ROOT)}: {n} lines"
        for m in library.values()
        if (n := len(m.text.splitlines())) > MAX_MODULE_LINES
    ]
    long_functions = [
        f"{m.path.relative_to(ROOT)}:{f.lineno} {f.name}(): {f.end_lineno - f.lineno + 1} lines"
        for m in library.values()
        for f in ast.walk(m.tree)
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long_modules and not long_functions, "\n".join(long_modules + long_functions)
