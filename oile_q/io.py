"""Writing files safely: atomic replacement, and the checks an output path must pass.

A file is written into a temporary sibling (``.NAME.*.part``, with the permissions a plain
``open()`` would give) and renamed over the target only when complete, so a reader never sees
half a file and an interrupted write leaves the old file (or none) in place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError

__all__ = ["atomic_write", "temp_sibling", "check_output_file", "check_output_dir"]


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_sibling(path):
    """A new temporary file next to ``path`` with the permissions a plain open() would give.
    Returns (file descriptor, path)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.chmod(tmp, _umask_mode())
    return fd, tmp


def atomic_write(path, writer, mode="w"):
    """Write a file through ``writer(fh)`` into a temporary sibling, then rename it.

    ``writer`` may instead take a path (``mode=None``): it is then called with the temporary
    file's path, for libraries that open files themselves (netCDF)."""
    path = Path(path)
    fd, tmp = temp_sibling(path)
    try:
        if mode is None:
            os.close(fd)
            writer(tmp)
        else:
            with os.fdopen(fd, mode) as fh:
                writer(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def check_output_file(path, name="output"):
    """An output file path whose folder exists and is writable (the file is written later)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"`{name}` must be a file path; got the folder {str(path)!r}.")
    if not parent.is_dir():
        raise InputError(f"`{name}` folder does not exist: {str(parent)!r}.")
    if not os.access(parent, os.W_OK):
        raise InputError(f"`{name}` folder is not writable: {str(parent)!r}.")
    return path


def check_output_dir(path, name="output"):
    """An output folder that exists or can be created, and is writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"`{name}` must be a folder; got the file {str(path)!r}.")
    parent = path.parent if str(path.parent) else Path(".")
    if not path.exists() and not parent.is_dir():
        raise InputError(f"`{name}` parent folder does not exist: {str(parent)!r}.")
    target = path if path.exists() else parent
    if not os.access(target, os.W_OK):
        raise InputError(f"`{name}` folder is not writable: {str(target)!r}.")
    return path
