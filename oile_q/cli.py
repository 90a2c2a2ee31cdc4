"""The ``oile-q`` command line: run, compare, study.

Bad input ends with one line on stderr naming the parameter, exit status 2, no traceback,
and no output file (results are computed first, then written atomically).
"""

from __future__ import annotations

from .errors import InputError, InputTypeError

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main"]

_RUN_KEYS = {"engine", "engines", "steps", "t_max", "times", "schedule", "seed", "p", "propagator",
             "isotropic", "rtol", "atol", "method", "options"}


class CLIError(Exception):
    """A usage error: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, no usage dump
        raise CLIError(f"{self.prog}: {message}")


def _times(text):
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err


def _add_run_args(p):
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="number of encounter steps")
    length.add_argument("--t-max", type=float, dest="t_max", help="final mu t")
    p.add_argument("--times", type=_times, help="comma-separated mu t values to record")
    p.add_argument("--schedule", help="matching | round-robin | poisson | path to a .npy array (steps, k, 2)")
    p.add_argument("--seed", type=int, help="seed of a random schedule")
    p.add_argument("--p", type=float, help="Poisson encounter probability per step")
    p.add_argument("--propagator", choices=["exact", "split", "symmetric"], help="oile encounter propagator")
    p.add_argument("--isotropic", action="store_true", default=None, help="master: paper I Eq. (17)")
    p.add_argument("--rtol", type=float, help="ODE relative tolerance (meanfield, master)")
    p.add_argument("--atol", type=float, help="ODE absolute tolerance (meanfield, master)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="options",
                   help="any other engine option, value in TOML syntax (repeatable), e.g. "
                        "--set backend=aer-shots --set shots=4000 (circuit), --set method=expm (exact)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _parser():
    top = _Parser(prog="oile-q", description="OILE models of neutrino gases: run engines, compare them, run studies.")
    top.add_argument("--version", action="version", version=_version())
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser("run", help="run one engine on a scenario file and write a netCDF result",
                       description="Run one engine on SCENARIO.toml and write the shared result to netCDF.")
    r.add_argument("scenario", help="scenario TOML file")
    r.add_argument("--engine", help="oile | meanfield | master | circuit | exact | closed (default: oile)")
    r.add_argument("-o", "--output", required=True, help="output netCDF file")
    _add_run_args(r)

    c = sub.add_parser("compare", help="run several engines on one scenario: figure + deviation table",
                       description="Run several engines on SCENARIO.toml; write compare.png, deviations.csv/.md "
                                   "and one netCDF per engine into DIR.")
    c.add_argument("scenario", help="scenario TOML file")
    c.add_argument("--engines", help="comma-separated engines (default: oile,master,meanfield)")
    c.add_argument("--basis", choices=["flavor", "mass"], default="flavor", help="basis of the figure and table")
    c.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    _add_run_args(c)

    s = sub.add_parser("study", help="run a reproducible study from comparisons/ by name",
                       description="Run a study from comparisons/ (figures, metrics table, data).")
    s.add_argument("names", nargs="*", metavar="NAME", help="study names (see --list)")
    s.add_argument("--list", action="store_true", help="list the studies")
    s.add_argument("--all", action="store_true", help="run every study")
    s.add_argument("-o", "--output", help="output folder for one study (default: comparisons/out/NAME)")
    s.add_argument("--quick", action="store_true", help="a small, fast version (smoke test)")
    s.add_argument("--publish", action="store_true",
                   help="copy figures and tables to comparisons/results/NAME and rewrite comparisons/README.md")

    # Implemented in oile_q.circuits.cli (Qiskit is imported only when it is used).
    sub.add_parser("circuit", add_help=False,
                   help="run OILE encounters as Qiskit circuits (see `oile-q circuit --help`)")
    return top


def _version():
    from . import __version__

    return f"oile-q {__version__}"


def _settings(args, scenario_path):
    """Merge the scenario file's optional [run] table with the command-line options."""
    from .scenario import Scenario

    run = Scenario.run_settings_from_toml(scenario_path)
    unknown = sorted(set(run) - _RUN_KEYS)
    if unknown:
        raise InputError(f"`run` has unknown key {unknown[0]!r}; expected keys among {sorted(_RUN_KEYS)}.")
    for key in ("steps", "t_max", "times", "schedule", "seed", "p", "propagator", "isotropic", "rtol", "atol"):
        value = getattr(args, key, None)
        if value is not None:
            if key in ("steps", "t_max"):
                run.pop("steps", None)
                run.pop("t_max", None)
            run[key] = value
    if getattr(args, "options", None):
        run["options"] = {**run.get("options", {}), **dict(_parse_option(o) for o in args.options)}
    sched = run.get("schedule")
    if isinstance(sched, str) and sched.endswith(".npy"):
        import numpy as np

        try:
            run["schedule"] = np.load(sched)
        except (OSError, ValueError) as err:
            raise InputError(f"`schedule` file {sched!r} cannot be read as a .npy array: {err}.") from err
    return run


def _parse_option(text):
    """KEY=VALUE with VALUE in TOML syntax; a bare word is a string."""
    import tomllib

    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise InputError(f"`--set` expects KEY=VALUE; got {text!r}.")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value.strip()


def _engine_kwargs(run, engine):
    keys = {"oile": ("propagator",), "master": ("isotropic", "rtol", "atol", "method"),
            "meanfield": ("rtol", "atol", "method")}.get(engine, ())
    out = {k: run[k] for k in keys if k in run}
    if "p" in run:
        out["p"] = run["p"]
    extra = run.get("options", {})
    if not isinstance(extra, dict):
        raise InputTypeError(f"`run.options` must be a table of engine options; got {extra!r}.")
    out.update(extra)
    return out


def _check_output_file(path):
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"`--output` must be a file path; got the folder {str(path)!r}.")
    if not parent.is_dir():
        raise InputError(f"`--output` folder does not exist: {str(parent)!r}.")
    if not os.access(parent, os.W_OK):
        raise InputError(f"`--output` folder is not writable: {str(parent)!r}.")


def _check_output_dir(path):
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"`--output` must be a folder; got the file {str(path)!r}.")
    parent = path.parent if str(path.parent) else Path(".")
    if not path.exists() and not parent.is_dir():
        raise InputError(f"`--output` parent folder does not exist: {str(parent)!r}.")
    target = path if path.exists() else parent
    if not os.access(target, os.W_OK):
        raise InputError(f"`--output` folder is not writable: {str(target)!r}.")


def _run_one(scenario, engine, run, progress):
    from .runner import run as run_engine

    kwargs = _engine_kwargs(run, engine)
    if engine in ("oile", "meanfield", "master"):
        kwargs["progress"] = progress
    return run_engine(scenario, engine, steps=run.get("steps"), t_max=run.get("t_max"),
                      times=run.get("times"), schedule=run.get("schedule", "matching"),
                      seed=run.get("seed"), **kwargs)


def cmd_run(args):
    from .results import save
    from .scenario import Scenario

    _check_output_file(args.output)
    scenario = Scenario.from_toml(args.scenario)
    run = _settings(args, args.scenario)
    engine = args.engine or run.get("engine", "oile")
    ds = _run_one(scenario, engine, run, progress=not args.no_progress)
    save(ds, args.output)
    print(f"wrote {args.output} ({engine}, {ds.sizes['time']} times, {ds.sizes['particle']} particles)")
    return 0


def cmd_compare(args):
    from .compare import deviation_table, plot_engines, write_table
    from .results import save
    from .runner import ENGINES
    from .scenario import Scenario

    _check_output_dir(args.output)
    scenario = Scenario.from_toml(args.scenario)
    run = _settings(args, args.scenario)
    engines = args.engines or run.get("engines", "oile,master,meanfield")
    if isinstance(engines, str):
        engines = [e.strip() for e in engines.split(",") if e.strip()]
    if len(engines) < 2 or len(set(engines)) != len(engines):
        raise InputError(f"`--engines` must name at least two different engines; got {engines}.")
    for e in engines:
        if e not in ENGINES:
            raise InputError(f"`--engines` must be among {list(ENGINES)}; got {e!r}.")
    results = {}
    for e in engines:
        results[e] = _run_one(scenario, e, run, progress=not args.no_progress)
        if "seed" in results[e].attrs and run.get("seed") is None:
            run["seed"] = int(results[e].attrs["seed"])  # one schedule for every engine
    out = Path(args.output)
    out.mkdir(exist_ok=True)
    for e, ds in results.items():
        save(ds, out / f"{e}.nc")
    rows = deviation_table(results, basis=args.basis)
    text = write_table(rows, out / "deviations.csv", out / "deviations.md",
                       title=f"Largest deviations between engines ({args.basis} basis), {Path(args.scenario).name}")
    plot_engines(results, out / "compare.png", basis=args.basis, title=f"{Path(args.scenario).name}: {repr(scenario)}")
    print(text)
    print(f"wrote {out / 'compare.png'}, {out / 'deviations.csv'}, {out / 'deviations.md'} and {len(results)} netCDF files")
    return 0


def cmd_study(args):
    from .studies import list_studies, publish, run_study, studies_dir, write_index

    studies = list_studies()
    if args.list or (not args.names and not args.all):
        if not studies:
            raise InputError(f"no studies found in {str(studies_dir())!r} (set OILE_Q_COMPARISONS).")
        for name, doc in studies.items():
            print(f"{name:20s} {doc}")
        return 0
    names = list(studies) if args.all else args.names
    for name in names:
        if name not in studies:
            raise InputError(f"`name` must be among {list(studies)}; got {name!r}.")
    if args.output and len(names) != 1:
        raise InputError("`--output` needs exactly one study name.")
    if args.publish and args.quick:
        raise InputError("`--publish` publishes full runs only; drop `--quick`.")
    outs = {}
    for name in names:
        if args.output:
            out = Path(args.output)
        else:
            out = studies_dir() / "out" / name
            out.parent.mkdir(exist_ok=True)  # the default, git-ignored comparisons/out
        _check_output_dir(out)
        outs[name] = out
    for name, out in outs.items():
        out.mkdir(parents=True, exist_ok=True)
        report, seconds = run_study(name, out, quick=args.quick)
        print(f"study {name}: outputs in {out} ({seconds:.1f} s)")
        if report:
            print(f"report: {report}")
        if args.publish:
            print(f"published: {publish(name, out)}")
    if args.publish:
        print(f"index: {write_index()}")
    return 0


def _circuit(argv):
    try:
        from oile_q.circuits.cli import main as circuit_main
    except ImportError as err:
        print(f"oile-q circuit: error: the circuit part cannot be imported here: {err}", file=sys.stderr)
        return 2
    return circuit_main(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["circuit"]:
        return _circuit(argv[1:])
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return {"run": cmd_run, "compare": cmd_compare, "study": cmd_study}[args.command](args)
    except CLIError as err:
        print(f"{err}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as err:
        print(f"oile-q: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("oile-q: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
