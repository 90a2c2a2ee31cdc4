"""The store of a sweep: one folder holding the manifest, one netCDF file per finished point, one
record per failed point, an event log and a lock (layout in the package docstring)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .._version import __version__
from ..errors import InputError
from ..io import atomic_write
from .common import FAILED, FORMAT, HASH_CHARS, LOCK, LOG, MANIFEST, POINTS, group_runs

__all__ = ["Store"]


class Store:
    """The on-disk layout of one sweep folder (see the package docstring): paths, the finished
    and failed points, the manifest, the lock, the event log and the failure records.

    Parameters
    ----------
    root : str or Path
        The sweep folder.
    """

    def __init__(self, root):
        self.root = Path(root)
        self.points = self.root / POINTS
        self.failed_dir = self.root / FAILED
        self.manifest = self.root / MANIFEST
        self.log_path = self.root / LOG

    def point_path(self, h) -> Path:
        return self.points / f"{h}.nc"

    def failed_path(self, h) -> Path:
        return self.failed_dir / f"{h}.json"

    def done(self) -> set:
        if not self.points.is_dir():
            return set()
        return {
            p.name[:-3]
            for p in self.points.iterdir()
            if p.name.endswith(".nc") and len(p.name) == HASH_CHARS + 3 and p.is_file()
        }

    def failed(self) -> dict:
        if not self.failed_dir.is_dir():
            return {}
        out = {}
        for p in self.failed_dir.glob("*.json"):
            try:
                out[p.stem] = json.loads(p.read_text())
            except (OSError, ValueError):  # unreadable record: treat as failed, unknown error
                out[p.stem] = {"error": "unreadable failure record"}
        return out

    def partials(self) -> list:
        found = []
        for folder in (self.root, self.points, self.failed_dir):
            if folder.is_dir():
                found += [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".part")]
        return found

    def read_manifest(self):
        if not self.manifest.exists():
            return None
        try:
            data = json.loads(self.manifest.read_text())
        except ValueError as err:
            raise InputError(f"`out_dir` manifest {str(self.manifest)!r} is not valid JSON: {err}.") from err
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"`out_dir` {str(self.root)!r} holds no oile-q sweep manifest of format {FORMAT!r}.")
        return data

    def write_manifest(self, spec, points) -> None:
        data = {
            "format": FORMAT,
            "version": __version__,
            "spec_hash": spec.hash,
            "spec": spec.to_dict(),
            "dims": list(spec.dims),
            "shape": list(spec.shape),
            "coords": {a.dim: {p: [v[k] for v in a.values] for k, p in enumerate(a.params)} for a in spec.axes},
            "points": [
                {
                    "index": list(pt.index),
                    "hash": pt.hash,
                    "params": pt.params,
                    "theta": float(pt.payload["scenario"].get("theta", 0.0)),
                    "groups": group_runs(pt.payload["scenario"]),
                }
                for pt in points
            ],
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write(self.manifest, lambda fh: json.dump(data, fh, indent=1))

    @contextlib.contextmanager
    def lock(self):
        """Hold ``DIR/.lock`` (released by the kernel if the process dies)."""
        fh = open(self.root / LOCK, "a")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as err:
                raise InputError(
                    f"`out_dir` {str(self.root)!r} is in use by another oile-q sweep "
                    f"(it holds {str(self.root / LOCK)!r})."
                ) from err
            yield
        finally:
            fh.close()

    def log(self, run_id: str, event: str, **fields) -> None:
        """Append one JSON line to ``DIR/log.jsonl`` (one write call with O_APPEND, so lines from
        several worker processes do not interleave)."""
        record = {"run": run_id, "event": event, "pid": os.getpid(), "host": socket.gethostname()}
        record.update(t=round(time.time(), 3), **fields)
        line = json.dumps(record, sort_keys=True) + "\n"
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def record_failure(self, run_id: str, h: str, params: dict, error: str) -> None:
        """Write the failure record ``DIR/failed/HASH.json`` of a point (atomically) and log it."""
        record = {"hash": h, "params": params, "error": error, "run": run_id, "host": socket.gethostname()}
        record["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        atomic_write(self.failed_path(h), lambda fh: json.dump(record, fh))
        self.log(run_id, "failed", hash=h, error=error)
