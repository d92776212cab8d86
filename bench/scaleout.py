"""Scenario — scaleout: three OS processes share one provider account through PostgreSQL and Redis.

Three ``bench.scaleout_child`` processes, each an ``ImageService`` on one PostgreSQL schema and one Redis prefix
(made for the run, removed after) with the Ark cap set to 2, send 20 jobs each at once against the emulator at
the same cap (over it, 429 ``InflightBatchsizeExceeded``, as Ark does). The ideal makespan keeps both
provider slots busy from the go signal to the last answer: the provider's time for the 60 requests (measured
by the emulator in the same run) / 2. Shared admission (strict FIFO across the processes, a slot handed from
one process to another through Redis), the shared job store and the downloads must fit in the gaps. Target
≤ 1.05 and zero rejections.

Beside it, in the same run: the cost of one admit/release cycle through Redis next to the in-process one
(uncontended, one after the other), and their ratio.

Needs PostgreSQL and Redis: ``SEEDREAM_BENCH_POSTGRES_URL`` (default ``postgresql://127.0.0.1:5432/test``)
and ``SEEDREAM_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``); skipped, saying why, without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.harness import PROJECT_ROOT, EmulatorProcess, RunOptions, ScenarioResult, child_env, log, median, rounded
from bench.harness import stop_process as stop
from core.db import upgrade_database
from core.limits import Admission, AdmissionRegistry
from core.limits_redis import RedisAdmissionRegistry
from core.redis_coord import RedisCoordinator

NAME = "scaleout"
METRIC = "makespan of 3 processes × 20 jobs on PostgreSQL + Redis at cap 2 / ideal (both slots always busy)"
TARGET = 1.05
PROCESSES = 3
JOBS = 20
CAP = 2
SIZE = "1024x1024"
POSTGRES_URL = os.environ.get("SEEDREAM_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SEEDREAM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


async def run(emulator: EmulatorProcess, options: RunOptions) -> ScenarioResult:
    problem = await _services_problem()
    if problem:
        return ScenarioResult.skip(NAME, metric=METRIC, target=TARGET, reason=problem)
    latency = options.pick(0.25, 0.5)
    async with _postgres_schema() as database_url, _redis_prefix() as prefix:
        await upgrade_database(database_url)  # once, as a deployment does (`seedream db upgrade`)
        burst = await _burst(emulator, database_url, prefix, latency, options)
        cycles = options.pick(300, 1000)
        local_s, redis_s = await _admission_cost(prefix, cycles)
    log(options, f"scaleout: {burst['makespan_s']:.2f} s for an ideal {burst['ideal_s']:.2f} s, "
                 f"{burst['rejected']} rejected; admit/release {local_s * 1e6:.0f} µs local, "
                 f"{redis_s * 1e6:.0f} µs Redis")
    return ScenarioResult.measured(
        NAME, metric=METRIC, ratio=burst.pop("ratio"), target=TARGET,
        extra_ok=burst["rejected"] == 0 and burst["succeeded"] == PROCESSES * JOBS and burst["max_in_flight"] <= CAP,
        processes=PROCESSES, jobs_per_process=JOBS, cap=CAP, latency_s=latency, size=SIZE, **burst,
        admission_cycles=cycles, local_admit_release_us=rounded(local_s * 1e6, 1),
        redis_admit_release_us=rounded(redis_s * 1e6, 1), redis_over_local=rounded(redis_s / local_s, 1),
        redis_admission_share_of_request=rounded(redis_s / latency, 5),
    )


async def _burst(emulator: EmulatorProcess, database_url: str, prefix: str, latency: float,
                 options: RunOptions) -> dict[str, Any]:
    """The three processes' jobs from one go signal; the figures (``ratio`` = makespan / ideal)."""
    await emulator.configure(ark_concurrency=CAP)
    with tempfile.TemporaryDirectory(prefix="seedream-bench-scaleout-") as tmp:
        children = [await _start_child(emulator, database_url, prefix, Path(tmp), i) for i in range(PROCESSES)]
        try:
            for child in children:
                await _read_json(child, "ready")
            log(options, "scaleout: the processes are ready")
            await emulator.configure(latency=latency, ark_concurrency=CAP)
            started = time.monotonic()
            for child in children:
                assert child.stdin is not None
                child.stdin.write(b"go\n")
                await child.stdin.drain()
            reports = [await _read_json(child, "ended") for child in children]
        finally:
            for child in children:
                await stop(child)
    stats = await emulator.stats()
    answered = [(start, end) for start, end, status, _ in stats["spans"] if status == 200]
    ideal = sum(end - start for start, end in answered) / CAP
    makespan = max(report["ended"] for report in reports) - started
    return {
        "ratio": makespan / ideal,
        "makespan_s": rounded(makespan, 3),
        "ideal_s": rounded(ideal, 3),
        "before_first_request_ms": rounded((min(s for s, _ in answered) - started) * 1000, 1),
        "after_last_answer_ms": rounded((max(r["ended"] for r in reports) - max(e for _, e in answered)) * 1000, 1),
        "slot_idle_ms": rounded((CAP * (max(e for _, e in answered) - min(s for s, _ in answered)) * 1000
                                 - sum(end - start for start, end in answered) * 1000) / CAP, 1),
        **_handoffs(answered),
        "max_in_flight": _max_overlap(answered),
        "rejected": stats["statuses"].get("ark 429", 0),
        "succeeded": sum(report["succeeded"] for report in reports),
        "errors": [error for report in reports for error in report["errors"]][:3],
    }


async def _start_child(emulator: EmulatorProcess, database_url: str, prefix: str, tmp: Path,
                       index: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.scaleout_child", "--base-url", emulator.ark_base_url,
        "--database-url", database_url, "--redis-url", REDIS_URL, "--redis-prefix", prefix,
        "--data-dir", str(tmp / f"process-{index}"), "--output-dir", str(tmp / "images"), "--name", f"p{index}",
        "--jobs", str(JOBS), "--cap", str(CAP), "--size", SIZE,
        cwd=PROJECT_ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=child_env())


async def _read_json(child: asyncio.subprocess.Process, key: str) -> dict[str, Any]:
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), timeout=120)
    if not line:
        raise RuntimeError(f"a scaleout process exited (code {await child.wait()}) before it said {key!r}")
    report = json.loads(line)
    if key not in report:
        raise RuntimeError(f"a scaleout process said {report!r}, not {key!r}")
    return report


def _handoffs(spans: Sequence[tuple[float, float]]) -> dict[str, float]:
    """How long a freed slot stayed idle before the next request took it (median and worst, ms): the k-th
    request after the first ``CAP`` waits on the (k - CAP)-th answer."""
    starts, ends = sorted(s for s, _ in spans), sorted(e for _, e in spans)
    gaps = [max(0.0, start - end) * 1000 for start, end in zip(starts[CAP:], ends, strict=False)]
    return {"handoff_median_ms": rounded(median(gaps), 1), "handoff_max_ms": rounded(max(gaps, default=0.0), 1)}


def _max_overlap(spans: Sequence[tuple[float, float]]) -> int:
    """The most requests the emulator had in flight at once."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


async def _admission_cost(prefix: str, cycles: int) -> tuple[float, float]:
    """Seconds per admit/release cycle: in this process, then through Redis (one after the other)."""
    local = await _cycle_time(AdmissionRegistry({"ark": (CAP, 0)}).for_provider("ark"), cycles)
    coordinator = await RedisCoordinator.connect(REDIS_URL, prefix=f"{prefix}:cost")
    try:
        shared = await _cycle_time(RedisAdmissionRegistry(coordinator, {"ark": (CAP, 0)}).for_provider("ark"), cycles)
    finally:
        await coordinator.close()
    return local, shared


async def _cycle_time(admission: Admission, cycles: int) -> float:
    for _ in range(10):  # warm-up: scripts loaded, connections made
        async with admission.admit():
            pass
    started = time.perf_counter()
    for _ in range(cycles):
        async with admission.admit():
            pass
    return (time.perf_counter() - started) / cycles


# -- the services -------------------------------------------------------------------------------------------


async def _services_problem() -> str | None:
    """Why PostgreSQL or Redis cannot be used (one line), or ``None``."""
    import psycopg
    import redis.asyncio as aioredis

    try:
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, connect_timeout=2):
            pass
    except psycopg.Error as exc:
        return (f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__}); start it or set "
                "SEEDREAM_BENCH_POSTGRES_URL")
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except (aioredis.RedisError, OSError) as exc:
        return f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}); start it or set SEEDREAM_BENCH_REDIS_URL"
    finally:
        await client.aclose()
    return None


@contextlib.asynccontextmanager
async def _postgres_schema() -> AsyncIterator[str]:
    """A database URL on a schema of this run's own (dropped afterwards)."""
    import psycopg

    schema = f"bench_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.asynccontextmanager
async def _redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this run's own (its keys deleted afterwards)."""
    import redis.asyncio as aioredis

    prefix = f"bench:{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()
