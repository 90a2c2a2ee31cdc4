"""The version of oile-q, read from the installed distribution's metadata: ``pyproject.toml``
is the one place it is written."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oile-q")
except PackageNotFoundError:  # a source tree on sys.path without installing it
    __version__ = "0+unknown"

__all__ = ["__version__"]
