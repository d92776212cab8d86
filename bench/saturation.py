"""Scenario 2 — saturation: 40 jobs submitted at once to an account capped at 2 requests in flight.

The emulator refuses a request over the cap with 429 ``InflightBatchsizeExceeded`` (as Ark does) and takes
200 ms per image. Ours has the same cap in its settings, so requests wait in our FIFO instead of being
refused.
The ideal makespan keeps both provider slots busy all the time: ceil(40/2) × the provider's time per request.
That time is 200 ms plus what the emulator itself spends rendering the image, measured server-side in the same
run (the ``pure`` figure divides by exactly 200 ms as well). Target: ≤ 1.05 and zero rejections.

Side by side: the official SDK (``volcenginesdkarkruntime.AsyncArk``, its default retries) fanned out with
``asyncio.gather`` on the same emulator, each image then downloaded and written like ours.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from volcenginesdkarkruntime import AsyncArk

from bench.harness import (
    BENCH_KEY,
    REQUESTER,
    EmulatorProcess,
    RunOptions,
    ScenarioResult,
    log,
    median,
    open_service,
    rounded,
)
from core.requests import GenerateRequest
from core.results import JobStatus

NAME = "saturation"
METRIC = "makespan of 40 jobs at cap 2 / ideal (both provider slots always busy)"
TARGET = 1.05
JOBS = 40
CAP = 2
LATENCY = 0.2
SIZE = "1024x1024"  # small, so the emulator's own rendering stays a small part of the provider's time
MODEL_ID = "doubao-seedream-4-0-250828"


async def run_ours(emulator: EmulatorProcess) -> dict[str, Any]:
    async with open_service(emulator, ark_concurrency=CAP) as service:
        requests = [GenerateRequest.create(prompt=f"saturation job {i}", size=SIZE) for i in range(JOBS)]
        started = time.perf_counter()
        generations = await asyncio.gather(*(service.generate(r, requester=REQUESTER) for r in requests))
        makespan = time.perf_counter() - started
    succeeded = sum(g.status is JobStatus.SUCCEEDED for g in generations)
    return {"makespan": makespan, "succeeded": succeeded}


async def _sdk_job(client: AsyncArk, downloads: httpx.AsyncClient, out_dir: Path, index: int) -> bool:
    result = await client.images.generate(
        model=MODEL_ID, prompt=f"saturation job {index}", size=SIZE, response_format="url", watermark=False
    )
    url = result.data[0].url
    response = await downloads.get(url)
    response.raise_for_status()
    (out_dir / f"sdk-{index}.jpg").write_bytes(response.content)
    return True


async def run_sdk(emulator: EmulatorProcess) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="seedream-bench-sdk-") as tmp:
        async with (
            AsyncArk(base_url=emulator.ark_base_url, api_key=BENCH_KEY) as client,
            httpx.AsyncClient(trust_env=False, timeout=60) as downloads,
        ):
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(_sdk_job(client, downloads, Path(tmp), i) for i in range(JOBS)), return_exceptions=True
            )
            makespan = time.perf_counter() - started
    errors = sorted({type(o).__name__ for o in outcomes if isinstance(o, BaseException)})
    return {"makespan": makespan, "succeeded": sum(o is True for o in outcomes), "errors": errors}


def _provider_side(stats: dict[str, Any]) -> dict[str, Any]:
    spans = [end - start for start, end, status, _ in stats["spans"] if status == 200]
    return {
        "rejected": stats["statuses"].get("ark 429", 0),
        "requests": stats["generation_requests"],
        "connections": stats["generation_connections"],
        "provider_seconds_per_request": median(spans),
        "provider_busy_seconds": sum(spans),
    }


async def run(emulator: EmulatorProcess, options: RunOptions) -> ScenarioResult:
    await emulator.configure(latency=LATENCY, ark_concurrency=CAP)
    ours = await run_ours(emulator) | _provider_side(await emulator.stats())
    await emulator.configure(latency=LATENCY, ark_concurrency=CAP)
    sdk = await run_sdk(emulator) | _provider_side(await emulator.stats())
    rounds = math.ceil(JOBS / CAP)
    ideal = rounds * ours["provider_seconds_per_request"]
    # Time a provider slot sat idle, per job: what our side spends between one answer and the next request.
    idle = (CAP * ours["makespan"] - ours["provider_busy_seconds"]) / JOBS
    pure_ideal = rounds * LATENCY
    log(
        options,
        f"saturation: ours {ours['makespan']:.2f} s, sdk {sdk['makespan']:.2f} s, ideal {ideal:.2f} s",
    )
    return ScenarioResult.measured(
        NAME,
        metric=METRIC,
        ratio=ours["makespan"] / ideal,
        target=TARGET,
        extra_ok=ours["rejected"] == 0 and ours["succeeded"] == JOBS,
        jobs=JOBS,
        cap=CAP,
        latency_s=LATENCY,
        size=SIZE,
        makespan_s=rounded(ours["makespan"], 3),
        ideal_s=rounded(ideal, 3),
        provider_ms_per_request=rounded(ours["provider_seconds_per_request"] * 1000, 1),
        slot_idle_ms_per_job=rounded(idle * 1000, 1),
        pure_ratio=rounded(ours["makespan"] / pure_ideal, 3),
        rejected=ours["rejected"],
        succeeded=ours["succeeded"],
        requests=ours["requests"],
        connections=ours["connections"],
        sdk_ratio=rounded(sdk["makespan"] / ideal, 3),
        sdk_makespan_s=rounded(sdk["makespan"], 3),
        sdk_rejected=sdk["rejected"],
        sdk_requests=sdk["requests"],
        sdk_succeeded=sdk["succeeded"],
        sdk_failed_jobs=JOBS - sdk["succeeded"],
        sdk_errors=sdk["errors"],
    )
