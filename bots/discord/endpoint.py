"""Pointing one discord.py client at a Discord-compatible server (layer 2, Discord helpers).

discord.py builds its URLs from class-level defaults: ``discord.http.Route.BASE`` for REST calls and for the
interaction webhooks, ``DiscordWebSocket.DEFAULT_GATEWAY`` for the first gateway connection (a client without
shards never asks ``GET /gateway/bot``). Changing those would move every client in the process. Instead, one
client is pointed:

- its ``HTTPClient`` is an ``EndpointHTTPClient``: every REST request goes to the configured base, and the
  gateway opens at the configured URL (or, with only a REST base, at the one that server announces at
  ``GET /gateway/bot``). Resume URLs the server hands out are used as given.
- interaction responses, follow-ups and their edits go through discord.py's webhook adapter, which discord.py
  looks up in a context variable: ``webhooks_through`` sets an ``EndpointWebhookAdapter`` in the task that
  runs the client's gateway, and every event handler (a task started from it) inherits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter, async_context


@dataclass(frozen=True)
class DiscordEndpoint:
    """Where one client finds Discord: a REST base (``…/api/v10``) and/or a gateway URL (``ws[s]://…``)."""

    api_base: str | None = None
    gateway_url: str | None = None

    @classmethod
    def configured(cls, *, api_base: str | None, gateway_url: str | None) -> DiscordEndpoint | None:
        """The endpoint the settings name, or ``None`` for discord.py's own (discord.com)."""
        if not api_base and not gateway_url:
            return None
        return cls(api_base=api_base.rstrip("/") if api_base else None, gateway_url=gateway_url or None)

    def route(self, route: Route) -> Route:
        """``route`` with its URL moved onto this endpoint's REST base (unchanged without one).

        Raises:
            RuntimeError: the route was not built on discord.py's base, so it cannot be moved safely.
        """
        if self.api_base is None:
            return route
        if not route.url.startswith(Route.BASE):
            raise RuntimeError(f"a Discord route outside {Route.BASE}: {route.method} {route.path}")
        moved = copy.copy(route)
        moved.url = self.api_base + route.url[len(Route.BASE) :]
        return moved


class EndpointHTTPClient(HTTPClient):
    """discord.py's HTTP client, sending this client's requests and gateway connection to an endpoint."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, endpoint: DiscordEndpoint, **options: Any) -> None:
        super().__init__(loop, **options)
        self.endpoint = endpoint
        self._announced_gateway: str | None = None

    @classmethod
    def replacing(cls, http: HTTPClient, endpoint: DiscordEndpoint) -> EndpointHTTPClient:
        """A client configured like ``http`` (connector, proxy, clock and rate-limit options)."""
        return cls(
            http.loop,
            endpoint=endpoint,
            connector=http.connector or None,  # discord.py keeps "none given" as a falsy sentinel
            proxy=http.proxy,
            proxy_auth=http.proxy_auth,
            unsync_clock=not http.use_clock,
            http_trace=http.http_trace,
            max_ratelimit_timeout=http.max_ratelimit_timeout,
        )

    async def request(self, route: Route, **kwargs: Any) -> Any:
        return await super().request(self.endpoint.route(route), **kwargs)

    async def ws_connect(self, url: str, *, compress: int = 0) -> aiohttp.ClientWebSocketResponse:
        return await super().ws_connect(await self._gateway(url), compress=compress)

    async def _gateway(self, url: str) -> str:
        """The endpoint's gateway in place of discord.py's default one, keeping the query discord.py added."""
        asked = yarl.URL(url)
        if asked.with_query(None) != DiscordWebSocket.DEFAULT_GATEWAY.with_query(None):
            return url  # a resume URL the server gave
        target = self.endpoint.gateway_url
        if target is None and self.endpoint.api_base is not None:
            if self._announced_gateway is None:
                _, self._announced_gateway, _ = await self.get_bot_gateway()
            target = self._announced_gateway
        return url if target is None else str(yarl.URL(target).with_query(asked.query))


class EndpointWebhookAdapter(AsyncWebhookAdapter):
    """discord.py's webhook adapter (interaction responses, follow-ups), sending to an endpoint's REST base."""

    def __init__(self, endpoint: DiscordEndpoint) -> None:
        super().__init__()
        self.endpoint = endpoint

    async def request(self, route: Route, session: aiohttp.ClientSession, **kwargs: Any) -> Any:
        return await super().request(self.endpoint.route(route), session, **kwargs)


@contextlib.contextmanager
def webhooks_through(endpoint: DiscordEndpoint | None) -> Iterator[None]:
    """In this context (and the tasks started from it), interaction webhooks go to ``endpoint``."""
    if endpoint is None or endpoint.api_base is None:
        yield
        return
    token = async_context.set(EndpointWebhookAdapter(endpoint))
    try:
        yield
    finally:
        async_context.reset(token)
