"""Scenario 5 — start-up: spawn to the first ``tools/list`` answer over stdio.

``seedream-mcp`` (the installed script beside this interpreter, on the sandbox provider with a temporary data
directory) against ``bench/minimal_mcp.py`` (an ``MCPServer`` with one tool), spawned alternately; each run
sends ``initialize``, ``notifications/initialized`` and ``tools/list`` as raw JSON-RPC lines and stops the
clock at the ``tools/list`` answer. The ratio is the median of ours over the median of the minimal server.
Target ≤ 1.5.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
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


async def time_to_tools(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """(seconds from spawn to the tools/list answer, number of tools listed)."""
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
        process.stdin.close()  # end of input: a stdio server exits
        await asyncio.wait_for(process.wait(), timeout=10)
    finally:
        await stop_process(process)
    return elapsed, len(tools.get("tools", []))


async def run(options: RunOptions) -> ScenarioResult:
    if not SEEDREAM_MCP.exists():
        return ScenarioResult.skip(
            NAME, metric=METRIC, target=TARGET, reason=f"{SEEDREAM_MCP} is not installed (pip install -e .)"
        )
    runs = options.pick(2, 10)
    warmup = options.pick(0, 1)  # a full run spends one round warming the OS file cache
    ours: list[float] = []
    minimal: list[float] = []
    tool_counts: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="seedream-bench-mcp-") as tmp:
        env = child_env(HOME=tmp, SEEDREAM_PROVIDER="sandbox", SEEDREAM_DATA_DIR=str(Path(tmp) / "data"))
        sides = [(ours, [str(SEEDREAM_MCP)]), (minimal, MINIMAL)]
        for index in range(warmup + runs):
            for sink, command in sides if index % 2 == 0 else sides[::-1]:
                seconds, count = await time_to_tools(command, env, Path(tmp))
                if index >= warmup:
                    sink.append(seconds)
                if command[0] == str(SEEDREAM_MCP):
                    tool_counts.add(count)
    ratio = median(ours) / median(minimal)
    log(options, f"startup: seedream-mcp {median(ours):.3f} s, minimal {median(minimal):.3f} s")
    return ScenarioResult.measured(
        NAME,
        metric=METRIC,
        ratio=ratio,
        target=TARGET,
        runs_per_side=runs,
        seedream_mcp_ms=rounded(median(ours) * 1000, 1),
        minimal_ms=rounded(median(minimal) * 1000, 1),
        seedream_tools=sorted(tool_counts),
    )
