"""What the file system says about a path, in words a person can act on (a leaf module: no core imports).

Used by the environment checks (``core.environment``, ``core.jobs_check``), by storage when a save fails, and
by reference checking, so "read-only", "the disk is full" or "it is a FIFO" read the same everywhere.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path

_ERRNO_WORDS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.ENOTDIR: "part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ENOENT: "no such file or folder",
    errno.ELOOP: "too many symbolic links",
    errno.EIO: "an input/output error (a failing disk or a lost network share?)",
}


def describe_os_error(error: OSError) -> str:
    """``error`` as a few words: "permission denied", "the disk is full" …"""
    if error.errno in _ERRNO_WORDS:
        return _ERRNO_WORDS[error.errno]
    return (error.strerror or type(error).__name__).lower()


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is: "a file", "a folder", "a named pipe", "a character device" …"""
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into ``folder`` (created if missing), or ``None`` when they can.

    A real probe (a hidden file created and removed), because permission bits do not tell the whole story:
    root ignores them, a read-only mount or a full disk does not show in them.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"it is {_kind_of(folder)}, not a folder"
    except NotADirectoryError:
        blocking = next((p for p in reversed(folder.parents) if p.exists() and not p.is_dir()), None)
        return f"{blocking} is {_kind_of(blocking)}, not a folder" if blocking else _ERRNO_WORDS[errno.ENOTDIR]
    except OSError as exc:
        return f"it cannot be created ({describe_os_error(exc)})"
    try:
        handle, probe = tempfile.mkstemp(prefix=".seedream-write-test-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        return f"files cannot be written there ({describe_os_error(exc)})"
    return None


def free_bytes(folder: Path) -> int | None:
    """Bytes free for this user on the disk holding ``folder`` (``None`` when the system cannot say)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def megabytes(n: int) -> str:
    """``n`` bytes as a short human figure ("1.5 MB")."""
    return f"{n / 1_000_000:.3g} MB" if n >= 100_000 else f"{n / 1000:.3g} KB"


def _kind_of(path: Path) -> str:
    try:
        return file_kind(path.stat().st_mode)
    except OSError:
        return "not a folder"
