"""The studies in ``comparisons/``: the helper every ``study.py`` is written with, and
finding, running and publishing them.

A study is a folder ``comparisons/NAME/`` holding ``config.toml`` (its parameters) and
``study.py`` with ``main(outdir, quick=False) -> report path``. The module docstring's first
line is the study's title (``oile-q study --list``) and its next paragraph the summary in
``comparisons/README.md``. Studies are found by looking for ``*/study.py``; a top-level
``order = N`` in ``config.toml`` places a study in the list (lower first, then by name).

The studies ship with the package as ``oile_q.comparisons`` (``study.py`` and ``config.toml``
only: published results and outputs stay in the source tree). ``OILE_Q_COMPARISONS`` points
at another folder of studies. In a writable source checkout a run goes to
``comparisons/out/NAME`` and ``--publish`` copies its figures, tables and report to
``comparisons/results/NAME`` and regenerates ``comparisons/README.md`` from the reports'
``report.json``, so the index's numbers are always those of the last published run; an
installed package runs into ``./NAME`` and cannot publish.

Writing a study
---------------
A ``study.py`` keeps its physics and its plots; :class:`Study` does the rest: the config
(``config.toml`` with its ``[quick]`` table merged in for ``quick=True``), netCDF data,
atomic PNG figures, CSV + Markdown tables, and the report, declared as data (title, intro
paragraphs, "what it shows" bullets) and written as ``report.md`` and ``report.json``::

    \"\"\"Two groups: the OILE map against the master equation.

    A two-group gas meets in random matchings; the map is compared with ``master``.
    \"\"\"
    import numpy as np

    import oile_q
    from oile_q.results import group_means
    from oile_q.studies import Study

    STUDY = Study(__file__)                      # this folder and its config.toml


    def main(outdir, quick=False):
        run = STUDY.start(outdir, quick)         # starts the clock, creates outdir
        cfg = run.config                         # {"scenario": {...}, "run": {...}}
        sc = oile_q.Scenario.from_groups(cfg["scenario"]["groups"], gamma=cfg["run"]["gamma"], seed=1)
        sim = run.save(oile_q.run(sc, "oile", t_max=cfg["run"]["t_max"]), "data_oile.nc")
        eq = run.save(oile_q.run(sc, "master", times=sim.time.values), "data_master.nc")
        d = float(np.abs(group_means(sim)["mean"] - group_means(eq)["mean"]).max())
        fig, ax = run.pyplot().subplots()
        ax.plot(sim.time, group_means(sim)["abs_mean"])
        run.figure(fig, "abs_mean.png", alt="|<P>| per group", caption="Solid: the map.")
        run.table([{"gamma": sc.gamma, "max_dmean": d}], "metrics", title="Map vs master")
        return run.report(title="Two groups", intro=[f"N = {sc.n}, gamma = {sc.gamma:g}."],
                          shows=[f"The master equation follows the group means to {d:.2g}."])

with a ``config.toml`` such as::

    order = 80              # place in `oile-q study --list` and comparisons/README.md

    [scenario]
    groups = [{ name = "nu_e", count = 6, flavor = "e", omega = 0.1 },
              { name = "nu_x", count = 4, flavor = "x", omega = 0.2 }]

    [run]
    gamma = 0.01
    t_max = 100.0

    [quick.run]             # --quick: the same shape as the file, merged table by table
    t_max = 5.0

``report.md`` then reads: title, intro, figures (with captions), tables, "## What it shows"
(one bullet per item), the run line (``oile-q study NAME``, seconds, cores, version) and the
data files.
"""

from __future__ import annotations

import ast
import datetime
import importlib.util
import json
import os
import re
import shutil
import sys
import time
from importlib.resources import files
from pathlib import Path

from ._version import __version__
from .compare import write_table
from .errors import InputError
from .io import atomic_write, read_toml
from .results import save
from .sweeps import sweep

__all__ = [
    "Study",
    "StudyRun",
    "studies_dir",
    "source_checkout",
    "default_output",
    "check_publish",
    "list_studies",
    "run_study",
    "publish",
    "write_index",
    "render_report",
    "pyplot",
]

CONFIG = "config.toml"
REPORT_JSON = "report.json"
DEFAULT_ORDER = 1000
PUBLISHED = (".png", ".md", ".csv", ".json")  # what `publish` copies (not the netCDF data)


# ----------------------------------------------------------------------------- the helper


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (figures are only saved)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _merge(base: dict, over: dict, where: str) -> dict:
    """``base`` with ``over`` merged in table by table; every key of ``over`` must exist."""
    out = dict(base)
    for key, value in over.items():
        path = f"{where}.{key}" if where else key
        if key not in base:
            raise InputError(f"`[quick] {path}` must override a setting of config.toml; there is no `{path}`.")
        if isinstance(value, dict) and isinstance(base[key], dict):
            out[key] = _merge(base[key], value, path)
        else:
            out[key] = value
    return out


def seed_band(ax, t, mean, sem, sd, color, n_seeds, *, lw=1.2, alpha=0.5):
    """Draw an ensemble statistic on ``ax``: the seed average (line), +-2 standard errors of it
    (dark band) and +-1 seed-to-seed standard deviation (light band), labelled for a legend."""
    ax.fill_between(t, mean - sd, mean + sd, color=color, alpha=0.13, lw=0, label="+-1 sd over seeds")
    ax.fill_between(t, mean - 2 * sem, mean + 2 * sem, color=color, alpha=alpha, lw=0, label="+-2 s.e. of the mean")
    ax.plot(t, mean, "-", color=color, lw=lw, label=f"mean of {n_seeds} schedule seeds")


def finish_grid(fig, axes, shown: int, title: str, *, bottom: float) -> None:
    """Finish a panel grid whose first row holds the overview and the next ``shown`` panels one
    case each: x labels on the last row, unused panels hidden, ``title`` above, the legend of
    the second panel below (``bottom``: the figure fraction kept for it)."""
    for ax in axes[-1]:
        ax.set_xlabel("mu t")
    for ax in axes.ravel()[shown + 1 :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11)
    handles, labels = axes.ravel()[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8.5, frameon=False)
    fig.tight_layout(rect=(0, bottom, 1, 1))


class Study:
    """One study folder: its name, its ``config.toml``, and runs of it.

    Parameters
    ----------
    file : str or Path
        The ``study.py`` (pass ``__file__``); the study is the folder holding it.
    """

    def __init__(self, file):
        self.folder = Path(file).resolve().parent
        self.name = self.folder.name

    def __repr__(self):
        return f"Study({self.name!r}, folder={str(self.folder)!r})"

    def config(self, quick: bool = False) -> dict:
        """``config.toml`` as a dict, without ``order`` and ``quick``; for ``quick=True`` the
        ``[quick]`` table is merged in recursively (tables merge, other values replace), and
        each of its keys must name an existing setting."""
        data = read_toml(self.folder / CONFIG, "config")
        data.pop("order", None)
        fast = data.pop("quick", {})
        return _merge(data, fast, "") if quick else data

    def start(self, outdir, quick: bool = False) -> StudyRun:
        """Begin a run into ``outdir`` (created if missing): loads the config, starts the clock."""
        return StudyRun(self, outdir, quick)


class StudyRun:
    """One run of a study: its output folder, config, clock, and what it has written.

    Created by :meth:`Study.start`. ``config`` is the merged configuration, ``outdir`` the
    output folder, ``quick`` the flag. Figures, tables and data saved through the run are
    listed in its report in the order they were written.
    """

    def __init__(self, study: Study, outdir, quick: bool = False):
        self._t0 = time.perf_counter()
        self.study = study
        self.quick = bool(quick)
        self.outdir = Path(outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.config = study.config(self.quick)
        self.figures: list[dict] = []
        self.tables: list[dict] = []
        self.data: list[str] = []

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self._t0

    pyplot = staticmethod(pyplot)

    def save(self, ds, name: str):
        """Save an xarray Dataset as ``outdir/name`` (atomic netCDF, ``oile_q.results.save``);
        returns ``ds``."""
        save(ds, self.outdir / name)
        if name not in self.data:
            self.data.append(name)
        return ds

    def sweep(self, spec, name: str, *, client: str = "local", workers: int | None = None):
        """Run the sweep ``spec`` (``oile_q.sweep`` layout) into ``outdir/name``, afresh (no point
        of an older run or code version is reused), on a Dask ``LocalCluster`` of ``workers``
        processes (``client="local"``) or in this process (``client="serial"``, as the quick
        runs do). Returns (``SweepResult``, the folder, wall seconds); raises if a point failed.
        Read the points back with ``oile_q.sweep.collect(folder)``."""
        if client not in ("local", "serial"):
            raise InputError(f"`client` of a study's sweep must be 'local' or 'serial'; got {client!r}.")
        folder = self.outdir / name
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        if client == "serial":
            res = sweep(spec, folder, client="serial")
        else:
            res = sweep(spec, folder, workers=workers)
        if not res.ok:
            raise RuntimeError(f"sweep {name}: {len(res.failed)} points failed: {res.failed}")
        return res, folder, time.perf_counter() - t0

    def figure(self, fig, name: str, *, alt: str | None = None, caption: str = "", dpi: int = 100) -> Path:
        """Write ``fig`` as the PNG ``outdir/name`` (atomically), close it, and list it in the
        report with ``alt`` text (default: the file's stem) and an optional ``caption``."""
        path = self.outdir / name
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi), mode="wb")
        pyplot().close(fig)
        self.figures = [f for f in self.figures if f["file"] != name]
        self.figures.append({"file": name, "alt": alt or Path(name).stem, "caption": caption})
        return path

    def table(self, rows: list, name: str, *, title: str | None = None, note: str = "", index: bool = True) -> str:
        """Write ``rows`` (a list of dicts, one per row) as ``outdir/name.csv`` and
        ``outdir/name.md`` (``oile_q.compare.write_table``) and list the table in the report,
        with an optional ``note`` under it; ``index=False`` leaves it out of
        comparisons/README.md (it stays in report.md). Returns the Markdown text."""
        text = write_table(rows, self.outdir / f"{name}.csv", self.outdir / f"{name}.md", title=title)
        self.tables = [t for t in self.tables if t["name"] != name]
        self.tables.append(
            {"name": name, "csv": f"{name}.csv", "markdown": text.strip(), "note": note, "index": bool(index)}
        )
        return text

    def report(self, *, title: str, intro=(), shows=(), detail: str = "") -> Path:
        """Write ``report.json`` and ``report.md`` and return the path of ``report.md``.

        Parameters
        ----------
        title : str
            The report's heading.
        intro : sequence of str
            Paragraphs before the figures (set-up and parameters).
        shows : sequence of str
            "What it shows": one finding per item, with its numbers.
        detail : str
            Added to the run line after the seconds, e.g. ``"exact engine 40 s of it"``.
        """
        seconds = self.elapsed()
        rep = {
            "study": self.study.name,
            "title": title,
            "intro": [str(p) for p in intro],
            "figures": list(self.figures),
            "tables": list(self.tables),
            "shows": [str(s) for s in shows],
            "data": list(self.data),
            "run": {
                "command": f"oile-q study {self.study.name}" + (" --quick" if self.quick else ""),
                "quick": self.quick,
                "seconds": round(seconds, 3),
                "detail": detail,
                "cores": _cores(),
                "version": __version__,
                "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            },
        }
        atomic_write(self.outdir / REPORT_JSON, lambda fh: fh.write(json.dumps(rep, indent=1) + "\n"))
        path = self.outdir / "report.md"
        text = render_report(rep)
        atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), mode="wb")
        return path


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _seconds(s: float) -> str:
    return f"{s:.1f}" if s < 10 else f"{s:.0f}"


def _run_text(run: dict) -> str:
    """``(41 s on 2 cores: detail; oile-q 0.1.0)``"""
    text = f"{_seconds(run['seconds'])} s on {run['cores']} core{'s' if run['cores'] != 1 else ''}"
    if run.get("detail"):
        text += f": {run['detail']}"
    return f"({text}; oile-q {run['version']})"


def _data_text(names: list) -> str:
    """The data files, numbered families collapsed: ``data_exact_N*.nc`` (7 files)."""
    families: dict[str, list] = {}
    for n in names:
        families.setdefault(re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "*", n), []).append(n)
    parts = [f"`{v[0]}`" if len(v) == 1 else f"`{k}` ({len(v)} files)" for k, v in families.items()]
    return "Data (netCDF, read with `oile_q.results.load`): " + ", ".join(parts) + "."


def render_report(rep: dict) -> str:
    """The Markdown of a report declared as data (the contents of ``report.json``)."""
    lines = [f"# {rep['title']}", ""]
    if rep["run"]["quick"]:
        lines += ["**Quick (smoke-test) run: reduced sizes; the published numbers are in comparisons/README.md.**", ""]
    for p in rep["intro"]:
        lines += [p, ""]
    for f in rep["figures"]:
        lines += [f"![{f['alt']}]({f['file']})", ""]
        if f["caption"]:
            lines += [f["caption"], ""]
    for t in rep["tables"]:
        lines += [t["markdown"], ""]
        if t["note"]:
            lines += [t["note"], ""]
    if rep["shows"]:
        lines += ["## What it shows", ""] + [f"- {s}" for s in rep["shows"]] + [""]
    lines += [f"Run: `{rep['run']['command']}` {_run_text(rep['run'])}."]
    if rep["data"]:
        lines += ["", _data_text(rep["data"])]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- finding studies


def studies_dir() -> Path:
    """The folder of studies: ``$OILE_Q_COMPARISONS`` if set, else the ``oile_q.comparisons``
    package (``comparisons/`` of a source checkout, or the installed copy)."""
    env = os.environ.get("OILE_Q_COMPARISONS")
    if env:
        return Path(env)
    try:
        root = Path(str(files("oile_q.comparisons")))
        if root.is_dir():
            return root
    except ModuleNotFoundError:  # an editable install made before comparisons/ was a package
        pass
    return Path(__file__).resolve().parents[1] / "comparisons"


def source_checkout() -> bool:
    """True when the studies live in a writable source checkout: their folder sits next to a
    ``pyproject.toml`` and may be written to (outputs to ``comparisons/out``, publishing)."""
    root = studies_dir()
    return (root.parent / "pyproject.toml").is_file() and os.access(root, os.W_OK)


def default_output(name: str) -> Path:
    """Where ``oile-q study NAME`` writes without ``-o``: ``comparisons/out/NAME`` in a source
    checkout, otherwise ``./NAME`` in the current folder."""
    return studies_dir() / "out" / name if source_checkout() else Path.cwd() / name


def check_publish() -> None:
    """Raise InputError unless publishing is possible (a writable source checkout)."""
    if not source_checkout():
        raise InputError(
            f"`--publish` needs a writable source checkout of oile-q (it rewrites "
            f"comparisons/results and comparisons/README.md); the studies here are in "
            f"{str(studies_dir())!r}."
        )


def _docstring(path: Path) -> str:
    try:
        return ast.get_docstring(ast.parse(path.read_text())) or ""
    except SyntaxError as err:  # one broken study must not hide the others
        return f"(cannot be read: SyntaxError at line {err.lineno}: {err.msg})"


def _order(folder: Path):
    """The study's ``order`` from its config.toml (DEFAULT_ORDER if absent or unreadable)."""
    try:
        value = read_toml(folder / CONFIG, "config").get("order", DEFAULT_ORDER)
    except (OSError, InputError):
        return DEFAULT_ORDER
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else DEFAULT_ORDER


def list_studies() -> dict:
    """{name: title} for every ``*/study.py`` in :func:`studies_dir`, by ``order``, then name."""
    root = studies_dir()
    if not root.is_dir():
        return {}
    found = sorted((_order(d), d.name) for d in root.iterdir() if (d / "study.py").is_file())
    return {name: " ".join(_docstring(root / name / "study.py").split("\n\n")[0].split()) for _, name in found}


def published_seconds(name: str):
    """The run time of a study's last published run (None if unknown): a cost estimate."""
    try:
        data = json.loads((studies_dir() / "results" / name / "timing.json").read_text())
        return float(data["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_study(name: str, out, quick: bool = False):
    """Run one study into ``out``; returns (report path, seconds) and writes ``timing.json``."""
    path = studies_dir() / name / "study.py"
    if not path.is_file():
        raise InputError(f"`name` must be among {list(list_studies())}; got {name!r}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = importlib.util.spec_from_file_location(f"oile_q_study_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)
        t0 = time.perf_counter()
        report = module.main(out, quick=quick)
        seconds = time.perf_counter() - t0
    finally:
        sys.modules.pop(spec.name, None)
    atomic_write(out / "timing.json", lambda fh: fh.write(json.dumps({"seconds": seconds, "quick": quick})))
    return report, seconds


# ----------------------------------------------------------------------------- publishing


def publish(name: str, out) -> Path:
    """Copy a finished full run's figures, tables, report and timing into
    ``comparisons/results/NAME`` (source checkout only); returns that folder."""
    check_publish()
    out = Path(out)
    try:
        rep = json.loads((out / REPORT_JSON).read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"`out` must hold a finished study run with {REPORT_JSON}; got {str(out)!r}.") from err
    if rep["run"]["quick"]:
        raise InputError(f"`out` holds a --quick run of {name!r}; only full runs are published.")
    dest = studies_dir() / "results" / name
    tmp = dest.with_name(f".{name}.part")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for f in sorted(out.iterdir()):
        if f.is_file() and f.suffix in PUBLISHED and not f.name.startswith("."):
            shutil.copy2(f, tmp / f.name)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


_PREAMBLE = """\
# Comparisons

Reproducible studies: each folder `comparisons/NAME/` holds a `config.toml` and a `study.py`
(`main(outdir, quick=False)`, public `oile_q` API only, written with `oile_q.studies.Study`)
that turn the config into figures (PNG), tables (CSV + Markdown), the underlying results
(netCDF) and a report (`report.md`, and `report.json` from which this index is built).

```
oile-q study --list                       # the studies
oile-q study NAME                         # outputs in comparisons/out/NAME/ (git-ignored)
oile-q study NAME --quick -o /tmp/x       # a small, fast version (the smoke tests run these)
oile-q study --all --publish              # run every study, copy figures and tables to
                                          # comparisons/results/ and rewrite this index
```

The studies ship with the package (`oile_q.comparisons`): where oile-q is installed rather
than checked out, `oile-q study NAME` writes into `./NAME` and publishing is not offered.

This file is generated by `oile-q study ... --publish`: every figure and number below is
from the last published run (run time, cores and oile-q version given per study).
"""


def _summary(doc: str) -> str:
    paras = doc.split("\n\n")
    summary = " ".join(paras[1].split()) if len(paras) > 1 else ""
    for tail in (", and writes", " and writes", ", writes", " writes"):
        if summary.endswith(tail):
            summary = summary[: -len(tail)] + "."
    return summary


def write_index() -> Path:
    """Rewrite comparisons/README.md from the studies' docstrings and published report.json."""
    check_publish()
    root = studies_dir()
    lines = [_PREAMBLE]
    for name, title in list_studies().items():
        lines += [f"## {name} — {title}", "", _summary(_docstring(root / name / "study.py")), ""]
        res = root / "results" / name
        try:
            rep = json.loads((res / REPORT_JSON).read_text())
        except (OSError, ValueError):
            lines += [f"Not yet published: run `oile-q study {name} --publish`.", ""]
            continue
        for f in rep["figures"]:
            lines += [f"![{name}: {f['alt']}](results/{name}/{f['file']})", ""]
            if f["caption"]:
                lines += [f["caption"], ""]
        for t in rep["tables"]:
            if t["index"]:
                lines += [t["markdown"], ""] + ([t["note"], ""] if t["note"] else [])
        if rep["shows"]:
            lines += ["What it shows (numbers from the published run):", ""]
            lines += [f"- {s}" for s in rep["shows"]] + [""]
        lines += [
            f"Run: `oile-q study {name}` {_run_text(rep['run'])}. [report](results/{name}/report.md) "
            f"Parameters: [`{name}/config.toml`]({name}/config.toml).",
            "",
        ]
    path = root / "README.md"
    atomic_write(path, lambda fh: fh.write("\n".join(lines).encode("utf-8")), mode="wb")
    return path
