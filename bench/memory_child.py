"""One memory measurement in a fresh process (so peaks of different variants never mix).

``python -m bench.memory_child --base-url URL --client ours|sdk --format url|b64_json --count 15 --size WxH``
warms up (imports, connections, the job store) with a one-image request, resets the kernel's peak-RSS mark,
runs one group request to the end (every image saved to disk), and prints one JSON line:
``{"baseline_kib", "peak_kib", "growth_kib", "images", "bytes"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import BENCH_KEY, REQUESTER, bench_settings, reset_peak_rss, rss_kib
from core.factory import open_service
from core.requests import GenerateRequest
from core.results import JobStatus

MODEL_ID = "doubao-seedream-4-0-250828"


async def ours(base_url: str, response_format: str, count: int, size: str, out: Path) -> dict[str, Any]:
    settings = bench_settings(out, base_url, ark_concurrency=0)
    async with open_service(settings) as service:
        await service.generate(
            GenerateRequest.create(prompt="warm-up", size="1024x1024", response_format=response_format),
            requester=REQUESTER,
        )
        baseline = _mark_baseline()
        generation = await service.generate(
            GenerateRequest.create(
                prompt="memory group", size=size, series=count, response_format=response_format
            ),
            requester=REQUESTER,
        )
        peak = rss_kib()["VmHWM"]
    if generation.status is not JobStatus.SUCCEEDED:
        raise RuntimeError(f"memory: the group failed: {generation.error}")
    return _report(baseline, peak, len(generation.images), sum(i.bytes for i in generation.images))


async def sdk(base_url: str, response_format: str, count: int, size: str, out: Path) -> dict[str, Any]:
    """The official SDK, non-streaming (its simplest call), each image then written to disk."""
    import httpx
    from volcenginesdkarkruntime import AsyncArk
    from volcenginesdkarkruntime.types.images import SequentialImageGenerationOptions

    async with (
        AsyncArk(base_url=base_url, api_key=BENCH_KEY) as client,
        httpx.AsyncClient(trust_env=False, timeout=120) as downloads,
    ):

        async def group(prompt: str, n: int, wanted_size: str) -> list[bytes]:
            result = await client.images.generate(
                model=MODEL_ID,
                prompt=prompt,
                size=wanted_size,
                response_format=response_format,
                watermark=False,
                sequential_image_generation="auto",
                sequential_image_generation_options=SequentialImageGenerationOptions(max_images=n),
            )
            images = []
            for index, item in enumerate(result.data):
                data = (
                    base64.b64decode(item.b64_json)
                    if item.b64_json
                    else (await downloads.get(item.url)).content
                )
                (out / f"sdk-{prompt[:6]}-{index}.jpg").write_bytes(data)
                images.append(len(data))
            return images

        await group("warm-up", 1, "1024x1024")
        baseline = _mark_baseline()
        sizes = await group("memory group", count, size)
        peak = rss_kib()["VmHWM"]
    return _report(baseline, peak, len(sizes), sum(sizes))


def _mark_baseline() -> int:
    gc.collect()
    if not reset_peak_rss():
        return rss_kib()["VmHWM"]  # without clear_refs the peak so far is the best baseline there is
    return rss_kib()["VmRSS"]


def _report(baseline: int, peak: int, images: int, total_bytes: int) -> dict[str, Any]:
    return {
        "baseline_kib": baseline,
        "peak_kib": peak,
        "growth_kib": peak - baseline,
        "images": images,
        "bytes": total_bytes,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--client", choices=["ours", "sdk"], default="ours")
    parser.add_argument("--format", dest="response_format", choices=["url", "b64_json"], default="url")
    parser.add_argument("--count", type=int, default=15)
    parser.add_argument("--size", default="4096x4096")
    args = parser.parse_args(argv)
    run = ours if args.client == "ours" else sdk
    with tempfile.TemporaryDirectory(prefix="seedream-bench-mem-") as tmp:
        report = asyncio.run(run(args.base_url, args.response_format, args.count, args.size, Path(tmp)))
    print(json.dumps(report), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
