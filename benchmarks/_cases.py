"""What the benchmarks that run every case in its own subprocess share (``bench_exact.py``,
``bench_beams.py``): a case runs in a fresh interpreter, so that its peak memory (VmHWM) is its
own, and prints one JSON line that the parent reads.
"""

from __future__ import annotations

import json
import subprocess
import sys


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (GB; NaN where /proc is not available)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024 / 1e9
    return float("nan")


def run_case(script: str, args: list[str], label: str) -> dict | None:
    """Run ``python script *args`` and return the JSON of its last output line; if it fails, print
    ``label  failed: <its last error line>`` and return None."""
    res = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        print(f"{label}  failed: {last}", flush=True)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])
