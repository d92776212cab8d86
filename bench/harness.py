"""Shared machinery: the result shape, the emulator process, our service wired to it, and small statistics.

Every figure the suite reports is a ratio of two things measured side by side in the same run, so a slow or
busy machine moves both sides and not the verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from core import factory
from core.jobs import Requester
from core.service import ImageService
from core.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REQUESTER = Requester(adapter="bench")
BENCH_KEY = "bench"


@dataclass
class ScenarioResult:
    """One scenario's verdict. ``ratio`` is the headline figure (``metric`` says what it divides)."""

    name: str
    metric: str
    target: float
    ratio: float | None = None
    passed: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    note: str | None = None

    @classmethod
    def measured(
        cls,
        name: str,
        *,
        metric: str,
        ratio: float,
        target: float,
        extra_ok: bool = True,
        note: str | None = None,
        **details: Any,
    ) -> ScenarioResult:
        """A result that passes when ``ratio <= target`` (and ``extra_ok``, e.g. zero rejections)."""
        return cls(
            name=name,
            metric=metric,
            target=target,
            ratio=round(ratio, 3),
            passed=bool(ratio <= target and extra_ok),
            details=details,
            note=note,
        )

    @classmethod
    def skip(cls, name: str, *, metric: str, target: float, reason: str) -> ScenarioResult:
        return cls(name=name, metric=metric, target=target, skipped=reason)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ratio": self.ratio,
            "target": self.target,
            "pass": self.passed,
            "metric": self.metric,
        }
        if self.skipped:
            data["skipped"] = self.skipped
        if self.note:
            data["note"] = self.note
        data.update(self.details)
        return data


@dataclass(frozen=True)
class RunOptions:
    """How big a run is. ``quick`` keeps the whole suite under a minute on a 2-core machine."""

    quick: bool = False
    verbose: bool = False

    def pick(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full


def log(options: RunOptions, message: str) -> None:
    if options.verbose:
        print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- the emulator process -----------------------------------------------------------------------------------


class EmulatorProcess:
    """``bench.emulator_proc`` as a child process; ``configure`` it per scenario and read its ``stats``."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, control: httpx2.AsyncClient) -> None:
        self.process = process
        self.port = port
        self._control = control

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ark_base_url(self) -> str:
        return f"{self.origin}/api/v3"

    @classmethod
    @asynccontextmanager
    async def start(cls) -> AsyncIterator[EmulatorProcess]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.emulator_proc",
            "--port",
            "0",
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
            env=child_env(),
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            if not line:
                raise RuntimeError("the emulator process exited before it listened")
            port = int(json.loads(line)["port"])
            async with httpx2.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30
            ) as control:
                yield cls(process, port, control)
        finally:
            await stop_process(process)

    async def configure(self, **knobs: Any) -> None:
        """Reset counters and faults; set ``latency``, ``ark_concurrency``, ``ark_images_per_minute``,
        ``max_result_bytes``, ``faults`` (see ``bench.emulator_proc``). Unset knobs go back to neutral."""
        wanted = {
            "latency": 0.0,
            "ark_concurrency": 0,
            "ark_images_per_minute": 0,
            "max_result_bytes": None,
            "faults": [],
        } | knobs
        response = await self._control.post("/bench/configure", json=wanted)
        response.raise_for_status()

    async def stats(self) -> dict[str, Any]:
        response = await self._control.get("/bench/stats")
        response.raise_for_status()
        return response.json()


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """Terminate a child we started (by its own handle), killing it if it does not stop in time."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def child_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: no provider keys inherited, the project importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SEEDREAM_", "ARK_", "VOLC_", "CHANJING_", "DISCORD_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env | extra


# -- our side -----------------------------------------------------------------------------------------------


def bench_settings(data_dir: Path, emulator_base: str, **overrides: Any) -> Settings:
    """Settings pointing the Ark provider at the emulator process (no ``.env``, no environment keys)."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "provider": "ark",
        "ark_api_key": BENCH_KEY,
        "ark_base_url": emulator_base,
        "ark_images_per_minute": 0,
    } | overrides
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def open_service(emulator: EmulatorProcess, **overrides: Any) -> AsyncIterator[ImageService]:
    """An ``ImageService`` on a fresh temporary data directory, talking to the emulator process."""
    with tempfile.TemporaryDirectory(prefix="seedream-bench-") as tmp:
        settings = bench_settings(Path(tmp), emulator.ark_base_url, **overrides)
        async with factory.open_service(settings) as service:
            yield service


# -- statistics and timing ----------------------------------------------------------------------------------


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """(seconds, result) of one awaited call, on the monotonic clock."""
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (p99 of 50 samples is the 50th: the worst one)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def rss_kib() -> dict[str, int]:
    """This process's ``VmRSS`` and ``VmHWM`` (peak) in KiB, from ``/proc/self/status`` (Linux)."""
    values: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1])
    return values


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ≥ 4.0: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def rounded(value: float, digits: int = 4) -> float:
    return round(value, digits)
