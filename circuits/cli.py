"""``oile-q circuit``: run OILE encounters as Qiskit circuits, draw them, fetch IBM jobs.

    oile-q circuit [run] SCENARIO.toml --backend aer|aer-shots|aer-noise:fake_<name>|fake_<name>|ibm:<name>
                   (--steps N | --t-max T) [--times ...] [--shots S] [--compile MODE] [--draw PREFIX] -o out.nc
    oile-q circuit fetch JOB_ID [JOB_ID ...] --scenario SCENARIO.toml --backend ibm:<name> <same options> -o out.nc
    oile-q circuit backends          # the fake backend names

Bad input ends with one line on stderr, exit status 2, no traceback and no output file
(results are computed first, then written atomically).
"""

from __future__ import annotations

from oile_q.errors import InputError, InputTypeError

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main"]

_CORE_KEYS = {"engine", "engines", "steps", "t_max", "times", "schedule", "seed", "p", "propagator",
              "isotropic", "rtol", "atol", "method"}
_CIRCUIT_KEYS = {"backend", "shots", "compile", "circuit", "reset", "particles", "seed_simulator",
                 "seed_transpiler", "optimization_level", "max_encounters"}
_IGNORED = {"engine", "engines", "propagator", "isotropic", "rtol", "atol", "method"}  # other engines' keys


from oile_q.cli import CLIError, _Parser  # one error contract for every oile-q command
from oile_q.cli import _times as _floats


def _ints(text):
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from err


def _add_common(p):
    p.add_argument("--backend", help="aer (exact, default) | aer-shots | aer-noise:fake_<name> | fake_<name> | ibm:<name>")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="number of encounter steps")
    length.add_argument("--t-max", type=float, dest="t_max", help="final mu t")
    p.add_argument("--times", type=_floats, help="comma-separated mu t values to record (shot backends: "
                   "one measured circuit per time and basis)")
    p.add_argument("--schedule", help="matching | round-robin | poisson | path to a .npy array (steps, k, 2)")
    p.add_argument("--seed", type=int, help="seed of a random schedule")
    p.add_argument("--p", type=float, help="Poisson encounter probability per step")
    p.add_argument("--shots", type=int, help="shots per circuit and basis (shot backends; default 4000)")
    p.add_argument("--compile", choices=["exact", "split", "symmetric", "isometry"],
                   help="encounter compilation (default exact)")
    p.add_argument("--circuit", choices=["tree", "closed"], help="ensembles: light-cone tree (default) or closed N-qubit")
    p.add_argument("--no-reset", action="store_true", default=None,
                   help="foreground: fresh partner qubits instead of reset")
    p.add_argument("--particles", type=_ints, help="tree: comma-separated particle indices (default all)")
    p.add_argument("--seed-simulator", type=int, dest="seed_simulator", help="seed of the shot sampling")
    p.add_argument("--seed-transpiler", type=int, dest="seed_transpiler", help="seed of the transpiler (default 0)")
    p.add_argument("--optimization-level", type=int, dest="optimization_level", help="preset pass manager level (default 3)")
    p.add_argument("--max-encounters", type=int, dest="max_encounters", help="largest light-cone tree in encounters (default 1023)")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")


def _parser():
    top = _Parser(prog="oile-q circuit",
                  description="Run OILE encounters as Qiskit circuits (SWAP-power gates, vacuum rotations, "
                              "mid-circuit reset) on Aer, fake IBM backends or IBM hardware.")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    r = sub.add_parser("run", help="run a scenario file as circuits and write the shared netCDF result "
                                   "(the word 'run' may be left out)",
                       description="Run SCENARIO.toml with the circuit engine and write the shared result.")
    r.add_argument("scenario", help="scenario TOML file")
    _add_common(r)
    r.add_argument("--draw", metavar="PREFIX",
                   help="also save PREFIX_encounter.png (one encounter) and PREFIX_circuit.png (the circuit)")
    f = sub.add_parser("fetch", help="fetch finished IBM jobs of an earlier run and write its result",
                       description="Fetch finished IBM Quantum jobs (ids printed at submission) and write the "
                                   "result; give the same scenario and options as the submitting run.")
    f.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="job id(s) in submission order")
    f.add_argument("--scenario", required=True, help="scenario TOML file of the submitting run")
    _add_common(f)
    sub.add_parser("backends", help="list the fake IBM backend names")
    return top


def _check_output_file(path, flag="--output"):
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"`{flag}` must be a file path; got the folder {str(path)!r}.")
    if not parent.is_dir():
        raise InputError(f"`{flag}` folder does not exist: {str(parent)!r}.")
    if not os.access(parent, os.W_OK):
        raise InputError(f"`{flag}` folder is not writable: {str(parent)!r}.")


def _settings(args, scenario_path):
    from oile_q.scenario import Scenario

    try:
        run = Scenario.run_settings_from_toml(scenario_path)
    except FileNotFoundError as err:
        raise InputError(f"`scenario` file not found: {str(scenario_path)!r}.") from err
    unknown = sorted(set(run) - _CORE_KEYS - _CIRCUIT_KEYS)
    if unknown:
        raise InputError(f"`run` has unknown key {unknown[0]!r}; expected keys among "
                         f"{sorted(_CORE_KEYS | _CIRCUIT_KEYS)}.")
    for key in _IGNORED:
        run.pop(key, None)
    for key in ("steps", "t_max", "times", "schedule", "seed", "p", "backend", "shots", "compile", "circuit",
                "particles", "seed_simulator", "seed_transpiler", "optimization_level", "max_encounters"):
        value = getattr(args, key, None)
        if value is not None:
            if key in ("steps", "t_max"):
                run.pop("steps", None)
                run.pop("t_max", None)
            run[key] = value
    if args.no_reset:
        run["reset"] = False
    sched = run.get("schedule")
    if isinstance(sched, str) and sched.endswith(".npy"):
        import numpy as np

        try:
            run["schedule"] = np.load(sched)
        except (OSError, ValueError) as err:
            raise InputError(f"`schedule` file {sched!r} cannot be read as a .npy array: {err}.") from err
    return run


def _run(scenario, run, **extra):
    from .engine import run_engine

    options = {k: run[k] for k in _CIRCUIT_KEYS | {"p"} if k in run}
    return run_engine(scenario, "circuit", steps=run.get("steps"), t_max=run.get("t_max"), times=run.get("times"),
                      schedule=run.get("schedule", "matching"), seed=run.get("seed"), **options, **extra)


def _summary(ds):
    parts = [f"{ds.attrs['backend']}", f"{ds.attrs['circuit']}", f"{ds.sizes['time']} times",
             f"{int(ds['particle_computed'].sum())} particle(s)", f"{ds.attrs['encounters']} encounters",
             f"{ds.attrs['qubits']} qubits"]
    if "transpiled_2q_per_encounter" in ds.attrs:
        parts.append(f"{ds.attrs['transpiled_2q_per_encounter']} two-qubit gates and depth "
                     f"{ds.attrs['transpiled_depth_per_encounter']} per encounter after transpiling")
    if "max_deviation_from_ideal" in ds.attrs:
        parts.append(f"max |P - P_ideal| = {ds.attrs['max_deviation_from_ideal']:.3g}")
    return ", ".join(parts)


def cmd_run(args):
    from oile_q.results import save
    from oile_q.scenario import Scenario

    _check_output_file(args.output)
    if args.draw:
        _check_output_file(args.draw + "_circuit.png", "--draw")
    scenario = Scenario.from_toml(args.scenario)
    run = _settings(args, args.scenario)
    seed = run.get("seed")
    if seed is None and scenario.kind != "foreground" and isinstance(run.get("schedule", "matching"), str):
        # draw and run must use one schedule: fix the seed before either
        import numpy as np

        run["seed"] = int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])

    def submitted(ids):
        print(f"oile-q circuit: submitted IBM job(s) {' '.join(ids)}; if this session is interrupted, fetch with: "
              f"oile-q circuit fetch {' '.join(ids)} --scenario {args.scenario} <the same options> -o {args.output}",
              file=sys.stderr)

    ds = _run(scenario, run, on_submit=submitted)
    if args.draw:
        from .draw import draw_run

        for path in draw_run(scenario, run, args.draw):
            print(f"wrote {path}")
    save(ds, args.output)
    print(f"wrote {args.output} ({_summary(ds)})")
    return 0


def cmd_fetch(args):
    from oile_q.results import save
    from oile_q.scenario import Scenario

    _check_output_file(args.output)
    scenario = Scenario.from_toml(args.scenario)
    run = _settings(args, args.scenario)
    backend = run.get("backend")
    if not (isinstance(backend, str) and backend.startswith("ibm:")):
        raise InputError(f"`--backend` must be the IBM device of the submitted run ('ibm:<name>'); got {backend!r}.")
    ds = _run(scenario, run, job_ids=args.job_ids)
    save(ds, args.output)
    print(f"wrote {args.output} ({_summary(ds)})")
    return 0


def cmd_backends(args):
    from .backends import fake_backend_names

    print("\n".join(fake_backend_names()))
    return 0


def main(argv=None) -> int:
    """Entry point of ``oile-q circuit``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] not in ("run", "fetch", "backends", "-h", "--help"):
        argv = ["run", *argv]
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return {"run": cmd_run, "fetch": cmd_fetch, "backends": cmd_backends}[args.command](args)
    except CLIError as err:
        print(f"{err}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as err:
        msg = " ".join(str(err).split())
        print(f"oile-q circuit: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("oile-q circuit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
