"""Is this job database file ours, usable and writable? Asked before any store opens it, by reading only.

A store opening a file writes to it at once (journal mode, schema), so a file that is not ours — another
program's SQLite database, a damaged one, or something that is not a database at all — must be refused
*before* that, and left byte for byte as it was. Any store over a SQLite file calls ``check_jobs_database``
before opening; the message names the file, what is wrong and the way out (another path, or one command
that moves the file aside).

A file is ours when it is empty (a new database), or a SQLite database that is empty or has our ``jobs``
table. Our own database from an older schema is fine here: the store migrates it.
"""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
from pathlib import Path
from urllib.parse import quote

from core.errors import ConfigurationError
from core.filesystem import describe_os_error, file_kind, folder_problem

SQLITE_HEADER = b"SQLite format 3\x00"
OUR_TABLE = "jobs"


def check_jobs_database(path: Path, *, variable: str = "SEEDREAM_JOBS_DB", newest_schema: int | None = None) -> None:
    """Refuse a job database file this version must not open (never writing to it); create its folder.

    ``variable`` is the setting to name in the way out; ``newest_schema`` the newest ``PRAGMA user_version``
    the caller's store reads (a file from a newer version is refused before it is touched).

    Raises:
        ConfigurationError: one line naming the file, the problem and what to do.
    """
    if str(path) == ":memory:":
        return
    problem = folder_problem(path.parent)
    if problem:
        raise ConfigurationError(f"The job database folder {path.parent} cannot be used: {problem}. Set "
                                 f"{variable} to somewhere you can write to.", variables=_names(variable))
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return  # a new database
    except OSError as exc:
        raise _refusal(path, f"cannot be examined ({describe_os_error(exc)})", variable) from None
    if file_kind(mode) != "a file":
        raise _refusal(path, f"is {file_kind(mode)}, not a database file", variable)
    problem = _content_problem(path, newest_schema)
    if problem:
        raise _refusal(path, problem, variable, untouched=True)
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        raise _refusal(path, "cannot be written (read-only file or folder)", variable)


def _content_problem(path: Path, newest_schema: int | None) -> str | None:
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"cannot be read ({describe_os_error(exc)})"
    if not header:
        return None  # an empty file: SQLite makes it a new database
    if header != SQLITE_HEADER:
        return "is not a SQLite database (another program's file, or damaged)"
    try:
        tables, version = _read_only_schema(path)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None  # in use by another of our processes: the store waits for it
        return f"cannot be read as a database ({exc})"
    except sqlite3.DatabaseError as exc:
        return f"is a damaged SQLite database ({exc})"
    if tables and OUR_TABLE not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        return f"is another program's SQLite database (tables: {shown})"
    if newest_schema is not None and version > newest_schema:
        return (f"was written by a newer version of seedream-studio (schema {version}, this version reads "
                f"{newest_schema}); upgrade seedream-studio, or")  # the way out follows
    return None


def _read_only_schema(path: Path) -> tuple[set[str], int]:
    """The table names and ``user_version``, through a read-only connection (which never writes the file)."""
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    finally:
        connection.close()
    return tables, version


def _refusal(path: Path, problem: str, variable: str, *, untouched: bool = False) -> ConfigurationError:
    """One line: the file, what is wrong, the way out (and that the file was not changed)."""
    if untouched:
        move = f"mv {shlex.quote(str(path))} {shlex.quote(str(path) + '.bad')}"
        way_out = f"move it aside ({move}) or set {variable} to a new file. It was left untouched."
    else:
        way_out = f"set {variable} to a new file in a folder you can write to."
    joiner = " " if problem.endswith(", or") else ": "
    return ConfigurationError(f"The job database {path} {problem}{joiner}{way_out}", variables=_names(variable))


def _names(variable: str) -> tuple[str, ...]:
    """The variable names in a text such as "SEEDREAM_DATA_DIR (or SEEDREAM_JOBS_DB)"."""
    return tuple(re.findall(r"[A-Z][A-Z0-9_]+", variable))
