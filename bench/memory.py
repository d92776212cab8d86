"""Scenario 4 — memory: peak RSS growth while a 15-image 4K group is generated and saved.

Each variant runs in a fresh process (``bench.memory_child``) so peaks never mix; the emulator, in its own
process, is not counted. Growth = the kernel's peak RSS (``VmHWM``, reset after a warm-up) minus the RSS at
that moment. The ratio is the ``url`` growth over the 100 MiB budget (target ≤ 1); ``b64_json`` is reported
beside it (each image arrives inside the SSE stream, so it must stay bounded too), and, in a full run, the
official SDK's non-streaming ``b64_json`` call, which holds the whole group's body at once.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from bench.harness import (
    PROJECT_ROOT,
    EmulatorProcess,
    RunOptions,
    ScenarioResult,
    child_env,
    log,
    rounded,
    stop_process,
)

NAME = "memory"
METRIC = "peak RSS growth, 15 × 4096² group via url / 100 MiB budget"
TARGET = 1.0
BUDGET_MIB = 100
COUNT = 15
SIZE = "4096x4096"
#: The emulator's smooth test images compress to ~0.4 MB at 4096²; a real 4K result is several MB. Result
#: files are served padded to this size (still valid JPEGs), so each ``url`` download is as big as a real one.
RESULT_BYTES = 6 * 1024 * 1024


async def measure(emulator: EmulatorProcess, *, client: str, response_format: str) -> dict[str, Any]:
    """Run one variant in a fresh child process and return its JSON report."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.memory_child",
        "--base-url",
        emulator.ark_base_url,
        "--client",
        client,
        "--format",
        response_format,
        "--count",
        str(COUNT),
        "--size",
        SIZE,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=300)
    finally:
        await stop_process(process)
    if process.returncode != 0:
        raise RuntimeError(f"memory child ({client}, {response_format}) failed: {stderr.decode()[-800:]}")
    return json.loads(stdout.decode().strip().splitlines()[-1])


def _mib(kib: int) -> float:
    return rounded(kib / 1024, 1)


async def run(emulator: EmulatorProcess, options: RunOptions) -> ScenarioResult:
    variants = [("ours", "url"), ("ours", "b64_json")] + options.pick([], [("sdk", "b64_json")])
    # One configuration serves every variant: padded downloads for url, b64 bodies are never padded.
    await emulator.configure(max_result_bytes=RESULT_BYTES)
    keys = [
        response_format if client == "ours" else f"sdk_{response_format}"
        for client, response_format in variants
    ]
    # Separate processes, so their peaks cannot mix: run them at once to save wall time (nothing is timed).
    measured = await asyncio.gather(
        *(
            measure(emulator, client=client, response_format=response_format)
            for client, response_format in variants
        )
    )
    reports: dict[str, dict[str, Any]] = dict(zip(keys, measured, strict=True))
    for key, report in reports.items():
        log(options, f"memory: {key} peak growth {_mib(report['growth_kib'])} MiB")
    url, b64 = reports["url"], reports["b64_json"]
    for key, report in reports.items():
        if report["images"] != COUNT:
            raise RuntimeError(f"memory: {key} saved {report['images']} of {COUNT} images")
    details: dict[str, Any] = {
        f"{key}_peak_mib": _mib(report["growth_kib"]) for key, report in reports.items()
    }
    details |= {
        "images": COUNT,
        "size": SIZE,
        "url_download_mib": _mib(url["bytes"] // 1024),
        "b64_json_decoded_mib": _mib(b64["bytes"] // 1024),
        "baseline_rss_mib": _mib(url["baseline_kib"]),
    }
    ratio = (url["growth_kib"] / 1024) / BUDGET_MIB
    return ScenarioResult.measured(
        NAME,
        metric=METRIC,
        ratio=ratio,
        target=TARGET,
        extra_ok=b64["growth_kib"] / 1024 <= BUDGET_MIB,
        **details,
    )
