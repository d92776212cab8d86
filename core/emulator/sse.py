"""Raw ASGI responses the emulator needs beyond Starlette's: Server-Sent Events whose headers go out only with
the first event, bodies cut short, and dropped connections.

A dropped connection is an exception raised after the response has started. Over a real socket the server
then closes the connection (the client sees an incomplete message); through ``httpx2.ASGITransport`` the
exception reaches the client as it is, so it is the transport error a dropped connection produces there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping

import httpx2
from starlette.types import Receive, Scope, Send


class ConnectionDropped(httpx2.RemoteProtocolError):
    """The emulated server dropped the connection mid-answer."""


def sse_frame(data: Mapping[str, object] | str, *, event: str | None = None) -> bytes:
    """One SSE frame: ``event: <name>\\ndata: <json>\\n\\n`` (``data`` alone when ``event`` is None)."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


def _raw_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class EventStream:
    """A ``text/event-stream`` response of ``frames``. The caller produces the first frame's content before
    building it, so the headers go out only when the first image is done, as Ark's do.

    ``drop_after`` frames in, the connection is dropped instead of continuing; ``on_close`` always runs last.
    """

    def __init__(self, frames: AsyncIterator[bytes], *, headers: Mapping[str, str],
                 on_close: Callable[[], None], drop_after: int | None = None) -> None:
        self._frames = frames
        self._headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
                         **headers}
        self._on_close = on_close
        self._drop_after = drop_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _raw_headers(self._headers)})
            sent = 0
            async for frame in self._frames:
                if self._drop_after is not None and sent >= self._drop_after:
                    raise ConnectionDropped("the server dropped the connection mid-stream")
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                sent += 1
            if self._drop_after is not None:
                raise ConnectionDropped("the server dropped the connection mid-stream")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await _close(self._frames)
            self._on_close()


async def _close(frames: AsyncIterator[bytes]) -> None:
    aclose = getattr(frames, "aclose", None)
    if aclose is not None:
        await aclose()


class CutBody:
    """A response that declares ``Content-Length`` for ``body`` but sends only ``keep`` bytes of it.

    ``drop``: raise after the partial body (the connection breaks); otherwise end the response short.
    """

    def __init__(self, body: bytes, *, keep: int, status: int = 200, headers: Mapping[str, str],
                 drop: bool = True) -> None:
        self._body = body
        self._keep = max(0, min(keep, len(body)))
        self._status = status
        self._headers = {**headers, "Content-Length": str(len(body))}
        self._drop = drop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self._status, "headers": _raw_headers(self._headers)})
        await send({"type": "http.response.body", "body": self._body[: self._keep], "more_body": self._drop})
        if self._drop:
            raise ConnectionDropped("the server closed the connection before sending the whole body")
