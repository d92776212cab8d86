"""Scenario 3 — streaming: how soon the first image of a group is on disk.

An 8-image group at L seconds per image (the emulator sends each image as it is made, as Ark does). The figure
is the time from ``ImageService.generate`` to the first ``ImageReady`` event (the image saved) over L. Target
≤ 1.2. Side by side, sent half an image later so the two never render at the same moment: the same group with
``stream=False``, where nothing can be saved before the whole group is made (≈ 8×). Beside the ratio: when the
emulator actually sent the first image (L plus its own rendering), so the part that is ours — parsing,
download, saving — reads apart from the provider's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.harness import (
    REQUESTER,
    EmulatorProcess,
    RunOptions,
    ScenarioResult,
    log,
    median,
    open_service,
    rounded,
)
from core.events import Event, ImageReady
from core.requests import GenerateRequest
from core.results import JobStatus
from core.service import ImageService

NAME = "streaming"
METRIC = "time to the first saved image of an 8-image group / L (per-image provider time)"
TARGET = 1.2
COUNT = 8
SIZE = "1024x1024"


async def first_saved_after(service: ImageService, *, stream: bool, index: int) -> tuple[float, float]:
    """(seconds to the first saved image, seconds to the whole group) for one group request."""
    first: list[float] = []
    started = time.perf_counter()

    async def on_event(event: Event) -> None:
        if isinstance(event, ImageReady) and not first:
            first.append(time.perf_counter() - started)

    request = GenerateRequest.create(prompt=f"streaming group {index}", size=SIZE, series=COUNT, stream=stream)
    generation = await service.generate(request, requester=REQUESTER, on_event=on_event)
    total = time.perf_counter() - started
    if generation.status is not JobStatus.SUCCEEDED or len(generation.images) != COUNT:
        raise RuntimeError(f"streaming: the group did not complete ({generation.status}, {generation.error})")
    return first[0], total


def _first_image_at(stats: dict[str, Any], index: int) -> float:
    """When the streamed request of repeat ``index`` sent its headers: of that repeat's two requests, the one
    whose headers went out first (the other sends them only with the whole group)."""
    return min(span[3] for span in stats["spans"][2 * index : 2 * index + 2])


async def run(emulator: EmulatorProcess, options: RunOptions) -> ScenarioResult:
    latency = options.pick(0.5, 1.0)
    repeats = options.pick(1, 3)
    streamed: list[float] = []
    whole: list[float] = []
    provider_first: list[float] = []  # when the emulator sent the first image (its headers go out with it)
    async with open_service(emulator, ark_concurrency=0) as service:
        await emulator.configure()  # a warm-up without latency: connections, imports, the job store
        await service.generate(GenerateRequest.create(prompt="warm-up", size=SIZE), requester=REQUESTER)
        await emulator.configure(latency=latency)
        for index in range(repeats):
            sent = time.monotonic()
            streaming = asyncio.create_task(first_saved_after(service, stream=True, index=index))
            # The non-streaming group starts half an image later, so the two groups' renders (and our saves)
            # never coincide on the emulator's CPU: side by side without slowing each other.
            await asyncio.sleep(latency / 2)
            whole.append((await first_saved_after(service, stream=False, index=index))[0])
            streamed.append((await streaming)[0])
            provider_first.append(_first_image_at(await emulator.stats(), index) - sent)
    ratio = median(streamed) / latency
    log(
        options,
        f"streaming: first image after {median(streamed):.3f} s (L = {latency} s); "
        f"non-streaming {median(whole):.3f} s",
    )
    return ScenarioResult.measured(
        NAME,
        metric=METRIC,
        ratio=ratio,
        target=TARGET,
        images=COUNT,
        size=SIZE,
        latency_s=latency,
        repeats=repeats,
        first_image_s=rounded(median(streamed), 3),
        non_streaming_first_image_s=rounded(median(whole), 3),
        non_streaming_ratio=rounded(median(whole) / latency, 3),
        provider_first_image_s=rounded(median(provider_first), 3),
        ours_after_provider_ms=rounded((median(streamed) - median(provider_first)) * 1000, 1),
    )
