"""Progress of long work, for engines (steps of one run) and sweeps (points of many runs) alike:
a bar on stderr, a callback, or nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable

from .errors import InputTypeError, describe

__all__ = ["Progress"]

_CALLBACKS = {"fraction": "f(fraction)", "counts": "f(done, failed, total)"}


class Progress:
    """Progress reporting: nothing, a tqdm bar on stderr, or a callback.

    Engines receive one in their request (``request.progress``) and call ``start(total, unit)``
    once and ``update(done)`` as they go; ``oile_q.sweep`` reports finished points with their
    failures the same way.

    Parameters
    ----------
    spec : bool or callable
        False: nothing. True: a bar on stderr. A callable: called with the fraction done
        (``callback="fraction"``) or with ``(done, failed, total)`` (``callback="counts"``).
    desc : str
        The bar's label.
    callback : {"fraction", "counts"}
        The signature of a callable ``spec``; "counts" also shows the failures on the bar.
    delay : float
        Seconds before the bar appears (short runs show none).
    leave : bool
        Keep the finished bar on the screen.

    Raises
    ------
    InputTypeError
        ``spec`` is neither a bool nor callable (the message names ``progress``).

    Examples
    --------
    >>> seen = []
    >>> p = Progress(seen.append).start(4)
    >>> p.update(1); p.update(4); p.close()
    >>> seen
    [0.25, 1.0]
    >>> counts = []
    >>> p = Progress(lambda *c: counts.append(c), callback="counts").start(3, "point")
    >>> p.update(2, failed=1); counts
    [(2, 1, 3)]
    """

    def __init__(
        self,
        spec: bool | Callable = False,
        desc: str = "",
        *,
        callback: str = "fraction",
        delay: float = 2.0,
        leave: bool = False,
    ):
        if callback not in _CALLBACKS:
            raise ValueError(f"callback must be one of {sorted(_CALLBACKS)}; got {callback!r}")
        if not (isinstance(spec, bool) or callable(spec)):
            raise InputTypeError(
                f"`progress` must be True, False or a callable {_CALLBACKS[callback]}; got {describe(spec)}."
            )
        self.spec = spec
        self.desc = desc
        self.callback = callback
        self.delay = delay
        self.leave = leave
        self.total = 0
        self.done = 0
        self.failed = 0
        self.bar = None

    def start(self, total: int, unit: str = "step") -> Progress:
        """Begin counting to ``total`` (a bar appears after ``delay`` when ``spec`` is True).

        Returns
        -------
        Progress
            This object, so that ``bar = request.progress.start(n)`` reads naturally.
        """
        self.total = max(int(total), 0)
        if self.spec is True and self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total,
                desc=self.desc,
                delay=self.delay,
                unit=unit,
                leave=self.leave,
                file=sys.stderr,
                dynamic_ncols=True,
            )
            if self.callback == "counts":
                self.bar.set_postfix(failed=0, refresh=False)
        return self

    def update(self, done: int, failed: int | None = None) -> None:
        """Report ``done`` units finished so far (and ``failed`` of them failed, when counted)."""
        self.done = int(done)
        if failed is not None:
            changed = int(failed) != self.failed
            self.failed = int(failed)
            if self.bar is not None and changed:
                self.bar.set_postfix(failed=self.failed, refresh=False)
        if self.bar is not None:
            self.bar.update(self.done - self.bar.n)
        elif callable(self.spec):
            if self.callback == "counts":
                self.spec(self.done, self.failed, self.total)
            else:
                self.spec(min(1.0, self.done / self.total) if self.total else 1.0)

    def write(self, text: str) -> None:
        """A line on stderr when a bar is wanted (above the bar once it is showing)."""
        if self.spec is not True:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        """Remove (or, with ``leave``, finish) the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
