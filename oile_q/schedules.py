"""Who meets whom, when (docs/conventions.md, Schedules).

A schedule hands out its steps in chunks of int32 arrays (steps, N//2, 2), pairs (-1, -1)
padding the slots of particles that do not meet. Random schedules use a counter-based
generator keyed by (seed, step), so any chunking yields the same schedule and a run is
reproducible from its seed alone; ``generate`` writes a schedule out for explicit replay.

Kinds:

* ``"matching"``: a uniformly random perfect matching every step (N even);
* ``"round-robin"``: the circle-method 1-factorization of K_N, cycling through its
  N-1 matchings (N even);
* ``"poisson"``: each particle takes part with probability ``p`` per step, and the chosen
  ones are paired at random (paper II). A step then lasts mu*tau = p*gamma, so every
  particle still meets about one partner per gamma of mu*t;
* an explicit integer array (steps, k, 2), k <= N//2 (with ``p`` it replays a Poisson
  schedule: steps of mu*tau = p*gamma).
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import InputError, InputTypeError, check_int, check_real, describe

__all__ = ["Schedule", "make_schedule", "generate", "fresh_seed", "KINDS"]

KINDS = ("matching", "round-robin", "poisson")


class Schedule:
    """A validated schedule for N particles. Use ``make_schedule`` to build one."""

    def __init__(self, kind, n, *, seed=None, p=None, pairs=None):
        self.kind = kind
        self.n = n
        self.seed = seed
        self.p = p
        self.pairs = pairs

    @property
    def step_fraction(self) -> float:
        """mu*tau / gamma for one step: p for Poisson steps (also an explicit replay of one,
        given ``p``), 1 otherwise."""
        return 1.0 if self.p is None else self.p

    @property
    def length(self):
        """Number of steps available (None: unbounded)."""
        return None if self.pairs is None else self.pairs.shape[0]

    def chunk(self, start: int, count: int) -> np.ndarray:
        """Pairs for steps start .. start+count-1 as int32 (count, k, 2)."""
        from . import _kernels

        if self.kind == "matching":
            return _kernels.matching_chunk(self.seed, start, count, self.n)
        if self.kind == "round-robin":
            return _kernels.round_robin_chunk(start, count, self.n)
        if self.kind == "poisson":
            return _kernels.poisson_chunk(self.seed, start, count, self.n, self.p)
        return self.pairs[start : start + count]

    def meets(self, start: int, count: int) -> np.ndarray:
        """Foreground scenarios: whether each step start .. start+count-1 brings an
        encounter (always, unless the timing is Poisson)."""
        if self.kind == "foreground-poisson":
            from . import _kernels

            return _kernels.foreground_meets_chunk(self.seed, start, count, self.p)
        if self.kind == "foreground":
            return np.ones(count, dtype=bool)
        raise InputError(f"`meets` applies to foreground schedules; this one is {self.kind!r}.")

    def attrs(self) -> dict:
        """What a result records about the schedule."""
        out = {"schedule": self.kind}
        if self.seed is not None:
            out["seed"] = int(self.seed)
        if self.p is not None:
            out["p"] = float(self.p)
        return out


def fresh_seed() -> int:
    """A new random schedule seed (what a run records when none is given)."""
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])


def _check_explicit(pairs, n) -> np.ndarray:
    arr = np.asarray(pairs)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise InputTypeError(f"`schedule` array must hold integers; got dtype {arr.dtype}.")
    if arr.ndim != 3 or arr.shape[2] != 2 or arr.shape[0] < 1:
        raise InputError(f"`schedule` array must have shape (steps, pairs, 2); got shape {arr.shape}.")
    if arr.shape[1] > n // 2:
        raise InputError(f"`schedule` array has {arr.shape[1]} pairs per step; at most N//2 = {n // 2} fit N = {n}.")
    pad = arr < 0
    if np.any(pad[..., 0] != pad[..., 1]) or np.any(arr[pad] != -1):
        s = int(np.argwhere((pad[..., 0] != pad[..., 1]) | (arr < -1).any(-1))[0][0])
        raise InputError(f"`schedule` step {s}: padding must be the pair (-1, -1).")
    if np.any(arr >= n):
        s = int(np.argwhere((arr >= n).any(-1))[0][0])
        raise InputError(f"`schedule` step {s} names particle {int(arr[s].max())}; particles are 0..{n - 1}.")
    same = (arr[..., 0] == arr[..., 1]) & ~pad[..., 0]
    if np.any(same):
        s, k = (int(x) for x in np.argwhere(same)[0])
        raise InputError(f"`schedule` step {s} pairs particle {int(arr[s, k, 0])} with itself.")
    for s in range(arr.shape[0]):
        used = arr[s][arr[s] >= 0]
        if np.unique(used).size != used.size:
            vals, counts = np.unique(used, return_counts=True)
            raise InputError(
                f"`schedule` step {s} pairs particle {int(vals[counts > 1][0])} twice; each particle meets "
                "at most once per step."
            )
    return np.ascontiguousarray(arr, dtype=np.int32)


def make_schedule(schedule, n: int, *, seed=None, p=None, foreground=False, require_even=True) -> Schedule:
    """Validate a schedule request for n particles and return a ``Schedule``.

    ``require_even=False`` is for engines that use a perfect-matching schedule only for its
    time grid (meanfield, exact): odd N is then accepted.
    """
    if foreground:
        if not (isinstance(schedule, str) and schedule in ("matching", "foreground", "poisson")):
            raise InputError(
                "`schedule` must be 'foreground' (the default 'matching' means the same) or 'poisson' "
                f"for a foreground scenario; got {describe(schedule)}."
            )
        if schedule != "poisson":
            if p is not None:
                raise InputError("`p` applies to the 'poisson' schedule only.")
            return Schedule("foreground", n)
        if p is None:
            raise InputError("`p` is required for the 'poisson' schedule (probability 0 < p <= 1).")
        p = check_real("p", p, positive=True, high=1.0)
        seed = fresh_seed() if seed is None else check_int("seed", seed, low=0)
        return Schedule("foreground-poisson", n, seed=seed, p=p)
    if isinstance(schedule, str):
        if schedule not in KINDS:
            raise InputError(f"`schedule` must be one of {list(KINDS)} or an integer array; got {schedule!r}.")
        if schedule in ("matching", "round-robin") and n % 2 and require_even:
            raise InputError(f"`schedule` '{schedule}' needs an even number of particles; got N = {n}.")
        if schedule == "poisson":
            if p is None:
                raise InputError("`p` is required for the 'poisson' schedule (probability 0 < p <= 1).")
            p = check_real("p", p, positive=True, high=1.0)
        elif p is not None:
            raise InputError("`p` applies to the 'poisson' schedule only.")
        if schedule == "round-robin":
            if seed is not None:
                check_int("seed", seed, low=0)
            return Schedule(schedule, n)
        seed = fresh_seed() if seed is None else check_int("seed", seed, low=0)
        if seed >= 2**63:
            raise InputError(f"`seed` must be < 2**63; got {seed}.")
        return Schedule(schedule, n, seed=seed, p=p)
    if isinstance(schedule, (numbers.Number, bytes)) or schedule is None:
        raise InputTypeError(f"`schedule` must be a name or an integer array; got {describe(schedule)}.")
    if p is not None:  # an explicit replay of a Poisson schedule keeps its step length
        p = check_real("p", p, positive=True, high=1.0)
    return Schedule("explicit", n, p=p, pairs=_check_explicit(schedule, n))


def generate(schedule, n: int, steps: int, *, seed=None, p=None) -> np.ndarray:
    """The explicit pairs (steps, N//2, 2) of a named schedule, for replay by any engine."""
    steps = check_int("steps", steps, low=1)
    sched = make_schedule(schedule, check_int("n", n, low=2), seed=seed, p=p)
    return sched.chunk(0, steps)
