"""Which local folders the MCP server may read: reference images come only from the allowed roots, and
previews are made only of files inside the output folder or those roots."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def allowed_roots(
    allowed_dirs: str | None, *, output_dir: Path, home: Path | None = None
) -> tuple[Path, ...]:
    """The resolved allowed roots: ``allowed_dirs`` (``os.pathsep``-separated), else home + output folder.

    Relative entries are ignored: they would depend on the working directory the client happened to use.
    """
    if allowed_dirs is not None and allowed_dirs.strip():
        entries = [Path(p.strip()).expanduser() for p in allowed_dirs.split(os.pathsep) if p.strip()]
        roots = [p for p in entries if p.is_absolute()]
    else:
        roots = [home or Path.home(), output_dir]
    return tuple(dict.fromkeys(_resolved(p) for p in roots))


def is_inside(path: Path, roots: Iterable[Path]) -> bool:
    """True when ``path`` (symlinks resolved) lies inside one of ``roots`` (already resolved)."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return any(resolved.is_relative_to(root) for root in roots)


def _resolved(path: Path) -> Path:
    return path.expanduser().resolve()
