"""``seedream-mcp`` over stdio, driven by the official MCP client, with its Ark provider pointed at the
emulator process: what an MCP host runs, so the MCP scenarios time what a user waits for."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult

from bench.harness import BENCH_KEY, EmulatorProcess, child_env

SEEDREAM_MCP = Path(sys.executable).parent / "seedream-mcp"


@asynccontextmanager
async def seedream_mcp(emulator: EmulatorProcess, *, ark_concurrency: int = 0) -> AsyncIterator[Client]:
    """A connected client of a fresh ``seedream-mcp`` (temporary data directory, no keys but the bench's)."""
    with tempfile.TemporaryDirectory(prefix="seedream-bench-mcp-") as tmp:
        env = child_env(
            HOME=tmp,
            SEEDREAM_DATA_DIR=str(Path(tmp) / "data"),
            SEEDREAM_PROVIDER="ark",
            ARK_API_KEY=BENCH_KEY,
            SEEDREAM_ARK_BASE_URL=emulator.ark_base_url,
            SEEDREAM_ARK_CONCURRENCY=str(ark_concurrency),
            SEEDREAM_ARK_IMAGES_PER_MINUTE="0",
        )
        params = StdioServerParameters(command=str(SEEDREAM_MCP), env=env, cwd=tmp)
        with open(Path(tmp) / "stderr.log", "w") as errlog:
            async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=300) as client:
                yield client


def checked(result: CallToolResult, images: int) -> CallToolResult:
    """``result`` if it saved ``images`` images; a clear error otherwise (a bench must not time failures)."""
    data = result.structured_content or {}
    if result.is_error or len(data.get("images", [])) != images:
        text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
        raise RuntimeError(f"the MCP call did not save {images} image(s): {text[:300]}")
    return result
