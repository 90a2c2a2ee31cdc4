"""What a Dask worker runs: one point (or a batch of points) of a sweep, each written to its own
file in the store, or its error to a failure record -- never raised, so the others go on."""

from __future__ import annotations

import copy
import json
import time

from ..results import save
from ..runner import run
from ..scenario import Scenario
from .common import one_line
from .store import Store

__all__ = ["run_point", "run_batch"]


def run_point(out_dir, run_id: str, h: str, params: dict, payload: dict) -> dict:
    """Compute one point and write it to ``DIR/points/HASH.nc`` (or its error to
    ``DIR/failed/HASH.json``).

    Parameters
    ----------
    out_dir : str or Path
        The store.
    run_id : str
        The id of the sweep run (in the log).
    h : str
        The point's hash (its file name).
    params : dict
        The point's axis values (recorded in the result's ``sweep_params`` attribute).
    payload : dict
        What to run: ``scenario`` (a ``Scenario.from_dict`` layout), ``engine``, ``run``
        keywords and ``options``.

    Returns
    -------
    dict
        ``{"hash", "status": "done" | "failed", "seconds"}`` and, for a failure, ``"error"``.
    """
    store = Store(out_dir)
    path = store.point_path(h)
    if path.is_file():  # finished meanwhile (e.g. by a duplicate cell of the grid)
        store.log(run_id, "skip", hash=h)
        return {"hash": h, "status": "done", "seconds": 0.0}
    store.log(run_id, "start", hash=h)
    t0 = time.perf_counter()
    try:
        sc = Scenario.from_dict(copy.deepcopy(payload["scenario"]))
        ds = run(sc, payload["engine"], **payload["run"], **payload["options"])
        ds.attrs["sweep_hash"] = h
        ds.attrs["sweep_params"] = json.dumps(params, sort_keys=True)
        save(ds, path)
    except Exception as err:  # a failing point is recorded; the others go on
        line = one_line(err)
        store.record_failure(run_id, h, params, line)
        return {"hash": h, "status": "failed", "error": line, "seconds": time.perf_counter() - t0}
    seconds = time.perf_counter() - t0
    store.log(run_id, "done", hash=h, seconds=round(seconds, 4))
    return {"hash": h, "status": "done", "seconds": seconds}


def run_batch(out_dir, run_id: str, items: list) -> list:
    """Run several points in one task: ``items`` is a list of (hash, params, payload); returns
    their status dicts (see :func:`run_point`)."""
    return [run_point(out_dir, run_id, h, params, payload) for h, params, payload in items]
