"""An MCP client connected in-process to the real server, whose sandbox emulator the test controls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from core.http import HttpClient
from mcp_server.server import build_server
from mcp_server.settings import McpSettings
from tests.conftest import make_settings

Connect = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The folder local reference images may come from (SEEDREAM_MCP_ALLOWED_DIRS)."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def connect(tmp_path: Path, http: HttpClient, home: Path) -> Connect:
    """``async with connect(**mcp_settings) as client``: a client (JSON-RPC framing, as real clients use)."""

    @asynccontextmanager
    async def open_client(*, mode: str = "legacy", **overrides: Any) -> AsyncIterator[Client]:
        values: dict[str, Any] = {"allowed_dirs": str(home), "heartbeat_seconds": 3600.0} | overrides
        server = build_server(settings=make_settings(tmp_path), mcp_settings=McpSettings(_env_file=None, **values),
                              http=http)
        async with Client(server, mode=mode) as client:
            yield client

    return open_client
