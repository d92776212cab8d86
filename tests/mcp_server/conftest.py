"""An MCP client connected in-process to the real server, whose sandbox emulator the test controls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import ClientExtension

from core.http import HttpClient
from mcp_server.server import build_server
from mcp_server.settings import McpSettings
from tests.conftest import make_settings

Connect = Callable[..., AbstractAsyncContextManager[Client]]


def mcp_settings(home: Path, **overrides: Any) -> McpSettings:
    """Test settings: references from ``home`` only; heartbeats effectively off (tests use the event path)."""
    values: dict[str, Any] = {"allowed_dirs": str(home), "heartbeat_seconds": 3600.0} | overrides
    return McpSettings(_env_file=None, **values)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The folder local reference images may come from (SEEDREAM_MCP_ALLOWED_DIRS)."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def connect(tmp_path: Path, http: HttpClient, home: Path) -> Connect:
    """``async with connect(settings | **overrides) as client``: a client speaking JSON-RPC to the server in
    process, as real clients do over a transport (``mode="legacy"``, the default here); ``mode="auto"`` takes
    the SDK's modern in-process path (2026-07-28) instead. ``extensions``: the client's (e.g. tasks)."""

    @asynccontextmanager
    async def open_client(
        settings: McpSettings | None = None,
        *,
        mode: str = "legacy",
        extensions: Sequence[ClientExtension] | None = None,
        **overrides: Any,
    ) -> AsyncIterator[Client]:
        settings = settings or mcp_settings(home, **overrides)
        server = build_server(settings=make_settings(tmp_path), mcp_settings=settings, http=http)
        async with Client(server, mode=mode, extensions=extensions) as client:
            yield client

    return open_client
