"""The HTTP + websocket server of the fake Discord, on a real loopback port."""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from collections.abc import Awaitable, Callable

from aiohttp import web

from .bodies import error_response, json_response
from .bodies import to_int as _int
from .gateway import Gateway
from .records import RequestRecord
from .rest import BotRoutes
from .rules import ApiError
from .state import FakeState
from .webhooks import InteractionRoutes

_log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
_MAX_REQUEST_BYTES = 1024**3  # the fake enforces Discord's own limits, not aiohttp's 1 MiB default

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Stall:
    """Holds the next request(s) matching a method and a path pattern before the fake looks at them, until
    :meth:`release` (e.g. to let the fake clock move while a request is on its way)."""

    def __init__(self, method: str, pattern: str, *, times: int = 1) -> None:
        self.method = method.upper()
        self.pattern = re.compile(pattern)
        self.remaining = times
        self.arrived = asyncio.Event()  # set when a request is being held
        self._released = asyncio.Event()

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and method == self.method and self.pattern.search(path) is not None

    async def hold(self) -> None:
        self.remaining -= 1
        self.arrived.set()
        await self._released.wait()

    def release(self) -> None:
        """Let the held request(s) through (and any later match, without holding)."""
        self.remaining = 0
        self._released.set()


class FakeServer:
    """Owns the aiohttp application and its runner; knows nothing of the test API."""

    def __init__(self, state: FakeState, *, host: str, port: int) -> None:
        self._state = state
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.gateway: Gateway | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        """Bind the port (``0`` = any free one) and serve."""
        app = web.Application(middlewares=[self._middleware], client_max_size=_MAX_REQUEST_BYTES)
        self.gateway = Gateway(self._state)
        app.router.add_get("/", self.gateway.handle)
        app.router.add_routes(BotRoutes(self._state).routes(API_PREFIX))
        app.router.add_routes(InteractionRoutes(self._state).routes(API_PREFIX))
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._state.base_url = self.base_url

    async def stop(self) -> None:
        """Close websockets and stop serving."""
        if self.gateway is not None:
            await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        stall = next((s for s in self._state.stalls if s.matches(request.method, request.path)), None)
        if stall is not None:
            await stall.hold()  # before any rule is checked: as if the request were still on its way
        try:
            response = await handler(request)
        except ApiError as error:
            if error.violation is not None:
                self._state.record_violation(error.violation, error.detail, path=request.path)
            response = error_response(error)
        except web.HTTPException:
            raise
        except Exception as exc:  # a bug in the fake must fail the test, not retry in discord.py
            self._state.internal_errors.append("".join(traceback.format_exception(exc)))
            _log.exception("fake discord: internal error on %s %s", request.method, request.path)
            response = json_response({"code": 0, "message": f"fake discord internal error: {exc!r}"}, status=400)
        if request.path != "/":
            self._state.requests.append(RequestRecord(request.method, request.path, response.status))
            self._state.changed()
        return response

    async def _attachment(self, request: web.Request) -> web.Response:
        attachment = self._state.attachments.get(_int(request.match_info["attachment_id"]))
        if attachment is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=attachment.data, headers={"Content-Type": attachment.content_type})

    async def _unknown(self, request: web.Request) -> web.Response:
        record = RequestRecord(request.method, request.path, 404)
        self._state.unknown_requests.append(record)
        self._state.changed()
        _log.warning("fake discord: unknown route %s %s", request.method, request.path)
        return json_response({"code": 0, "message": "404: Not Found (route unknown to the fake)"}, status=404)
