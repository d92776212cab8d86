"""``seedream doctor``: every configured backend checked, one line each with what to do.

The job database (reachable, schema at this version's revision), Redis when ``SEEDREAM_REDIS_URL`` is set
(it answers; the key prefix), the output folder (writable, free space), each provider's credentials (set or
not: never shown) and the sandbox. Nothing is written but the output folder's probe file, and a server that
does not answer fails its line within about two seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TypeVar

from core.db import LEGACY, database_revision, describe, normalize_url
from core.environment import check_output_folder, jobs_database_variable
from core.errors import SeedreamError
from core.filesystem import free_bytes, megabytes
from core.jobs_check import check_jobs_database
from core.migrations import HEAD
from core.redis_coord import RedisCoordinator, safe_url
from core.settings import CommonSettings

T = TypeVar("T")

#: Seconds a backend has to answer before its line fails.
TIMEOUT = 2.0
#: Free space below which the output folder's line fails: about fifty 2K PNGs.
MIN_FREE_BYTES = 300_000_000


class Status(StrEnum):
    OK = "ok"
    FAIL = "fail"
    OFF = "off"  # not configured, and not needed


MARKS = {Status.OK: "✓", Status.FAIL: "✗", Status.OFF: "–"}


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it went, what was found or what to do."""

    name: str
    status: Status
    detail: str

    def line(self, width: int = 14) -> str:
        return f"{MARKS[self.status]} {self.name:<{width}} {self.detail}"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


async def run_checks(settings: CommonSettings) -> list[Check]:
    """Every check, the slow ones (servers) at once."""
    database, redis = await asyncio.gather(check_database(settings), check_redis(settings))
    output = await asyncio.to_thread(check_output, settings)
    return [database, redis, output, *check_providers(settings)]


async def check_database(settings: CommonSettings) -> Check:
    """Reachable, ours, and at this version's revision (a new embedded file is fine: made at first use)."""
    name = "job database"
    url = normalize_url(settings.database)
    where = describe(url)
    try:
        if settings.database_url is None:
            await asyncio.to_thread(check_jobs_database, settings.jobs_path,
                                    variable=jobs_database_variable(settings))
        revision = await _within(database_revision(url), f"The job database at {where}")
    except SeedreamError as exc:
        return Check(name, Status.FAIL, exc.message)
    if revision == HEAD:
        return Check(name, Status.OK, f"{where}: schema at revision {HEAD} (this version's)")
    if revision is None and settings.database_url is None:
        return Check(name, Status.OK, f"{where}: new, created at first use")
    had = "no schema yet" if revision is None else (
        "the first embedded store's schema" if revision == LEGACY else f"schema at revision {revision}")
    return Check(name, Status.FAIL, f"{where}: {had}, this version needs {HEAD}: run `seedream db upgrade`")


async def check_redis(settings: CommonSettings) -> Check:
    """Redis answers a PING (only when ``SEEDREAM_REDIS_URL`` is set)."""
    name = "redis"
    if settings.redis_url is None:
        return Check(name, Status.OFF, "SEEDREAM_REDIS_URL not set: admission, pacing and job events stay in "
                                       "this process (set it to share them between processes)")
    started = time.perf_counter()
    try:
        coordinator = await _within(
            RedisCoordinator.connect(settings.redis_url, prefix=settings.redis_prefix,
                                     lease_seconds=settings.lease_seconds), f"Redis at {safe_url(settings.redis_url)}")
    except SeedreamError as exc:
        return Check(name, Status.FAIL, exc.message)
    await coordinator.close()
    elapsed = (time.perf_counter() - started) * 1000
    return Check(name, Status.OK, f"{safe_url(settings.redis_url)}: answers ({elapsed:.0f} ms); keys under "
                                  f"'{settings.redis_prefix}:' (SEEDREAM_REDIS_PREFIX), leases "
                                  f"{settings.lease_seconds:g} s")


def check_output(settings: CommonSettings) -> Check:
    """The output folder can be written and has room."""
    name = "output folder"
    folder = settings.images_dir
    try:
        check_output_folder(folder, needed_bytes=MIN_FREE_BYTES)
    except SeedreamError as exc:
        return Check(name, Status.FAIL, exc.message)
    free = free_bytes(folder)
    room = f", {_size(free)} free" if free is not None else ""
    return Check(name, Status.OK, f"{folder}: writable{room}")


def check_providers(settings: CommonSettings) -> list[Check]:
    """Each provider's credentials set or not (never shown), then the sandbox."""
    checks = [_provider_check(settings, spec.kind, spec.credentials) for spec in settings.specs]
    return [*checks, Check("sandbox", Status.OK, "always available (--provider sandbox), no key needed")]


def _provider_check(settings: CommonSettings, kind: str, variables: tuple[str, ...]) -> Check:
    config = settings.provider_config(kind)
    missing = [v for v, value in zip(variables, config.credentials, strict=True) if not value]
    names = ", ".join(variables)
    if not missing:
        return Check(kind, Status.OK, f"{names} set; {config.base_url}")
    if len(missing) < len(variables):
        return Check(kind, Status.FAIL, f"{', '.join(missing)} not set (the other half of {names} is): set it, "
                                        f"or unset both")
    if settings.provider == kind:
        return Check(kind, Status.FAIL, f"SEEDREAM_PROVIDER is {kind} but {names} not set: set "
                                        f"{'them' if len(variables) > 1 else 'it'}, or choose another provider")
    return Check(kind, Status.OFF, f"{names} not set (set {'them' if len(variables) > 1 else 'it'} to use {kind})")


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else megabytes(n)


async def _within(work: Awaitable[T], what: str) -> T:
    """``work``, or a ``SeedreamError`` when it takes longer than ``TIMEOUT``."""
    try:
        return await asyncio.wait_for(work, TIMEOUT + 0.5)
    except TimeoutError:
        raise SeedreamError(f"{what} did not answer within {TIMEOUT:g} s") from None
