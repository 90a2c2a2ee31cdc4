"""What every ``oile-q`` command shares: the argument parser with one-line errors and the error
contract (``guarded``): bad input is one line and exit status 2, a bug shows its traceback and exits
1, Ctrl-C exits 130, SIGTERM 143, and a closed pipe is quiet."""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from .errors import InputError
from .io import Terminated, terminate_on_sigterm

__all__ = ["CLIError", "Parser", "guarded"]


class CLIError(InputError):
    """A usage error found by the argument parser: one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message):
        raise CLIError(f"{self.prog}: error: {message}")


def guarded(prog: str, command, *args, on_interrupt: str = "") -> int:
    """Run ``command(*args)`` under the error contract of every oile-q command.

    Parameters
    ----------
    prog : str
        The command's name, which starts every message ("oile-q", "oile-q sweep").
    command : callable
        Returns the exit status.
    args :
        Passed to ``command``.
    on_interrupt : str
        Added to the message after Ctrl-C or SIGTERM (e.g. how to resume).

    Returns
    -------
    int
        ``command``'s status; 2 for bad input (one line on stderr), 130 after Ctrl-C, 143 after
        SIGTERM, 0 after a closed pipe (quietly), 1 when the machine refused (disk full, ...) and
        for a bug (the traceback and an "internal error" line).
    """
    terminate_on_sigterm()  # SIGTERM unwinds like Ctrl-C: temporary files are removed
    try:
        return command(*args)
    except CLIError as err:
        print(" ".join(str(err).split()), file=sys.stderr)
        return 2
    except InputError as err:
        print(f"{prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted" + (f"; {on_interrupt}" if on_interrupt else ""), file=sys.stderr)
        return 130
    except Terminated:
        print(f"{prog}: terminated" + (f"; {on_interrupt}" if on_interrupt else ""), file=sys.stderr)
        return 143
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except OSError as err:  # the machine refused (disk full, ...): not a bug, not bad input
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # anything else is a bug: say so, with the traceback
        traceback.print_exc()
        print(
            f"{prog}: internal error (a bug in oile-q, please report it with the traceback above): "
            f"{type(err).__name__}: {' '.join(str(err).split())}",
            file=sys.stderr,
        )
        return 1


def _quiet_stdout():
    """After a closed pipe, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
