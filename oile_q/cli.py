"""The ``oile-q`` command line: run, compare, engines, study (and circuit, sweep).

Every command speaks one vocabulary (run, rerun, compare, engines, study; circuit and sweep). Run
settings (``--steps``/``--t-max``, ``--times``, ``--schedule``, ``--seed``, ``--p``) are common to
all engines; engine options are generated from the engines' declarations (``oile_q.engine``): each
option is a flag (``--backend aer-shots``, ``--rtol 1e-9``, ``--no-reset``) and can also be given as
``--set KEY=VALUE`` (every engine of the command that declares KEY) or ``--set ENGINE.KEY=VALUE``
(that engine only), values in TOML syntax. A scenario file's ``[run]`` table and
``[options.ENGINE]`` tables hold the same as defaults.

Bad input (``oile_q.errors.InputError``, argument errors) ends with one line on stderr naming
the parameter and exit status 2, before any output file is written; anything else is a bug in
oile-q and shows as one (the traceback and an "internal error" line, exit status 1).
Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import numpy as np

from ._version import __version__
from .command import CLIError, Parser, guarded
from .compare import deviation_table, plot_engines, write_table
from .engine import engine_names, get_engine, list_engines
from .errors import InputError, InputTypeError, memory_budget
from .io import check_output_dir, check_output_file
from .results import load, save, summary
from .runner import execute, prepare, progress_default, rerun_arguments
from .scenario import read_scenario_file
from .schedules import fresh_seed
from .studies import (
    check_publish,
    default_output,
    list_studies,
    publish,
    published_seconds,
    run_study,
    studies_dir,
    write_index,
)
from .sweeps.cli import main as sweep_main

__all__ = [
    "main",
    "CLIError",
    "Parser",
    "guarded",
    "add_run_arguments",
    "RunSettings",
    "read_settings",
    "prepare_run",
    "submit_hook",
    "progress_wanted",
    "parse_value",
    "announce",
    "write_result",
]

RUN_KEYS = ("engine", "engines", "steps", "t_max", "times", "schedule", "seed", "p", "options")
DEFAULT_BUDGET = 3600.0  # seconds: longer runs need --yes
ANNOUNCE_AFTER = 10.0  # seconds: longer runs say what they will cost before they start


# --------------------------------------------------------------------------- arguments


def _floats(text):
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err


def parse_value(text: str):
    """A command-line value in TOML syntax ("4000", "1e-9", "true", "[0, 3]"); "0,3" is a list;
    anything else is a string."""

    for candidate in (text, f"[{text}]" if "," in text else None):
        if candidate is None:
            continue
        try:
            return tomllib.loads(f"v = {candidate}")["v"]
        except tomllib.TOMLDecodeError:
            continue
    return text.strip()


def _engine_flags(engines):
    """{option name: (engines declaring it, the options)} over the given engines."""
    flags = {}
    for eng in engines.values():
        for opt in eng.options:
            if opt.cli:
                flags.setdefault(opt.name, []).append((eng.name, opt))
    return flags


def add_run_arguments(p, engines, *, taken=()):
    """The run settings every engine shares, ``--set``, and one flag per engine option of
    ``engines`` ({name: Engine}); option names in ``taken`` (flags of the command itself) are
    reachable through ``--set`` only."""
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="number of encounter steps")
    length.add_argument("--t-max", type=float, dest="t_max", help="final mu t")
    p.add_argument("--times", type=_floats, help="comma-separated mu t values to record")
    p.add_argument("--schedule", help="matching | round-robin | poisson | path to a .npy array (steps, k, 2)")
    p.add_argument("--seed", type=int, help="seed of a random schedule")
    p.add_argument("--p", type=float, help="Poisson encounter probability per step")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[ENGINE.]KEY=VALUE",
        dest="options",
        help="an engine option, value in TOML syntax (repeatable); ENGINE. limits it to one engine",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, cost estimate or notes (errors only)")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--yes", action="store_true", help="run even when the estimated cost exceeds --budget")
    p.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET,
        metavar="SECONDS",
        help=f"refuse runs estimated to take longer (default {DEFAULT_BUDGET:g} s, i.e. an hour) unless --yes",
    )
    group = p.add_argument_group("engine options (each also --set KEY=VALUE; see `oile-q engines`)")
    for name, owners in sorted(_engine_flags(engines).items()):
        if name in taken:
            continue
        flag = "--" + name.replace("_", "-")
        by_doc = {}
        for e, o in owners:
            by_doc.setdefault(o.doc, []).append(e)
        docs = "; ".join(f"{', '.join(es)}: {d}" for d, es in by_doc.items()).replace("%", "%%")  # argparse %-formats
        opt = owners[0][1]
        if all(o.kind == "bool" for _, o in owners):
            group.add_argument(
                flag, dest=f"opt__{name}", action=argparse.BooleanOptionalAction, default=None, help=docs
            )
        elif len(owners) == 1 and opt.kind == "choice":
            group.add_argument(flag, dest=f"opt__{name}", choices=[str(c) for c in opt.choices], help=docs)
        else:
            group.add_argument(flag, dest=f"opt__{name}", type=parse_value, metavar=name.upper(), help=docs)


class RunSettings:
    """The run settings and engine options of one command, merged from the scenario file's
    ``[run]`` / ``[options.ENGINE]`` tables (defaults) and the command line (which wins)."""

    def __init__(self, run: dict, file_options: dict, file_by_engine: dict, cli_options: dict, cli_by_engine: dict):
        self.run = run
        self.file_options = file_options
        self.file_by_engine = file_by_engine
        self.cli_options = cli_options
        self.cli_by_engine = cli_by_engine

    def kwargs(self):
        """The keywords of ``oile_q.run`` other than engine options."""
        return {k: self.run.get(k) for k in ("steps", "t_max", "times", "seed", "p")} | {
            "schedule": self.run.get("schedule", "matching")
        }

    def check_against(self, names):
        """Every option must reach an engine of this command (``names``)."""

        engines = {n: get_engine(n) for n in names}
        for eng_name in list(self.cli_by_engine) + list(self.file_by_engine):
            if eng_name not in engine_names():
                raise InputError(
                    f"`--set {eng_name}.KEY`: no engine is called {eng_name!r}; expected among {engine_names()}."
                )
        for eng_name, opts in self.cli_by_engine.items():
            if eng_name not in engines:
                raise InputError(
                    f"`--set {eng_name}.{next(iter(opts))}` names engine {eng_name!r}, which this "
                    f"command does not run ({', '.join(names)})."
                )
        for key in self.cli_options:
            if not any(any(o.name == key for o in e.options) for e in engines.values()):
                owners = [n for n, e in _all_engines().items() if any(o.name == key for o in e.options)]
                where = f"; it is an option of {', '.join(owners)}" if owners else ""
                raise InputError(
                    f"`{key}` is not an option of engine{'s' if len(names) > 1 else ''} "
                    f"{', '.join(repr(n) for n in names)}{where}."
                )
        for key in self.file_options:
            if not any(any(o.name == key for o in e.options) for e in _all_engines().values()):
                raise InputError(
                    f"`run.{key}` is neither a run setting ({', '.join(RUN_KEYS)}) nor an option of any engine."
                )

    def options_for(self, engine):
        """The options of one engine: file defaults that it declares, then the command line."""
        declared = {o.name for o in engine.options}
        out = {k: v for k, v in self.file_options.items() if k in declared}
        out.update(self.file_by_engine.get(engine.name, {}))
        out.update({k: v for k, v in self.cli_options.items() if k in declared})
        out.update(self.cli_by_engine.get(engine.name, {}))
        return out


def _all_engines():

    return list_engines()


def _split_set(text):
    """``[ENGINE.]KEY=VALUE`` -> (engine or None, key, value)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    engine, dot, name = key.rpartition(".")
    if not sep or not name.isidentifier() or (dot and not engine):
        raise InputError(f"`--set` expects KEY=VALUE or ENGINE.KEY=VALUE; got {text!r}.")
    return (engine or None), name, parse_value(value)


def read_settings(args, scenario_path):
    """(Scenario, RunSettings) from a scenario file and parsed arguments."""

    scenario, run, file_by_engine = read_scenario_file(scenario_path)
    run = dict(run)
    file_options = {k: run.pop(k) for k in list(run) if k not in RUN_KEYS}
    extra = run.pop("options", {})
    if not isinstance(extra, dict):
        raise InputTypeError(f"`run.options` must be a table of engine options; got {extra!r}.")
    file_options.update(extra)
    for key in ("steps", "t_max", "times", "schedule", "seed", "p"):
        value = getattr(args, key, None)
        if value is not None:
            if key in ("steps", "t_max"):
                run.pop("steps", None)
                run.pop("t_max", None)
            run[key] = value
    sched = run.get("schedule")
    if isinstance(sched, str) and sched.endswith(".npy"):
        run["schedule"] = _load_npy(sched)
    return scenario, RunSettings(run, file_options, file_by_engine, *_cli_options(args))


def _cli_options(args):
    """(options for every engine that declares them, {engine: options}) from the flags and --set."""
    cli_options, cli_by_engine = {}, {}
    for name, value in vars(args).items():
        if name.startswith("opt__") and value is not None:
            cli_options[name[5:]] = value
    for text in getattr(args, "options", None) or []:
        engine, key, value = _split_set(text)
        if engine is None:
            cli_options[key] = value
        else:
            cli_by_engine.setdefault(engine, {})[key] = value
    return cli_options, cli_by_engine


def _load_npy(path):

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(
            f"`schedule` file {path!r} cannot be read as a .npy array: {' '.join(str(err).split())}."
        ) from err


def progress_wanted(args):
    """A progress bar unless --no-progress, and only on a terminal."""
    return not (getattr(args, "no_progress", False) or getattr(args, "quiet", False)) and sys.stderr.isatty()


def _duration(seconds: float) -> str:
    for unit, size in (("years", 3.15e7), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.2g} s"


def announce(prepared, args):
    """Say what the runs will cost before they start, and refuse those beyond ``--budget`` (unless
    ``--yes``) or beyond the memory available (always). ``prepared``: [(engine, request)]."""

    quiet = getattr(args, "quiet", False)
    total = 0.0
    for eng, request in prepared:
        for note in request.notes:
            if not quiet:
                print(f"oile-q: note: {note}", file=sys.stderr)
        cost = eng.estimate(request)
        if cost is None:
            continue
        if cost.memory_bytes > memory_budget():
            raise InputError(
                f"engine {eng.name!r} would need about {cost.memory_bytes / 1e9:.3g} GB ({cost.what}), more "
                f"than the {memory_budget() / 1e9:.3g} GB available; make it cheaper: {cost.hint}."
            )
        if cost.seconds is None:
            continue
        if cost.seconds > args.budget and not args.yes:
            raise InputError(
                f"`--budget`: engine {eng.name!r} would take an estimated {_duration(cost.seconds)} "
                f"({cost.what}), more than the budget of {_duration(args.budget)}; make it cheaper "
                f"({cost.hint}) or pass --yes to run it anyway."
            )
        total += cost.seconds
        if cost.seconds > ANNOUNCE_AFTER and not quiet:
            print(f"oile-q: engine {eng.name}: estimated {_duration(cost.seconds)} ({cost.what})", file=sys.stderr)
    return total


def prepare_run(scenario, engine_name, settings, progress, **extra):
    """Validate one engine's run (no work): (engine, request)."""

    eng = get_engine(engine_name)
    options = settings.options_for(eng)
    options.update(extra)
    return prepare(scenario, engine_name, progress=progress, **settings.kwargs(), **options)


# --------------------------------------------------------------------------- commands


def _parser(engines):
    top = Parser(prog="oile-q", description="OILE models of neutrino gases: run engines, compare them, run studies.")
    top.add_argument("--version", action="version", version=_version())
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    r = sub.add_parser(
        "run",
        help="run one engine on a scenario file and write a netCDF result",
        description="Run one engine on SCENARIO.toml and write the shared result to netCDF.",
    )
    r.add_argument("scenario", help="scenario TOML file")
    r.add_argument("--engine", help=f"{' | '.join(engines)} (default: oile)")
    r.add_argument("-o", "--output", required=True, help="output netCDF file")
    add_run_arguments(r, engines)

    c = sub.add_parser(
        "compare",
        help="run several engines on one scenario: figure + deviation table",
        description="Run several engines on SCENARIO.toml; write compare.png, deviations.csv/.md "
        "and one netCDF per engine into DIR. Every engine's request is validated "
        "before any runs.",
    )
    c.add_argument("scenario", help="scenario TOML file")
    c.add_argument("--engines", help="comma-separated engines (default: oile,master,meanfield)")
    c.add_argument(
        "--figure-basis",
        "--basis",
        dest="figure_basis",
        choices=["flavor", "mass"],
        default="flavor",
        help="basis of the figure and table (the option `basis` of engine exact: --set exact.basis=...)",
    )
    c.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    add_run_arguments(c, engines, taken={"basis"})

    rr = sub.add_parser(
        "rerun",
        help="run a result again from its own record (scenario, engine, schedule, options)",
        description="Re-run RESULT.nc from its attrs: the same scenario, engine, schedule (seed or "
        "explicit pairs), recorded times and options; flags override them.",
    )
    rr.add_argument("result", help="a netCDF result written by oile-q")
    rr.add_argument("--engine", help="another engine (the schedule and times are kept, the options dropped)")
    rr.add_argument("-o", "--output", required=True, help="output netCDF file")
    add_run_arguments(rr, engines)

    sub.add_parser(
        "engines",
        help="list the engines with their options",
        description="List every registered engine (built-in and plug-ins) with its options.",
    )

    s = sub.add_parser(
        "study",
        help="run a reproducible study from comparisons/ by name",
        description="Run a study from comparisons/ (figures, metrics table, data).",
    )
    s.add_argument("names", nargs="*", metavar="NAME", help="study names (see --list)")
    s.add_argument("--list", action="store_true", help="list the studies")
    s.add_argument("--all", action="store_true", help="run every study")
    s.add_argument(
        "-o",
        "--output",
        help="output folder for one study (default: comparisons/out/NAME in a source checkout, ./NAME otherwise)",
    )
    s.add_argument("--force", action="store_true", help="write into a non-empty --output folder")
    s.add_argument("--no-progress", action="store_true", help="no progress bars")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars or announcements")
    s.add_argument("--quick", action="store_true", help="a small, fast version (smoke test)")
    s.add_argument(
        "--publish",
        action="store_true",
        help="copy figures and tables to comparisons/results/NAME and rewrite comparisons/README.md",
    )

    # Implemented elsewhere (imported only when used).
    sub.add_parser(
        "circuit",
        add_help=False,
        help="circuit-specific commands: draw, fetch IBM jobs, list backends (`oile-q circuit --help`)",
    )
    sub.add_parser("sweep", add_help=False, help="parameter sweeps and seed ensembles on Dask (`oile-q sweep --help`)")
    return top


def _version():

    return f"oile-q {__version__}"


def cmd_run(args):

    check_output_file(args.output, "--output", force=args.force)
    scenario, settings = read_settings(args, args.scenario)
    engine = args.engine or settings.run.get("engine", "oile")
    settings.check_against([engine])
    eng, request = prepare_run(scenario, engine, settings, progress_wanted(args), **submit_hook(engine, args))
    announce([(eng, request)], args)
    write_result(execute(eng, request), args.output, force=args.force)
    return 0


def write_result(ds, output, *, force=False, note=""):
    """Save a result atomically and print where, with its summary."""

    save(ds, output, force=force)
    print(f"wrote {output}{note}")
    print(summary(ds))


def cmd_rerun(args):

    check_output_file(args.output, "--output", force=args.force)
    path = Path(args.result)
    if not path.is_file():
        raise InputError(f"`result` must be a netCDF file written by oile-q; got {str(path)!r}.")
    try:
        ds = load(path)
    except (OSError, ValueError) as err:
        raise InputError(
            f"`result` {str(path)!r} cannot be read as an oile-q netCDF result: {' '.join(str(err).split())}."
        ) from err
    scenario, engine, kw = rerun_arguments(ds)
    hidden = [n for n in ds.attrs.get("options_not_recorded", "").split(",") if n]
    if hidden and (args.engine or engine) == engine:
        raise InputError(
            f"`result` was computed with the option `{hidden[0]}`, which results do not record and the "
            "command line cannot give; re-run it from Python with oile_q.rerun(ds, "
            f"{hidden[0]}=...)."
        )
    if args.engine and args.engine != engine:
        kw = {k: v for k, v in kw.items() if k in ("times", "schedule", "seed", "p")}
        engine = args.engine
    for key in ("steps", "t_max", "times", "schedule", "seed", "p"):
        value = getattr(args, key, None)
        if value is not None:
            if key in ("steps", "t_max"):
                kw.pop("times", None)
            kw[key] = value
    if isinstance(kw.get("schedule"), str) and kw["schedule"].endswith(".npy"):
        kw["schedule"] = _load_npy(kw["schedule"])
    cli = RunSettings({}, {}, {}, *_cli_options(args))
    cli.check_against([engine])
    kw.update(cli.options_for(get_engine(engine)))
    eng, request = prepare(scenario, engine, progress=progress_wanted(args), **kw)
    announce([(eng, request)], args)
    write_result(execute(eng, request), args.output, force=args.force, note=f" (re-run of {args.result})")
    return 0


def submit_hook(engine_name, args):
    """Engines that submit jobs (an ``on_submit`` option) tell the user the job ids at once."""

    eng = get_engine(engine_name)
    if not any(o.name == "on_submit" for o in eng.options):
        return {}

    def submitted(ids):
        print(
            f"oile-q: submitted job(s) {' '.join(ids)}; if this session is interrupted, fetch them with: "
            f"oile-q circuit fetch {' '.join(ids)} --scenario {args.scenario} <the same options> -o {args.output}",
            file=sys.stderr,
        )

    return {"on_submit": submitted}


def cmd_compare(args):

    scenario, settings = read_settings(args, args.scenario)
    engines = args.engines or settings.run.get("engines", "oile,master,meanfield")
    if isinstance(engines, str):
        engines = [e.strip() for e in engines.split(",") if e.strip()]
    if len(engines) < 2 or len(set(engines)) != len(engines):
        raise InputError(f"`--engines` must name at least two different engines; got {engines}.")
    check_output_dir(
        args.output,
        "--output",
        force=args.force,
        writes=["compare.png", "deviations.csv", "deviations.md"] + [f"{e}.nc" for e in engines],
    )
    settings.check_against(engines)
    if (
        settings.run.get("seed") is None
        and isinstance(settings.run.get("schedule", "matching"), str)
        and scenario.kind != "foreground"
    ):
        settings.run["seed"] = fresh_seed()  # one schedule for every engine
    prepared = [prepare_run(scenario, e, settings, progress_wanted(args)) for e in engines]  # all checked first
    steps_engines = [(eng, req) for eng, req in prepared if eng.grid == "steps"]
    if steps_engines and settings.run.get("times") is not None:
        # every engine records the step ends a discrete engine records, so that all compare
        eng0, req0 = steps_engines[0]
        settings.run["times"] = list(req0.times)
        prepared = [
            prepared[i] if prepared[i][0].grid == "steps" else prepare_run(scenario, e, settings, progress_wanted(args))
            for i, e in enumerate(engines)
        ]
    announce(prepared, args)
    results = {eng.name: execute(eng, request) for eng, request in prepared}
    out = Path(args.output)
    out.mkdir(exist_ok=True)
    for e, ds in results.items():
        save(ds, out / f"{e}.nc", force=args.force)
    basis = args.figure_basis
    rows = deviation_table(results, basis=basis)
    text = write_table(
        rows,
        out / "deviations.csv",
        out / "deviations.md",
        title=f"Largest deviations between engines ({basis} basis), {Path(args.scenario).name}",
    )
    plot_engines(results, out / "compare.png", basis=basis, title=f"{Path(args.scenario).name}: {repr(scenario)}")
    print(text)
    print(
        f"wrote {out / 'compare.png'}, {out / 'deviations.csv'}, {out / 'deviations.md'} and {len(results)} "
        "netCDF files"
    )
    return 0


def cmd_engines(args):

    for name in engine_names():
        try:
            print(get_engine(name).describe())
        except InputError as err:
            print(f"{name}: not available here ({err})")
        print()
    return 0


def cmd_study(args):

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
    if args.publish:
        if args.quick:
            raise InputError("`--publish` publishes full runs only; drop `--quick`.")
        check_publish()  # before any run: publishing needs a writable source checkout
    outs = {}
    for name in names:
        if args.output:
            out = Path(args.output)
            # an explicit folder keeps what is in it unless --force; the default folder is oile-q's own
            if out.is_dir() and any(out.iterdir()) and not args.force:
                raise InputError(
                    f"`--output` folder {str(out)!r} is not empty; pass --force to write the study "
                    "into it (files of the same name are replaced)."
                )
        else:
            out = default_output(name)  # comparisons/out/NAME in a source checkout, else ./NAME
            out.parent.mkdir(exist_ok=True)
        check_output_dir(out, "--output")
        outs[name] = out
    if not args.quick:
        known = [published_seconds(n) for n in names]
        total = sum(x for x in known if x is not None)
        if total > ANNOUNCE_AFTER and not args.quiet:
            print(
                f"oile-q: the last published run{'s' if len(names) > 1 else ''} of {', '.join(names)} took "
                f"{_duration(total)} in all",
                file=sys.stderr,
            )

    for name, out in outs.items():
        out.mkdir(parents=True, exist_ok=True)
        with progress_default(progress_wanted(args)):  # the study's long runs show their progress
            report, seconds = run_study(name, out, quick=args.quick)
        print(f"study {name}: outputs in {out} ({seconds:.1f} s)")
        if report:
            print(f"report: {report}")
        if args.publish:
            print(f"published: {publish(name, out)}")
    if args.publish:
        print(f"index: {write_index()}")
    return 0


def _delegate(argv):
    command, rest = argv[0], argv[1:]
    if command == "sweep":
        return sweep_main(rest)
    try:
        from oile_q.circuits.cli import main as circuit_main  # cycle: it builds on this module's parts
    except ImportError as err:
        print(f"oile-q {command}: error: this part cannot be imported here: {err}", file=sys.stderr)
        return 2
    return circuit_main(rest)


def _dispatch(argv):

    parser = _parser(list_engines())
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return {"run": cmd_run, "rerun": cmd_rerun, "compare": cmd_compare, "engines": cmd_engines, "study": cmd_study}[
        args.command
    ](args)


def main(argv=None) -> int:
    """Entry point of ``oile-q``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["circuit"], ["sweep"]):
        return _delegate(argv)
    return guarded("oile-q", _dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
