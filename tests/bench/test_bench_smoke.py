"""The performance suite's plumbing: its emulator front (counters, fault schedule) and the shape of its
output. No timing is asserted here: timings are ``python -m bench``'s business, as ratios."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Literal

import httpx2

from bench.emulator_proc import BenchFront
from bench.harness import ScenarioResult
from bench.report import markdown_table
from core.emulator import EmulatorConfig, create_app
from core.emulator.limits import CONCURRENCY_CODE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BODY = {
    "model": "doubao-seedream-4-0-250828",
    "prompt": "a probe",
    "size": "1024x1024",
    "watermark": False,
    "response_format": "url",
}
AUTH = {"Authorization": "Bearer bench"}


def bench_front() -> BenchFront:
    app = create_app(EmulatorConfig(public_base_url="http://emulator.test"))
    return BenchFront(app, app.state.emulator)


def front_client(front: BenchFront | None = None) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=front or bench_front())
    return httpx2.AsyncClient(transport=transport, base_url="http://emulator.test")


async def test_the_front_scripts_a_fault_on_the_nth_generation_request_and_counts_each_answer() -> None:
    async with front_client() as client:
        configured = await client.post(
            "/bench/configure",
            json={"ark_concurrency": 1, "faults": [{"at": 2, "provider": "ark", "status": 500}]},
        )
        first = await client.post("/api/v3/images/generations", json=BODY, headers=AUTH)
        second = await client.post("/api/v3/images/generations", json=BODY, headers=AUTH)
        stats = (await client.get("/bench/stats")).json()

    assert configured.json() == {"ok": True}
    assert (first.status_code, second.status_code) == (200, 500)
    assert stats["statuses"] == {"ark 200": 1, "ark 500": 1}
    assert stats["generation_requests"] == 2 and stats["generated"] == {"ark": 1}
    assert [status for _start, _end, status, _headers in stats["spans"]] == [200, 500]
    assert stats["faults_left"] == 0


class HoldFirst(asyncio.Event):
    """The emulator's ``hold`` for the first request only (later ones pass); ``holding`` is set once the
    first waits on it, inside its account slot."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()

    async def wait(self) -> Literal[True]:
        if self.holding.is_set():
            return True
        self.holding.set()
        return await super().wait()


async def test_configure_resets_the_counters_and_sets_the_account_cap() -> None:
    front = bench_front()  # the emulator's own default: no concurrency cap
    async with front_client(front) as client:
        await client.post("/api/v3/images/generations", json=BODY, headers=AUTH)
        await client.post("/bench/configure", json={"ark_concurrency": 1, "latency": 0.0})
        after_reset = (await client.get("/bench/stats")).json()

        front.state.hold = hold = HoldFirst()
        first = asyncio.create_task(client.post("/api/v3/images/generations", json=BODY, headers=AUTH))
        await hold.holding.wait()
        second = await client.post("/api/v3/images/generations", json=BODY, headers=AUTH)
        hold.set()
        first_answer = await first
        stats = (await client.get("/bench/stats")).json()

    assert after_reset["generation_requests"] == 0 and after_reset["statuses"] == {}
    assert after_reset["generated"] == {} and after_reset["requests"] == {}
    # With the cap at 1, a second request while the first is in flight is the provider's 429.
    assert (first_answer.status_code, second.status_code) == (200, 429)
    assert second.json()["error"]["code"] == CONCURRENCY_CODE
    assert stats["statuses"] == {"ark 200": 1, "ark 429": 1} and stats["generated"] == {"ark": 1}
    assert stats["in_flight"] == {"ark": 0}


def test_a_measured_scenario_passes_only_within_its_target() -> None:
    def verdict(ratio: float, *, extra_ok: bool = True) -> bool | None:
        return ScenarioResult.measured("overhead", metric="ours / bare", ratio=ratio, target=1.1,
                                       extra_ok=extra_ok).passed

    assert (verdict(1.05), verdict(1.1), verdict(1.15), verdict(1.05, extra_ok=False)) == (True, True, False, False)
    failed = ScenarioResult.measured("overhead", metric="ours / bare", ratio=1.5, target=1.1)
    assert "| overhead | ours / bare | 1.5 | ≤ 1.1 | **FAIL** |" in markdown_table({"overhead": failed})


def test_the_suite_prints_one_json_object_with_ratio_target_and_verdict_per_scenario(tmp_path: Path) -> None:
    table = tmp_path / "table.md"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "overhead", "--quick", "--json", "--out", str(table)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    report = json.loads(completed.stdout)
    assert list(report) == ["overhead"], completed.stderr[-2000:]
    overhead = report["overhead"]
    assert isinstance(overhead["ratio"], float) and overhead["target"] == 1.1
    assert isinstance(overhead["pass"], bool) and overhead["runs_per_side"] == 10
    assert {"metric", "ours_median_ms", "bare_median_ms", "ours_outside_provider_ms", "seconds"} <= set(
        overhead
    )
    # Either verdict can come out of a real run; it must follow from the ratio and the target (the ratio
    # printed is rounded to 3 places, so one within 0.001 of the target may go either way).
    ratio, target = overhead["ratio"], overhead["target"]
    assert overhead["pass"] is (ratio <= target) or abs(ratio - target) < 0.001
    assert completed.returncode == (0 if overhead["pass"] else 1)
    (row,) = [line for line in table.read_text(encoding="utf-8").splitlines() if line.startswith("| overhead |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2:5] == [f"{ratio:.4g}", "≤ 1.1", "pass" if overhead["pass"] else "**FAIL**"]
