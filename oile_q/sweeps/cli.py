"""``oile-q sweep SPEC.toml -o DIR ...`` and ``oile-q sweep collect DIR [-o OUT.nc]``, under the error
contract of every oile-q command (``oile_q.command.guarded``): bad input is one line and exit status 2
with nothing written, failed points exit 1, Ctrl-C 130, SIGTERM 143, a closed pipe is quiet."""

from __future__ import annotations

import json
import sys

from ..command import Parser, guarded
from ..io import check_output_dir, check_output_file
from ..results import save
from .collect import collect
from .execute import sweep

__all__ = ["main", "cli_main"]

PROG = "oile-q sweep"


def _run_parser() -> Parser:
    p = Parser(
        prog=PROG,
        description="Run every point of a sweep spec (TOML) on Dask; resumable: finished points are "
        "skipped. `oile-q sweep collect DIR` combines the results.",
        epilog="The spec layout and the axis names are documented in `python -m pydoc oile_q.sweeps`.",
    )
    p.add_argument("spec", help="sweep spec (TOML)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the store folder")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="attach to a running Dask scheduler (tcp://host:8786)")
    where.add_argument("--workers", type=int, metavar="N", help="worker processes of the LocalCluster (default: cores)")
    where.add_argument("--serial", action="store_true", help="compute in this process without Dask")
    p.add_argument("--force", action="store_true", help="replace the manifest of a different sweep in DIR")
    p.add_argument("--retry-failed", action="store_true", help="recompute points that failed before")
    p.add_argument("--batch", type=int, metavar="K", help="points per Dask task (default: ~0.2 s of work per task)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _collect_parser() -> Parser:
    p = Parser(
        prog=f"{PROG} collect",
        description="Combine a sweep's point files into one Dataset (sweep axes as dimensions, "
        "group observables and their statistics over seeds).",
    )
    p.add_argument("dir", help="the sweep folder")
    p.add_argument("-o", "--output", help="write the collected Dataset to this netCDF file")
    p.add_argument("--basis", choices=["flavor", "mass"], default="flavor", help="basis of the group observables")
    p.add_argument("--over", default="seed", help="ensemble dimension of the statistics (default seed)")
    p.add_argument("--allow-missing", action="store_true", help="NaN for points not finished")
    return p


def cmd_run(args) -> int:
    check_output_dir(args.output, "--output")
    res = sweep(
        args.spec,
        args.output,
        client="serial" if args.serial else args.scheduler,
        workers=args.workers,
        force=args.force,
        retry_failed=args.retry_failed,
        batch=args.batch,
        progress=not args.no_progress,
    )
    if res.failed:
        print(
            f"{PROG}: {len(res.failed)} of {res.unique} distinct points failed "
            "(rerun with --retry-failed to compute them again):",
            file=sys.stderr,
        )
        for label, err in res.failed.items():
            print(f"  point {label}: {err}", file=sys.stderr)
        return 1
    if args.no_progress:
        print(
            f"{PROG}: {res.count_text()} done ({res.computed} computed, {res.reused} already done) "
            f"in {str(res.out_dir)!r}"
        )
    return 0


def cmd_collect(args) -> int:
    if args.output:
        check_output_file(args.output, "--output")
    ds = collect(args.dir, basis=args.basis, over=args.over, allow_missing=args.allow_missing)
    sizes = ", ".join(f"{d} {n}" for d, n in ds.sizes.items())
    if args.output:
        save(ds, args.output)
        print(f"wrote {args.output} ({sizes})")
        return 0
    dims = json.loads(ds.attrs["sweep_dims"])
    axes = ", ".join(f"{d} {ds.sizes[d]}" for d in dims) or "one"
    print(f"sweep {args.dir!r}: {ds['done'].size} points ({axes}), {int(ds['done'].sum())} finished")
    print(f"dimensions: {sizes}")
    print("variables:")
    for name, var in ds.data_vars.items():
        print(f"  {name}({', '.join(var.dims)})")
    print("write it with -o OUT.nc; in Python: oile_q.sweep.collect(DIR)")
    return 0


def _dispatch(argv: list) -> int:
    collecting = argv[:1] == ["collect"]
    try:
        args = _collect_parser().parse_args(argv[1:]) if collecting else _run_parser().parse_args(argv)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    return cmd_collect(args) if collecting else cmd_run(args)


def main(argv=None) -> int:
    """Entry point of ``oile-q sweep``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return guarded(PROG, _dispatch, argv, on_interrupt="run the same command again to resume")


cli_main = main  # the name ``oile_q.cli`` and the tests use
