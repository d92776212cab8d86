"""Scenario — mcp: how much later than the provider a tool result reaches an MCP client.

Two requests at L = 0.5 s per image: a single 2048² image and a series of four 4096² images (one streamed
group request). Ours: ``generate_image`` through the official MCP client over stdio to ``seedream-mcp`` (the
saved files, a preview of each within the 700 KB budget, the result's JSON). Bare: one pooled ``httpx2``
client making the same provider requests (the group streamed, each image downloaded the moment it is
announced) and writing the files — the least a script does, with no previews and no protocol. Runs alternate
after a warm-up. What each side adds is its time outside the provider's request (the emulator's span, on the
shared monotonic clock): mostly after the provider's last image, up to the result in hand. Per case the ratio
is (P + ours added) / (P + bare added), with P the median provider time of that case's requests on both sides,
so the emulator's own variance on a busy machine cancels out; the headline is the worse case, target ≤ 1.10
for each. Beside it: the plain ratio of the median run times, the time after the provider's last image per
side, and the result's size.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from bench.harness import BENCH_KEY, EmulatorProcess, RunOptions, ScenarioResult, log, median, rounded
from bench.mcp_client import SEEDREAM_MCP, checked, seedream_mcp

NAME = "mcp"
METRIC = "tool result through the MCP client over stdio / a bare httpx2 client, same requests (worse case)"
TARGET = 1.10
LATENCY = 0.5
MODEL_ID = "doubao-seedream-4-0-250828"
CASES: dict[str, dict[str, Any]] = {
    "single_2k": {"size": "2048x2048", "images": 1},
    "group_4x4k": {"size": "4096x4096", "images": 4},
}


async def ours_once(client: Any, case: str, index: int) -> int:
    """One tool call; the size of its result (characters of JSON)."""
    spec = CASES[case]
    arguments: dict[str, Any] = {"prompt": f"mcp probe {case} {index}", "size": spec["size"]}
    if spec["images"] > 1:
        arguments["series"] = spec["images"]
    result = checked(await client.call_tool("generate_image", arguments), spec["images"])
    return len(result.model_dump_json(by_alias=True, exclude_none=True))


async def bare_once(http: httpx2.AsyncClient, base_url: str, out: Path, case: str, index: int) -> int:
    """The same provider request by hand; the bytes saved."""
    spec = CASES[case]
    group = spec["images"] > 1
    body: dict[str, Any] = {
        "model": MODEL_ID,
        "prompt": f"mcp probe {case} {index}",
        "size": spec["size"],
        "response_format": "url",
        "watermark": False,
        "stream": group,
        "sequential_image_generation": "auto" if group else "disabled",
    }
    if group:
        body["sequential_image_generation_options"] = {"max_images": spec["images"]}
    saved = 0
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    async with http.stream("POST", f"{base_url}/images/generations", json=body, headers=headers) as answer:
        answer.raise_for_status()
        if group:
            async for line in answer.aiter_lines():
                if line.startswith("data: {"):
                    event = json.loads(line[6:])
                    if event.get("type") == "image_generation.partial_succeeded":
                        saved += await _download(http, event["url"], out / f"bare-{case}-{index}-{saved}.jpg")
        else:
            url = json.loads(await answer.aread())["data"][0]["url"]
            saved += await _download(http, url, out / f"bare-{case}-{index}.jpg")
    return saved


async def _download(http: httpx2.AsyncClient, url: str, path: Path) -> int:
    answer = await http.get(url)
    answer.raise_for_status()
    path.write_bytes(answer.content)
    return len(answer.content)


async def run(emulator: EmulatorProcess, options: RunOptions) -> ScenarioResult:
    if not SEEDREAM_MCP.exists():
        return ScenarioResult.skip(NAME, metric=METRIC, target=TARGET, reason=f"{SEEDREAM_MCP} is not installed")
    rounds = options.pick(2, 5)
    runs: list[tuple[str, str, float, float, int]] = []  # (case, side, start, end, size), in request order
    await emulator.configure()
    with tempfile.TemporaryDirectory(prefix="seedream-bench-bare-") as tmp:
        async with seedream_mcp(emulator) as client, httpx2.AsyncClient(trust_env=False, timeout=120) as http:
            await ours_once(client, "single_2k", -1)  # warm-up: imports, connections, the job store
            await bare_once(http, emulator.ark_base_url, Path(tmp), "single_2k", -1)
            await emulator.configure(latency=LATENCY)
            for index in range(rounds):
                for case in CASES:
                    sides = [
                        ("ours", lambda c=case, i=index: ours_once(client, c, i)),
                        ("bare", lambda c=case, i=index: bare_once(http, emulator.ark_base_url, Path(tmp), c, i)),
                    ]
                    for side, work in sides if index % 2 == 0 else sides[::-1]:
                        started = time.monotonic()
                        size = await work()
                        runs.append((case, side, started, time.monotonic(), size))
    spans = (await emulator.stats())["spans"]
    if len(spans) != len(runs):
        raise RuntimeError(f"mcp: expected one provider request per run, got {len(spans)}/{len(runs)}")
    figures = {case: _case_figures(case, runs, spans) for case in CASES}
    ratio = max(f["ratio"] for f in figures.values())
    log(options, "mcp: " + ", ".join(f"{c} {f['ratio']:.3f}" for c, f in figures.items()))
    details: dict[str, Any] = {"latency_s": LATENCY, "rounds": rounds}
    for case, values in figures.items():
        details |= {f"{case}_{key}": value for key, value in values.items()}
    return ScenarioResult.measured(NAME, metric=METRIC, ratio=ratio, target=TARGET, **details)


def _case_figures(case: str, runs: list[tuple[str, str, float, float, int]],
                  spans: list[list[float]]) -> dict[str, Any]:
    total: dict[str, list[float]] = {"ours": [], "bare": []}
    after: dict[str, list[float]] = {"ours": [], "bare": []}
    provider: dict[str, list[float]] = {"ours": [], "bare": []}
    sizes: list[int] = []
    for (run_case, side, started, ended, size), (span_start, span_end, *_rest) in zip(runs, spans, strict=True):
        if run_case == case:
            total[side].append(ended - started)
            after[side].append(ended - span_end)
            provider[side].append(span_end - span_start)
            if side == "ours":
                sizes.append(size)
    provider_time = median(provider["ours"] + provider["bare"])
    added = {side: median([t - p for t, p in zip(total[side], provider[side], strict=True)]) for side in total}
    return {
        "ratio": rounded((provider_time + added["ours"]) / (provider_time + added["bare"]), 3),
        "run_ratio": rounded(median(total["ours"]) / median(total["bare"]), 3),
        "ours_added_ms": rounded(added["ours"] * 1000, 1),
        "bare_added_ms": rounded(added["bare"] * 1000, 1),
        "ours_s": rounded(median(total["ours"]), 3),
        "bare_s": rounded(median(total["bare"]), 3),
        "ours_after_provider_ms": rounded(median(after["ours"]) * 1000, 1),
        "bare_after_provider_ms": rounded(median(after["bare"]) * 1000, 1),
        "provider_s": rounded(provider_time, 3),
        "result_chars": max(sizes),
    }
