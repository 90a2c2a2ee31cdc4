"""``oile-q circuit``: what is circuit-specific on the command line.

    oile-q circuit [run] SCENARIO.toml [run settings] [circuit options] [--draw PREFIX] -o out.nc
    oile-q circuit [run] SCENARIO.toml [run settings] [circuit options] --dry-run   # submits nothing
    oile-q circuit draw SCENARIO.toml [run settings] [circuit options] PREFIX
    oile-q circuit fetch JOB_ID [JOB_ID ...] --scenario SCENARIO.toml [the submitting run's options] -o out.nc
    oile-q circuit backends          # the fake IBM backend names

``run`` is ``oile-q run --engine circuit`` (the same flags, generated from the circuit engine's
options: ``--backend``, ``--shots``, ``--compile``, ...), plus ``--draw``. Bad input ends with
one line on stderr, exit status 2, no traceback and no output file.
"""

from __future__ import annotations

import sys

from oile_q.cli import (
    Parser,
    add_run_arguments,
    announce,
    guarded,
    prepare_run,
    progress_wanted,
    read_settings,
    submit_hook,
    write_result,
)
from oile_q.engine import get_engine
from oile_q.errors import InputError
from oile_q.io import check_output_file
from oile_q.runner import execute
from oile_q.schedules import fresh_seed

from .backends import fake_backend_names

__all__ = ["main"]


def _engines():
    return {"circuit": get_engine("circuit")}


def _parser():
    engines = _engines()
    top = Parser(
        prog="oile-q circuit",
        description="Circuit-specific commands: run with drawings, draw without running, fetch IBM "
        "jobs, list the fake backends. Plain runs: `oile-q run --engine circuit ...`.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    r = sub.add_parser(
        "run",
        help="run a scenario as circuits (= oile-q run --engine circuit) and write the "
        "result; the word 'run' may be left out",
        description="Run SCENARIO.toml with the circuit engine and write the shared result.",
    )
    r.add_argument("scenario", help="scenario TOML file")
    r.add_argument("-o", "--output", help="output netCDF file (required unless --dry-run)")
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="submit and write nothing: print the circuits, shots, two-qubit gates, depth, estimated "
        "fidelity, qubits and device time, and the deviation the backend's noise model predicts",
    )
    r.add_argument("--no-predict", action="store_true", help="with --dry-run: skip the noise-model prediction")
    r.add_argument(
        "--draw",
        metavar="PREFIX",
        help="also save PREFIX_encounter.png (one encounter) and PREFIX_circuit.png (the circuit)",
    )
    add_run_arguments(r, engines)
    d = sub.add_parser(
        "draw",
        help="draw one encounter and the circuit of a request, without running it",
        description="Save PREFIX_encounter.png and PREFIX_circuit.png for SCENARIO.toml.",
    )
    d.add_argument("scenario", help="scenario TOML file")
    d.add_argument("prefix", metavar="PREFIX", help="output file prefix")
    add_run_arguments(d, engines)
    f = sub.add_parser(
        "fetch",
        help="fetch finished IBM jobs of an earlier run and write its result",
        description="Fetch finished IBM Quantum jobs (ids printed at submission) and write the "
        "result; give the same scenario and options as the submitting run.",
    )
    f.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="job id(s) in submission order")
    f.add_argument("--scenario", required=True, help="scenario TOML file of the submitting run")
    f.add_argument("-o", "--output", required=True, help="output netCDF file")
    add_run_arguments(f, engines, taken={"job_ids"})
    sub.add_parser("backends", help="list the fake IBM backend names")
    return top


def _request(args, scenario_path, **extra):
    scenario, settings = read_settings(args, scenario_path)
    settings.check_against(["circuit"])
    if (
        settings.run.get("seed") is None
        and scenario.kind != "foreground"
        and isinstance(settings.run.get("schedule", "matching"), str)
    ):
        settings.run["seed"] = fresh_seed()  # the drawing and the run must show one schedule
    return prepare_run(scenario, "circuit", settings, progress_wanted(args), **extra)


def cmd_dry_run(args):
    from .dryrun import dry_run, format_report  # heavy: Qiskit Aer

    if args.output or args.draw:
        raise InputError("`--dry-run` writes nothing; leave out --output and --draw.")
    eng, request = _request(args, args.scenario)
    print(format_report(dry_run(eng, request, predict=not args.no_predict)))
    return 0


def cmd_run(args):
    if args.dry_run:
        return cmd_dry_run(args)
    if args.no_predict:
        raise InputError("`--no-predict` applies to --dry-run only.")
    if not args.output:
        raise InputError("`--output` is required (the netCDF file to write), unless --dry-run.")
    check_output_file(args.output, "--output", force=args.force)
    if args.draw:
        for suffix in ("_encounter.png", "_circuit.png"):
            check_output_file(args.draw + suffix, "--draw", force=args.force)
    eng, request = _request(args, args.scenario, **submit_hook("circuit", args))
    announce([(eng, request)], args)
    if args.draw:
        from .draw import draw_request  # heavy: Qiskit

        for path in draw_request(request, args.draw):
            print(f"wrote {path}")
    write_result(execute(eng, request), args.output, force=args.force)
    return 0


def cmd_draw(args):
    from .draw import draw_request  # heavy: Qiskit

    for suffix in ("_encounter.png", "_circuit.png"):
        check_output_file(args.prefix + suffix, "PREFIX", force=args.force)
    _, request = _request(args, args.scenario)
    for path in draw_request(request, args.prefix):
        print(f"wrote {path}")
    return 0


def cmd_fetch(args):
    check_output_file(args.output, "--output", force=args.force)
    backend = args.opt__backend
    if not (isinstance(backend, str) and backend.startswith("ibm:")):
        raise InputError(f"`--backend` must be the IBM device of the submitted run ('ibm:<name>'); got {backend!r}.")
    eng, request = _request(args, args.scenario, job_ids=args.job_ids)
    write_result(execute(eng, request), args.output, force=args.force)
    return 0


def cmd_backends(args):
    print("\n".join(fake_backend_names()))
    return 0


def _dispatch(argv):
    if argv and argv[0] not in ("run", "draw", "fetch", "backends", "-h", "--help"):
        argv = ["run", *argv]
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return {"run": cmd_run, "draw": cmd_draw, "fetch": cmd_fetch, "backends": cmd_backends}[args.command](args)


def main(argv=None) -> int:
    """Entry point of ``oile-q circuit``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return guarded("oile-q circuit", _dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
