"""An ASGI transport that streams: the response is handed over as soon as the app starts it, and its body
as the app sends it. ``httpx2.ASGITransport`` waits for the whole body, so an in-process SSE stream (the
sandbox) would deliver a group's images all at the end; this one delivers them as they are made.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx2
from starlette.types import ASGIApp

_END = object()


class StreamingASGITransport(httpx2.AsyncBaseTransport):
    """Serve requests with an in-process ASGI app, streaming each response body."""

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        self.app = app
        self.client = client

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        exchange = _Exchange(body)
        task = asyncio.create_task(self._run(_scope(request, self.client), exchange))
        started = asyncio.create_task(exchange.started.wait())
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if not exchange.started.is_set():  # the app failed before answering
            await task  # re-raises the app's exception
            raise httpx2.RemoteProtocolError("the app ended without a response", request=request)
        return httpx2.Response(exchange.status, headers=exchange.headers, stream=_Body(exchange, task),
                               request=request)

    async def _run(self, scope: dict[str, Any], exchange: _Exchange) -> None:
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            if not exchange.started.is_set():
                raise
            exchange.chunks.put_nowait(exc)  # a failure mid-body: the reader sees a broken connection
        finally:
            exchange.chunks.put_nowait(_END)


class _Exchange:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.body_sent = False
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.started = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.chunks: asyncio.Queue[object] = asyncio.Queue()

    async def receive(self) -> dict[str, Any]:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
            self.started.set()
        elif message["type"] == "http.response.body" and not self.disconnected.is_set() and message.get("body"):
            self.chunks.put_nowait(message["body"])


class _Body(httpx2.AsyncByteStream):
    def __init__(self, exchange: _Exchange, task: asyncio.Task[None]) -> None:
        self._exchange = exchange
        self._task = task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._exchange.chunks.get()) is not _END:
            if isinstance(chunk, Exception):
                raise httpx2.RemoteProtocolError(f"the connection broke mid-body ({type(chunk).__name__})")
            assert isinstance(chunk, bytes)
            yield chunk

    async def aclose(self) -> None:
        self._exchange.disconnected.set()
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


def _scope(request: httpx2.Request, client: tuple[str, int]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
        "headers": [(k.lower(), v) for (k, v) in request.headers.raw], "scheme": request.url.scheme,
        "path": request.url.path, "raw_path": request.url.raw_path.split(b"?")[0],
        "query_string": request.url.query, "server": (request.url.host, request.url.port), "client": client,
        "root_path": "",
    }
