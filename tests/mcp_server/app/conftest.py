"""A client that negotiates MCP Apps (``io.modelcontextprotocol/ui`` with the app MIME type), as hosts that
render MCP Apps do, connected in-process to the real server; and one that does not."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from core.http import HttpClient
from mcp_server.server import build_server
from tests.conftest import make_settings
from tests.mcp_server.conftest import mcp_settings

APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})

Connect = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def connect_host(tmp_path: Path, http: HttpClient, home: Path) -> Connect:
    """``async with connect_host(apps=True) as client``; ``apps=False`` declares no extension at all; ``core``
    overrides core settings, the other keywords the MCP settings."""

    @asynccontextmanager
    async def open_client(*, apps: bool = True, mode: str = "legacy", core: dict[str, Any] | None = None,
                          **overrides: Any) -> AsyncIterator[Client]:
        server = build_server(settings=make_settings(tmp_path, **(core or {})),
                              mcp_settings=mcp_settings(home, **overrides), http=http)
        async with Client(server, mode=mode, extensions=[APPS] if apps else []) as client:
            yield client

    return open_client
