"""The performance suite's plumbing: its emulator front (counters, fault schedule) and the shape of its
output. No timing is asserted here: timings are ``python -m bench``'s business, as ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx2

from bench.emulator_proc import BenchFront
from core.emulator import EmulatorConfig, create_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BODY = {
    "model": "doubao-seedream-4-0-250828",
    "prompt": "a probe",
    "size": "1024x1024",
    "watermark": False,
    "response_format": "url",
}
AUTH = {"Authorization": "Bearer bench"}


def front_client() -> httpx2.AsyncClient:
    app = create_app(EmulatorConfig(public_base_url="http://emulator.test"))
    front = BenchFront(app, app.state.emulator)
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=front), base_url="http://emulator.test")


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


async def test_configure_resets_the_counters_and_sets_the_account_cap() -> None:
    async with front_client() as client:
        await client.post("/api/v3/images/generations", json=BODY, headers=AUTH)
        await client.post("/bench/configure", json={"ark_concurrency": 0, "latency": 0.0})
        stats = (await client.get("/bench/stats")).json()

    assert stats["generation_requests"] == 0 and stats["statuses"] == {} and stats["generated"] == {}


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
    assert completed.returncode == (0 if overhead["pass"] else 1)
    lines = table.read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("| overhead |") for line in lines)
