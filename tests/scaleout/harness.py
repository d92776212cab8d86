"""Several real processes on one provider account: ``seedream-mcp --transport http`` replicas as subprocesses,
sharing PostgreSQL, Redis, one output folder and one emulated Ark account (on uvicorn at 127.0.0.1, in the
test's own loop, so the test reads its counters and holds its generations)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

T = TypeVar("T")
BIN = Path(sys.executable).parent
TOKEN = "replica-test-token"
ARK_KEY = "ark-test-key"
SERVING = re.compile(r"serving MCP at (http://\S+/mcp)")


def shared_env(tmp_path: Path, *, database_url: str, redis_url: str, redis_prefix: str, ark_base: str,
               lease_seconds: float = 30.0, **extra: str) -> dict[str, str]:
    """The environment every process of the deployment shares: one database, one Redis prefix, one output
    folder, one Ark account (capped at 2 in flight, like the emulated one)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "SEEDREAM_PROVIDER": "ark",
        "ARK_API_KEY": ARK_KEY,
        "SEEDREAM_ARK_BASE_URL": f"{ark_base}/api/v3",
        "SEEDREAM_ARK_CONCURRENCY": "2",
        "SEEDREAM_DATA_DIR": str(tmp_path / "data"),
        "SEEDREAM_OUTPUT_DIR": str(tmp_path / "shared-images"),
        "SEEDREAM_DATABASE_URL": database_url,
        "SEEDREAM_REDIS_URL": redis_url,
        "SEEDREAM_REDIS_PREFIX": redis_prefix,
        "SEEDREAM_LEASE_SECONDS": str(lease_seconds),
        "SEEDREAM_MCP_TOKEN": TOKEN,
        **extra,
    }


@dataclass
class Replica:
    """One ``seedream-mcp --transport http`` process."""

    process: asyncio.subprocess.Process
    url: str
    stderr: list[str] = field(default_factory=list)

    @asynccontextmanager
    async def client(self) -> AsyncIterator[Client]:
        authed = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
        async with authed, Client(streamable_http_client(self.url, http_client=authed), mode="legacy") as client:
            yield client

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine disappears."""
        self.process.send_signal(signal.SIGKILL)


async def _drain(stream: asyncio.StreamReader, lines: list[str], url: asyncio.Future[str]) -> None:
    while line := await stream.readline():
        text = line.decode(errors="replace").rstrip()
        lines.append(text)
        found = SERVING.search(text)
        if found and not url.done():
            url.set_result(found[1])
    if not url.done():
        url.set_exception(RuntimeError("seedream-mcp exited before serving:\n" + "\n".join(lines)))


@asynccontextmanager
async def replica(env: dict[str, str]) -> AsyncIterator[Replica]:
    """A replica on a free loopback port; stopped (SIGTERM, then SIGKILL) on exit."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "seedream-mcp"), "--transport", "http", "--port", "0", env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    lines: list[str] = []
    url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    assert process.stderr is not None
    drain = asyncio.create_task(_drain(process.stderr, lines, url))
    try:
        yield Replica(process, await asyncio.wait_for(url, 60), lines)
    finally:
        await stop(process)
        await drain


@asynccontextmanager
async def replicas(env: dict[str, str], count: int) -> AsyncIterator[list[Replica]]:
    """``count`` replicas started together."""
    async with AsyncExitStack() as stack:
        started = await asyncio.gather(*(stack.enter_async_context(replica(env)) for _ in range(count)))
        yield list(started)


async def generate(replica: Replica, **arguments: Any) -> dict[str, Any]:
    """``generate_image`` on ``replica``; its structured result (the call must not fail)."""
    async with replica.client() as client:
        result = await client.call_tool("generate_image", {"prompt": "a lighthouse", **arguments})
    assert not result.is_error, result.content
    return result.structured_content


async def until(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout: float = 30.0,
                what: str = "the condition") -> T:
    """Read another process's state until ``done`` holds (every 50 ms); fail after a generous ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done(value := await read()):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(0.05)
    return value


class TcpProxy:
    """A loopback TCP forwarder to a backend (PostgreSQL, Redis) that the test can stop and start again on the
    same port: to its clients, the backend goes away and comes back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every open connection."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._links):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._links -= {writer, up_writer}
            for end in (writer, up_writer):
                end.transport.abort()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.transport.abort()


@asynccontextmanager
async def bot_shard(env: dict[str, str], *, api_base: str, gateway_url: str, token: str, shard: int,
                    shards: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """``seedream-bot`` running shard ``shard`` of ``shards`` against a Discord-compatible server."""
    shard_env = env | {
        "DISCORD_TOKEN": token,
        "SEEDREAM_DISCORD_API_BASE": api_base,
        "SEEDREAM_DISCORD_GATEWAY_URL": gateway_url,
        "SEEDREAM_DISCORD_SHARD_COUNT": str(shards),
        "SEEDREAM_DISCORD_SHARD_IDS": str(shard),
    }
    process = await asyncio.create_subprocess_exec(
        str(BIN / "seedream-bot"), env=shard_env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        yield process
    finally:
        await stop(process)


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (a clean stop: running jobs finish), then SIGKILL if it lingers."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
