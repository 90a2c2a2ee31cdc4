"""Reading and writing files safely: the one TOML reader, atomic replacement, output-path checks,
and clean-up on every exit.

Every TOML file the project reads (scenario files, sweep specs, study configs) goes through
:func:`read_toml`: a regular file of UTF-8 text of at most ``MAX_TOML_BYTES``, every failure one
``InputError`` line naming the parameter the file was given as.

A file is written into a temporary sibling ``.NAME.<pid>.<random>.part`` (with the permissions a
plain ``open()`` would give) and renamed over the target only when complete, so a reader never
sees half a file and an interrupted write leaves the old file (or none) in place. The temporary
file is removed on every exit path Python sees (exceptions, Ctrl-C, SIGTERM once
``terminate_on_sigterm`` is installed, as the command line does); a ``kill -9`` cannot be seen,
so the next write to the same target removes the stale siblings whose process is gone.

Outputs are regular files only: an existing output is replaced only with ``force=True``, and
symbolic links, folders, device nodes, FIFOs and sockets are refused, as are folders on kernel
pseudo-filesystems (/proc, /sys, /dev, ...).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import stat
import tomllib
from pathlib import Path

from .errors import InputError

__all__ = [
    "read_toml",
    "MAX_TOML_BYTES",
    "atomic_write",
    "temp_sibling",
    "check_output_file",
    "check_output_dir",
    "clean_stale",
    "terminate_on_sigterm",
    "Terminated",
]

# Kernel and virtual filesystems: nothing of ours belongs there.
PSEUDO_FS = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "debugfs",
        "tracefs",
        "securityfs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "mqueue",
        "binfmt_misc",
        "autofs",
        "efivarfs",
        "hugetlbfs",
        "rpc_pipefs",
        "nsfs",
    }
)


MAX_TOML_BYTES = 256 * 2**20  # the files we read are text; anything larger is not one of them


def read_toml(path, name: str = "file") -> dict:
    """The parsed contents of a TOML file.

    Parameters
    ----------
    path : str or Path
        The file: a regular file of UTF-8 text, at most ``MAX_TOML_BYTES``.
    name : str
        The parameter the file was given as (``"scenario"``, ``"spec"``, ...): error messages
        name it.

    Returns
    -------
    dict
        The TOML document.

    Raises
    ------
    InputError
        One line naming ``name``: the file is missing, a folder or not a regular file (a FIFO or
        device would block or never end), too large, unreadable, not UTF-8 or not valid TOML.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.toml"
    >>> _ = path.write_text("gamma = 0.1\\n[run]\\nsteps = 10\\n")
    >>> read_toml(path, "scenario")
    {'gamma': 0.1, 'run': {'steps': 10}}
    >>> read_toml(path.parent, "scenario")
    Traceback (most recent call last):
    ...
    oile_q.errors.InputError: `scenario` must be a TOML file; got the folder '...'.
    """
    path = Path(path)
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"`{name}` must be a TOML file; got the folder {str(path)!r}.")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"`{name}` must be a TOML file; {str(path)!r} is {_kind(st.st_mode)}.")
        if st.st_size > MAX_TOML_BYTES:
            raise InputError(
                f"`{name}` file {str(path)!r} is {st.st_size / 2**20:.0f} MiB; it should be TOML text of at most "
                f"{MAX_TOML_BYTES // 2**20} MiB."
            )
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError as err:
        raise InputError(f"`{name}` file not found: {str(path)!r}.") from err
    except OSError as err:
        raise InputError(f"`{name}` file {str(path)!r} cannot be read: {err.strerror or err}.") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"`{name}` file {str(path)!r} is not UTF-8 text (a TOML file is expected).") from err
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"`{name}` file {str(path)!r} is not valid TOML: {' '.join(str(err).split())}.") from err


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM (see ``terminate_on_sigterm``) so that ``finally``
    blocks and temporary-file clean-up run before the process exits."""


def terminate_on_sigterm():
    """Turn SIGTERM into a ``Terminated`` exception in the main thread (idempotent)."""

    def handler(signum, frame):
        raise Terminated(f"terminated by signal {signum}")

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave the default
        pass


def _stale_pattern(name):
    return re.compile(r"^\." + re.escape(name) + r"\.(\d+)\.[^.]+\.part$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(path) -> list:
    """Remove temporary siblings of ``path`` left by processes that no longer run (a write
    killed by SIGKILL); returns the removed paths."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    pattern = _stale_pattern(path.name)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            try:
                os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                pass
    return removed


def temp_sibling(path) -> Path:
    """A fresh name for a temporary file next to ``path``: ``.NAME.<pid>.<random>.part``
    (nothing is created)."""
    path = Path(path)
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part"


def atomic_write(path, writer, mode="w"):
    """Write a file through ``writer(fh)`` into a temporary sibling, then rename it.

    ``writer`` may instead take a path (``mode=None``): it is then called with the temporary
    file's path, for libraries that open files themselves (netCDF)."""
    path = Path(path)
    clean_stale(path)
    # The temporary file's name is bound before the file exists, so that an exception at any
    # point after (Ctrl-C and SIGTERM can land between any two bytecodes, whichever thread the
    # signal reaches) finds it in the clean-up below.
    tmp = temp_sibling(path)
    try:
        while True:
            try:  # permissions as a plain open() gives them: 0o666 less the umask
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
                break
            except FileExistsError:
                tmp = temp_sibling(path)
        if mode is None:
            os.close(fd)
            writer(str(tmp))
        else:
            with os.fdopen(fd, mode) as fh:
                writer(fh)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _mount_types():
    """{mount point: filesystem type} from /proc/self/mountinfo (empty where unavailable)."""
    out = {}
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) >= 5 and right:
                    point = fields[4].replace("\\040", " ")
                    out[point] = right.split()[0]
    except OSError:
        pass
    return out


def _filesystem_type(folder: Path) -> str | None:
    real = os.path.realpath(folder)
    best, kind = "", None
    for point, fstype in _mount_types().items():
        if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, fstype
    return kind


def _kind(mode) -> str:
    for test, word in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISCHR, "a device node"),
        (stat.S_ISBLK, "a device node"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return word
    return "not a regular file"


def _check_folder(folder: Path, name: str):
    if not folder.is_dir():
        raise InputError(f"`{name}` folder does not exist: {str(folder)!r}.")
    fstype = _filesystem_type(folder)
    if fstype in PSEUDO_FS:
        raise InputError(
            f"`{name}` folder {str(folder)!r} is on the kernel's {fstype} filesystem; "
            "write results to a regular folder."
        )
    if not os.access(folder, os.W_OK):
        raise InputError(f"`{name}` folder is not writable: {str(folder)!r}.")


def check_output_file(path, name="output", *, force=False):
    """An output file path that may be written: its folder exists, is writable and is a real
    filesystem; nothing is there, or a regular file and ``force``. Returns the Path."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as err:
        raise InputError(f"`{name}` {str(path)!r} cannot be examined: {err.strerror or err}.") from err
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"`{name}` must be a regular file path; {str(path)!r} is {_kind(st.st_mode)}.")
        if not force:
            raise InputError(f"`{name}` {str(path)!r} exists; pass --force to replace it.")
    _check_folder(folder, name)
    return path


def check_output_dir(path, name="output", *, force=False, writes=None):
    """An output folder that exists or can be created (a real, writable folder). ``writes``: the
    file names that will be written in it; any of them already there needs ``force``."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise InputError(
            f"`{name}` must be a folder; {str(path)!r} is "
            f"{_kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else 'a file'}."
        )
    parent = path.parent if str(path.parent) else Path(".")
    if st is None:
        _check_folder(parent, name)
        return path
    _check_folder(path, name)
    for fname in writes or ():
        check_output_file(path / fname, name, force=force)
    return path
