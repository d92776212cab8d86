"""``seedream db upgrade`` / ``db current`` (the job database's migrations) and ``seedream doctor``."""

from __future__ import annotations

import argparse
import asyncio
import json

from core.db import LEGACY, database_revision, describe, normalize_url, upgrade_database
from core.doctor import Status, run_checks
from core.environment import jobs_database_variable
from core.jobs_check import check_jobs_database
from core.migrations import HEAD
from core.settings import Settings
from core.settings_errors import read_settings

EXIT_OK, EXIT_FAILED = 0, 1


def run_db_upgrade(_args: argparse.Namespace) -> int:
    """Bring the job database to this version's revision; one line: where, from → to (or already at).

    Raises:
        ConfigurationError: invalid settings, not a job database, or a newer one (exit 2).
        BackendUnavailableError: the database server does not answer (exit 1).
    """
    settings = read_settings(Settings)
    if settings.database_url is None:  # read-only first, as every opener of the file does
        check_jobs_database(settings.jobs_path, variable=jobs_database_variable(settings))
    before, after = asyncio.run(upgrade_database(settings.database))
    where = describe(normalize_url(settings.database))
    if before == after:
        print(f"{where}: already at revision {after}")
    else:
        print(f"{where}: {_revision_words(before)} → revision {after}")
    return EXIT_OK


def run_db_current(_args: argparse.Namespace) -> int:
    """The job database's revision, read without changing anything."""
    settings = read_settings(Settings)
    url = normalize_url(settings.database)
    revision = asyncio.run(database_revision(url))
    advice = "this version's" if revision == HEAD else f"this version needs {HEAD}: run `seedream db upgrade`"
    print(f"{describe(url)}: {_revision_words(revision)} ({advice})")
    return EXIT_OK


def run_doctor(args: argparse.Namespace) -> int:
    """One line per check (``--json``: one array); exit 1 when a needed check fails."""
    checks = asyncio.run(run_checks(read_settings(Settings)))
    if args.json:
        print(json.dumps([check.to_json() for check in checks], ensure_ascii=False))
    else:
        for check in checks:
            print(check.line())
    return EXIT_FAILED if any(check.status is Status.FAIL for check in checks) else EXIT_OK


def _revision_words(revision: str | None) -> str:
    if revision is None:
        return "no schema yet"
    if revision == LEGACY:
        return "the first embedded store's schema"
    return f"revision {revision}"
