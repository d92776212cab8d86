"""The distribution's name and version, for ``--version`` and the MCP handshake."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

DISTRIBUTION = "seedream-studio"


def version() -> str:
    """The installed version of seedream-studio (``0+unknown`` when run from a tree that is not installed)."""
    try:
        return _installed_version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"
