"""Scenario 7 — provider-side cost per image under a fault mix.

Definitions (the emulator counts, server-side):

* **billed images**: images the provider produced (``EmulatorState.generated``: what
  ``usage.generated_images`` bills). A rejected request (429), a server error before generation (500) and a
  moderation refusal bill nothing; a request whose answer is lost (truncated) still bills what was made before
  the cut.
* **saved images**: images the client ended with on disk.
* **cost per image** = billed / saved (target ≤ 1.05): 1.0 means every paid image reached the user; a retry
  that re-sends a POST the provider already worked on pays twice and shows here.
* **requests per image** = generation requests received / saved (reported beside it: 429s and 500s are round
  trips, not money).

Jobs run one at a time (2-image groups, 1024²), so the n-th generation request — and the fault scripted on it
— is the same job on both sides. The mix: 429 ``ServerOverloaded`` with ``Retry-After``, 429
``ModelAccountRpmRateLimitExceeded`` with ``Retry-After``, 500 ``InternalServiceError`` (twice), a 503, one
answer cut mid-body, and one failed result download; plus prompts with a refused image in the group and one
prompt refused outright. Side by side: the official SDK (default retries, non-streaming) on the same jobs and
the same schedule.
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from volcenginesdkarkruntime import AsyncArk
from volcenginesdkarkruntime.types.images import SequentialImageGenerationOptions

from bench.harness import (
    BENCH_KEY,
    REQUESTER,
    EmulatorProcess,
    RunOptions,
    ScenarioResult,
    log,
    open_service,
    rounded,
)
from core.requests import GenerateRequest

NAME = "cost"
METRIC = "billed images / saved images under the emulator's fault mix"
TARGET = 1.05
GROUP = 2
SIZE = "1024x1024"
MODEL_ID = "doubao-seedream-4-0-250828"
CONCURRENCY = 1  # one job at a time: the n-th request, and so the fault it meets, is the same on both sides

#: On the n-th generation request ("at"). Jobs run in order, so request 7 is job 4 (a plain 2-image group) on
#: both sides; every later fault is retried by both, so where exactly it lands does not change what is billed.
FAULTS: list[dict[str, Any]] = [
    {"at": 2, "provider": "ark", "status": 429, "code": "ServerOverloaded", "retry_after": 0.2},
    {"at": 4, "provider": "ark", "status": 500, "code": "InternalServiceError"},
    {"at": 7, "provider": "ark", "kind": "truncate", "after_images": 1},
    {
        "at": 9,
        "provider": "ark",
        "status": 429,
        "code": "ModelAccountRpmRateLimitExceeded",
        "retry_after": 0.3,
    },
    {"at": 11, "provider": "ark", "status": 503},
    {"at": 13, "provider": "ark", "status": 500, "code": "InternalServiceError"},
    {"at": 14, "provider": "files", "status": 500},  # the next result download after request 14
]


def prompts(jobs: int) -> list[str]:
    """Job prompts: every fifth has its second image refused by moderation; one is refused outright."""
    chosen = []
    for index in range(jobs):
        if index == 7:
            chosen.append(f"cost job {index}: a forbidden subject")  # the emulator's blocked word
        elif index % 5 == 3:
            chosen.append(f"cost job {index} [refuse:1]")
        else:
            chosen.append(f"cost job {index}")
    return chosen


async def run_ours(emulator: EmulatorProcess, jobs: list[str]) -> int:
    async with open_service(emulator, ark_concurrency=CONCURRENCY) as service:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(prompt: str) -> int:
            async with gate:
                try:
                    request = GenerateRequest.create(prompt=prompt, size=SIZE, series=GROUP)
                    generation = await service.generate(request, requester=REQUESTER)
                except Exception:
                    return 0
                return len(generation.images)

        return sum(await asyncio.gather(*(one(p) for p in jobs)))


async def run_sdk(emulator: EmulatorProcess, jobs: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="seedream-bench-cost-") as tmp:
        async with (
            AsyncArk(base_url=emulator.ark_base_url, api_key=BENCH_KEY) as client,
            httpx.AsyncClient(trust_env=False, timeout=60) as downloads,
        ):
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(index: int, prompt: str) -> int:
                async with gate:
                    try:
                        result = await client.images.generate(
                            model=MODEL_ID,
                            prompt=prompt,
                            size=SIZE,
                            response_format="url",
                            watermark=False,
                            sequential_image_generation="auto",
                            sequential_image_generation_options=SequentialImageGenerationOptions(
                                max_images=GROUP
                            ),
                        )
                    except Exception:
                        return 0
                    return await _sdk_save(downloads, result.data, Path(tmp), index)

            return sum(await asyncio.gather(*(one(i, p) for i, p in enumerate(jobs))))


async def _sdk_save(downloads: httpx.AsyncClient, items: list[Any], folder: Path, index: int) -> int:
    saved = 0
    for position, item in enumerate(items):
        if not (item.url or item.b64_json):
            continue  # a refused image inside the group
        if item.b64_json:
            data = base64.b64decode(item.b64_json)
        else:
            response = await downloads.get(item.url)
            if response.status_code >= 500:  # a GET is safe to repeat: one retry, as ours has
                response = await downloads.get(item.url)
            if response.status_code != 200:
                continue
            data = response.content
        (folder / f"{index}-{position}.jpg").write_bytes(data)
        saved += 1
    return saved


async def _measure(emulator: EmulatorProcess, side: Any, jobs: list[str]) -> dict[str, Any]:
    await emulator.configure(faults=FAULTS)
    started = time.perf_counter()
    saved = await side(emulator, jobs)
    elapsed = time.perf_counter() - started
    stats = await emulator.stats()
    billed = stats["generated"].get("ark", 0)
    requests = stats["generation_requests"]
    return {
        "seconds": elapsed,
        "saved": saved,
        "billed": billed,
        "requests": requests,
        "faults_unused": stats["faults_left"],
        "billed_per_image": billed / saved if saved else float("inf"),
        "requests_per_image": requests / saved if saved else float("inf"),
    }


async def run(emulator: EmulatorProcess, options: RunOptions) -> ScenarioResult:
    jobs = prompts(24)  # the same work in a quick run: one lost image in fewer would read as a worse ratio
    # The two sides at once, each on its own emulator process (so each has its own request numbering and
    # counters): nothing here is timed, and the retry waits dominate.
    async with EmulatorProcess.start() as second:
        ours, sdk = await asyncio.gather(_measure(emulator, run_ours, jobs), _measure(second, run_sdk, jobs))
    log(
        options,
        f"cost: ours billed {ours['billed']} / saved {ours['saved']}; "
        f"sdk billed {sdk['billed']} / saved {sdk['saved']}",
    )
    return ScenarioResult.measured(
        NAME,
        metric=METRIC,
        ratio=ours["billed_per_image"],
        target=TARGET,
        jobs=len(jobs),
        group=GROUP,
        saved=ours["saved"],
        billed=ours["billed"],
        requests=ours["requests"],
        requests_per_image=rounded(ours["requests_per_image"], 3),
        faults_unused=ours["faults_unused"],
        sdk_billed_per_image=rounded(sdk["billed_per_image"], 3),
        sdk_requests_per_image=rounded(sdk["requests_per_image"], 3),
        sdk_saved=sdk["saved"],
        sdk_billed=sdk["billed"],
        sdk_requests=sdk["requests"],
        ours_s=rounded(ours["seconds"], 2),
        sdk_s=rounded(sdk["seconds"], 2),
    )
