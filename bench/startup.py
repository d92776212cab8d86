"""Scenario 5 — start-up: spawn to the first ``tools/list`` answer over stdio.

``seedream-mcp`` (the installed script beside this interpreter, on the sandbox provider with a temporary data
directory) against ``bench/minimal_mcp.py`` (an ``MCPServer`` with one tool), spawned alternately; each run
sends ``initialize``, ``notifications/initialized`` and ``tools/list`` as raw JSON-RPC lines and stops the
clock at the ``tools/list`` answer. The ratio is the median of ours over the median of the minimal server;
beside it, the same ratio of the servers' own CPU time by then (``/proc/<pid>/stat``), which a busy machine
does not move. Target ≤ 1.5.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import RunOptions, ScenarioResult, child_env, log, median, rounded, stop_process

NAME = "startup"
METRIC = "spawn → first tools/list answer over stdio: seedream-mcp / minimal MCPServer"
TARGET = 1.5
SEEDREAM_MCP = Path(sys.executable).parent / "seedream-mcp"
MINIMAL = [sys.executable, str(Path(__file__).with_name("minimal_mcp.py"))]
PROTOCOL_VERSION = "2025-06-18"


def _line(message: dict[str, Any]) -> bytes:
    return (json.dumps(message) + "\n").encode()


async def _answer(process: asyncio.subprocess.Process, request_id: int) -> dict[str, Any]:
    assert process.stdout is not None
    while True:
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError("the server closed stdout before answering")
        message = json.loads(line)
        if message.get("id") == request_id:
            if "error" in message:
                raise RuntimeError(f"the server answered with an error: {message['error']}")
            return message["result"]


@dataclass(frozen=True)
class StartupRun:
    seconds: float  # wall clock, spawn → the tools/list answer
    cpu_seconds: float  # the server's own CPU time (user + system) by then: immune to a busy machine
    tools: int


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from ``/proc/<pid>/stat`` (Linux; NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def time_to_tools(command: list[str], env: dict[str, str], cwd: Path) -> StartupRun:
    """Spawn ``command`` and time it to its ``tools/list`` answer."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    try:
        assert process.stdin is not None
        process.stdin.write(
            _line(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": PROTOCOL_VERSION,
                        "capabilities": {},
                        "clientInfo": {"name": "seedream-bench", "version": "0"},
                    },
                }
            )
        )
        await _answer(process, 1)
        process.stdin.write(_line({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        process.stdin.write(_line({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        tools = await asyncio.wait_for(_answer(process, 2), timeout=60)
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(process.pid)
        process.stdin.close()  # end of input: a stdio server exits
        await asyncio.wait_for(process.wait(), timeout=10)
    finally:
        await stop_process(process)
    return StartupRun(elapsed, cpu, len(tools.get("tools", [])))


async def run(options: RunOptions) -> ScenarioResult:
    if not SEEDREAM_MCP.exists():
        return ScenarioResult.skip(
            NAME, metric=METRIC, target=TARGET, reason=f"{SEEDREAM_MCP} is not installed (pip install -e .)"
        )
    runs = options.pick(2, 10)
    warmup = options.pick(0, 1)  # a full run spends one round warming the OS file cache
    measured: dict[str, list[StartupRun]] = {"ours": [], "minimal": []}
    with tempfile.TemporaryDirectory(prefix="seedream-bench-mcp-") as tmp:
        env = child_env(HOME=tmp, SEEDREAM_PROVIDER="sandbox", SEEDREAM_DATA_DIR=str(Path(tmp) / "data"))
        sides = [("ours", [str(SEEDREAM_MCP)]), ("minimal", MINIMAL)]
        for index in range(warmup + runs):
            for side, command in sides if index % 2 == 0 else sides[::-1]:
                result = await time_to_tools(command, env, Path(tmp))
                if index >= warmup:
                    measured[side].append(result)
    ours = median([r.seconds for r in measured["ours"]])
    minimal = median([r.seconds for r in measured["minimal"]])
    cpu_ratio = median([r.cpu_seconds for r in measured["ours"]]) / median(
        [r.cpu_seconds for r in measured["minimal"]]
    )
    log(options, f"startup: seedream-mcp {ours:.3f} s, minimal {minimal:.3f} s")
    return ScenarioResult.measured(
        NAME,
        metric=METRIC,
        ratio=ours / minimal,
        target=TARGET,
        runs_per_side=runs,
        seedream_mcp_ms=rounded(ours * 1000, 1),
        minimal_ms=rounded(minimal * 1000, 1),
        cpu_ratio=rounded(cpu_ratio, 3),
        seedream_tools=sorted({r.tools for r in measured["ours"]}),
    )
