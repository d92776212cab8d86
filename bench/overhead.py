"""Scenario 1 — overhead: what ``ImageService`` adds on top of the provider.

N single 2048×2048 generations, one at a time, against the emulator with zero latency (so the provider's own
time is only its rendering, shared by both sides), each run ending with the image saved to disk:

* ours: ``ImageService.generate`` (validate → job store → admission → provider → download → probe → rename →
  sidecar → job store), the default request a user makes (streamed, ``url``);
* bare: one pooled ``httpx2.AsyncClient``: POST, decode the JSON, download the URL, check the image header,
  write the file — the least a careful script does.

Runs alternate (ours first in even rounds, bare first in odd ones) after a warm-up; the ratio is the median of
the per-round ratios ours / bare (a round's two runs see the same machine, so drift cancels). Beside it: the
ratio of the medians, and each side's time outside the provider (run time minus the emulator's own span for
that request, on the shared monotonic clock) — the part each client adds. Target ≤ 1.10.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import httpx2
from PIL import Image

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
from core.service import ImageService

NAME = "overhead"
METRIC = "time per saved 2K image, ImageService / bare httpx2 loop (median of paired runs)"
TARGET = 1.10
MODEL_ID = "doubao-seedream-4-0-250828"
SIZE = "2048x2048"


async def ours_once(service: ImageService, index: int) -> None:
    generation = await service.generate(
        GenerateRequest.create(prompt=f"overhead probe {index}", size=SIZE), requester=REQUESTER
    )
    if generation.status is not JobStatus.SUCCEEDED:
        raise RuntimeError(f"overhead: our generation failed: {generation.error}")


async def bare_once(client: httpx2.AsyncClient, base_url: str, out_dir: Path, index: int) -> None:
    """The hand-written alternative: POST, JSON, download, header check, write."""
    body = {
        "model": MODEL_ID,
        "prompt": f"overhead probe {index}",
        "size": SIZE,
        "response_format": "url",
        "watermark": False,
    }
    answer = await client.post(
        f"{base_url}/images/generations", json=body, headers={"Authorization": f"Bearer {BENCH_KEY}"}
    )
    answer.raise_for_status()
    url = answer.json()["data"][0]["url"]
    download = await client.get(url)
    download.raise_for_status()
    data = download.content
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    (out_dir / f"bare-{index}.jpg").write_bytes(data)


async def run(emulator: EmulatorProcess, options: RunOptions) -> ScenarioResult:
    rounds = options.pick(10, 40)
    warmup = 2
    await emulator.configure()
    runs: list[tuple[str, float, float]] = []  # (side, start, end) on the monotonic clock, in order
    with tempfile.TemporaryDirectory(prefix="seedream-bench-bare-") as tmp:
        async with (
            open_service(emulator, ark_concurrency=0) as service,
            httpx2.AsyncClient(trust_env=False, timeout=60) as client,
        ):
            for index in range(warmup + rounds):
                sides = [
                    ("ours", lambda i=index: ours_once(service, i)),
                    ("bare", lambda i=index: bare_once(client, emulator.ark_base_url, Path(tmp), i)),
                ]
                for side, work in sides if index % 2 == 0 else sides[::-1]:
                    started = time.monotonic()
                    await work()
                    runs.append((side, started, time.monotonic()))
    spans = (await emulator.stats())["spans"]
    if len(spans) != len(runs):
        raise RuntimeError(f"overhead: expected one provider request per run, got {len(spans)}/{len(runs)}")
    measured = _per_side(runs[2 * warmup :], spans[2 * warmup :])
    ours, bare = measured["ours"], measured["bare"]
    paired = [o / b for o, b in zip(ours["total"], bare["total"], strict=True)]
    log(
        options,
        f"overhead: ours {median(ours['total']) * 1000:.1f} ms, bare {median(bare['total']) * 1000:.1f} ms",
    )
    return ScenarioResult.measured(
        NAME,
        metric=METRIC,
        ratio=median(paired),
        target=TARGET,
        runs_per_side=rounds,
        ratio_of_medians=rounded(median(ours["total"]) / median(bare["total"]), 3),
        ours_median_ms=_ms(median(ours["total"])),
        bare_median_ms=_ms(median(bare["total"])),
        added_ms=_ms(median(ours["total"]) - median(bare["total"])),
        provider_median_ms=_ms(median(ours["provider"] + bare["provider"])),
        ours_outside_provider_ms=_ms(median(ours["outside"])),
        bare_outside_provider_ms=_ms(median(bare["outside"])),
    )


def _per_side(
    runs: list[tuple[str, float, float]], spans: list[list[float]]
) -> dict[str, dict[str, list[float]]]:
    """Per side: seconds per run, the provider's share (its request span) and the rest (the client's)."""
    sides: dict[str, dict[str, list[float]]] = {
        s: {"total": [], "provider": [], "outside": []} for s in ("ours", "bare")
    }
    for (side, started, ended), (span_start, span_end, *_) in zip(runs, spans, strict=True):
        total, provider = ended - started, span_end - span_start
        sides[side]["total"].append(total)
        sides[side]["provider"].append(provider)
        sides[side]["outside"].append(total - provider)
    return sides


def _ms(seconds: float) -> float:
    return rounded(seconds * 1000, 2)
