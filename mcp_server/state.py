"""What the tools share for the server's lifetime (built in the lifespan, reached through the ``Context``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from core.errors import ConfigurationError
from core.jobs import CounterStore
from core.service import ImageService
from mcp_server.app.board import JobBoard
from mcp_server.content import ResultShaper
from mcp_server.preview_cache import PreviewCache
from mcp_server.previews import PreviewLimits
from mcp_server.progress import JobWatches
from mcp_server.settings import McpSettings


@dataclass
class AppState:
    """The service, the adapter settings, previews, result shaping, the jobs this server has running and what
    the galleries follow."""

    service: ImageService
    settings: McpSettings
    readable_roots: tuple[Path, ...]
    counters: CounterStore | None = None  # the per-user quotas' (mcp_server.quota)
    watches: JobWatches = field(default_factory=JobWatches)
    board: JobBoard = field(default_factory=JobBoard)  # what galleries (MCP Apps) follow
    previews: PreviewCache = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        limits = PreviewLimits(
            budget=s.inline_budget,
            max_side=s.preview_max_side,
            max_pixels=s.preview_max_pixels,
            min_side=s.preview_min_side,
            max_images=s.max_inline_images,
        )
        self.previews = PreviewCache(limits, self.readable_roots)

    @property
    def shaper(self) -> ResultShaper:
        return ResultShaper(self.previews)

    @classmethod
    def of(cls, ctx: Context[Any, Any]) -> AppState:
        """The state of a request that needs it (the server awaited ``Opening.ready`` before handling it)."""
        state = ctx.request_context.lifespan_context
        if isinstance(state, Opening):
            state = state.value
        assert isinstance(state, AppState), "the server was built without its lifespan"
        return state

    def provider_line(self) -> str:
        try:
            return f"Default provider: {self.service.default_provider}."
        except ConfigurationError as exc:
            return f"No default provider: {exc.message}"

    @staticmethod
    def result(text: str, structured: BaseModel) -> CallToolResult:
        return CallToolResult(
            content=[TextContent(text=text)], structured_content=structured.model_dump(mode="json")
        )


class Opening:
    """The lifespan's context: the state, opened in the background so that the server answers ``initialize``
    and ``tools/list`` at once (a host gives up on a server that is slow to start); what needs the state
    awaits ``ready()`` first."""

    def __init__(self) -> None:
        self.value: AppState | None = None
        self._opened = asyncio.Event()

    def opened(self, value: AppState | None) -> None:
        """The state (``None``: it could not be opened, and the server says why on every call)."""
        self.value = value
        self._opened.set()

    async def ready(self) -> AppState | None:
        await self._opened.wait()
        return self.value
