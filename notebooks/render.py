"""Execute the teaching notebooks (Jupytext percent-format ``NN_name.py``) and write executed
``.ipynb`` copies with their figures.

    python notebooks/render.py                 # full size -> notebooks/_build/*.ipynb, _build/figures/*.png
    python notebooks/render.py --quick 01 03   # OILE_Q_QUICK=1, selected notebooks
    python notebooks/render.py --out DIR       # somewhere else

The kernel is always the interpreter running this script: a ``python3`` kernelspec made from
ipykernel's own (``[sys.executable, "-m", "ipykernel_launcher", ...]``), with no search of the
machine's installed kernelspecs, so a fresh ``pip install -e '.[dev]'`` is enough and a stray
user-level ``python3`` kernel pointing at another Python cannot be picked up.
``tests/test_notebooks.py`` uses ``execute`` from here.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "_build"
QUICK_ENV = "OILE_Q_QUICK"


def sources(names=()) -> list[Path]:
    """The notebook sources ``NN_*.py`` in order (all, or those whose name starts with one of ``names``)."""
    found = sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))
    if names:
        found = [p for p in found if any(p.name.startswith(n) for n in names)]
    return found


def _kernel_manager_class():
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisPythonSpecs(KernelSpecManager):
        """Only one kernelspec: ``python3`` = ipykernel in the running interpreter."""

        def find_kernel_specs(self):
            return {"python3": RESOURCES}

        def get_kernel_spec(self, kernel_name):
            if kernel_name != "python3":
                raise NoSuchKernel(kernel_name)
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    class ThisPythonKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _default_specs(self):
            return ThisPythonSpecs(parent=self)

    return ThisPythonKernelManager


def execute_notebook(nb, *, quick: bool, cwd: Path = HERE, timeout: int = 1200):
    """Execute a notebook object in place with this interpreter's kernel; returns seconds.

    ``OILE_Q_QUICK`` is set to "1" or "0" in the kernel's environment. Raises
    ``nbclient.exceptions.CellExecutionError`` on the first cell that fails."""
    from nbclient import NotebookClient

    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    env = dict(os.environ)
    env[QUICK_ENV] = "1" if quick else "0"
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        kernel_manager_class=_kernel_manager_class(),
        resources={"metadata": {"path": str(cwd)}},
    )
    t0 = time.perf_counter()
    client.execute(env=env)
    return time.perf_counter() - t0


def execute(src: Path, *, quick: bool, timeout: int = 1200):
    """Run one notebook source top to bottom; returns (executed notebook, seconds)."""
    import jupytext

    nb = jupytext.read(src)
    seconds = execute_notebook(nb, quick=quick, cwd=src.parent, timeout=timeout)
    return nb, seconds


def figures(nb) -> list[bytes]:
    """The PNG images of a notebook's outputs, in order."""
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if "image/png" in data:
                out.append(base64.b64decode(data["image/png"]))
    return out


def render(src: Path, out: Path, *, quick: bool) -> float:
    """Execute ``src`` and write ``out/NAME.ipynb`` and ``out/figures/NAME_kk.png``."""
    import nbformat
    from nbclient.exceptions import CellExecutionError

    out.mkdir(parents=True, exist_ok=True)
    try:
        nb, seconds = execute(src, quick=quick)
    except CellExecutionError:
        print(f"{src.name}: a cell failed; nothing written to {out}", file=sys.stderr)
        raise
    nb.metadata["oile_q"] = {"quick": quick, "seconds": round(seconds, 1), "source": src.name}
    nbformat.write(nb, out / f"{src.stem}.ipynb")
    figdir = out / "figures"
    figdir.mkdir(exist_ok=True)
    for old in figdir.glob(f"{src.stem}_*.png"):
        old.unlink()
    for k, png in enumerate(figures(nb), 1):
        (figdir / f"{src.stem}_{k:02d}.png").write_bytes(png)
    return seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebook name prefixes (default: all)")
    ap.add_argument("--quick", action="store_true", help=f"set {QUICK_ENV}=1 (every run shrunk)")
    ap.add_argument("--out", type=Path, default=BUILD, help="output folder (default notebooks/_build)")
    args = ap.parse_args(argv)
    srcs = sources(args.names)
    if not srcs:
        ap.error(f"no notebook matches {args.names}")
    total = 0.0
    for src in srcs:
        seconds = render(src, args.out, quick=args.quick)
        total += seconds
        print(
            f"{src.name}: {seconds:.1f} s ({'quick' if args.quick else 'full'}) -> {args.out / (src.stem + '.ipynb')}",
            flush=True,
        )
    print(f"total {total:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
