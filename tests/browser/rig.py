"""The browser rig: a real ``seedream-mcp`` (stdio subprocess) whose provider is the emulator on 127.0.0.1 with a
gate the test opens image by image, and a relay that serves the test host page and carries its MCP traffic to
that server through the official Python client, which negotiates MCP Apps as a host does.

    page (host.ts + AppBridge) ──fetch──▶ Relay (Starlette, 127.0.0.1) ──stdio──▶ seedream-mcp ──▶ emulator
       └─ sandboxed iframe: the gallery (postMessage only)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client import advertise
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.browser.needs import APP_DIR

HOST_DIR = Path(__file__).parent / "host"
GENERATIONS = "/api/v3/images/generations"
#: The host page's own CSP: its script and the relay only. The gallery's frame inherits it and adds its own.
HOST_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'")
_HOST_CALL_KEY = "seedream-test/host-call"


class Gate:
    """Holds provider requests at the emulator until the test lets them through, one ``release`` each.

    Open, it lets everything pass. Closed, each request waits for a permit; ``held`` counts the waiting ones.
    """

    def __init__(self) -> None:
        self.closed = False
        self.held = 0
        self._permits = asyncio.Semaphore(0)
        self._arrived = asyncio.Condition()

    def close(self) -> None:
        self.closed = True

    def release(self, count: int = 1) -> None:
        for _ in range(count):
            self._permits.release()

    async def wait_until_held(self, count: int) -> None:
        async with self._arrived:
            await self._arrived.wait_for(lambda: self.held >= count)

    async def passing(self) -> None:
        if not self.closed:
            return
        async with self._arrived:
            self.held += 1
            self._arrived.notify_all()
        try:
            await self._permits.acquire()
        finally:
            self.held -= 1


def gated(app: ASGIApp, gate: Gate) -> ASGIApp:
    """The emulator behind ``gate``: image generation requests wait for it; result downloads do not."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == GENERATIONS:
            await gate.passing()
        await app(scope, receive, send)

    return asgi


class TappedWrite:
    """The client's write stream, noting the JSON-RPC id of each host call as it goes out."""

    def __init__(self, inner: Any, sent: dict[str, asyncio.Future[str]]) -> None:
        self._inner = inner
        self._sent = sent

    async def send(self, item: SessionMessage) -> None:
        message = item.message
        params = getattr(message, "params", None) or {}
        marker = (params.get("_meta") or {}).get(_HOST_CALL_KEY) if isinstance(params, dict) else None
        if getattr(message, "method", None) == "tools/call" and marker in self._sent:
            self._sent[marker].set_result(str(message.id))
        await self._inner.send(item)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> TappedWrite:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@asynccontextmanager
async def tapped_stdio(params: StdioServerParameters, sent: dict[str, asyncio.Future[str]],
                       errlog: Any) -> AsyncIterator[tuple[Any, TappedWrite]]:
    async with stdio_client(params, errlog=errlog) as (read, write):
        yield read, TappedWrite(write, sent)


@dataclass
class Relay:
    """Serves the host page and carries its MCP requests to the server; remembers every tools/call."""

    client: Client
    host_js: Path
    sent: dict[str, asyncio.Future[str]]
    calls: list[dict[str, Any]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    host_calls: dict[str, asyncio.Task[dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/", self.page),
            Route("/host.js", self.script),
            Route("/rpc/model-call", self.model_call, methods=["POST"]),
            Route("/rpc/model-call/{call_id}", self.model_result, methods=["POST"]),
            Route("/rpc/{method:path}", self.rpc, methods=["POST"]),
        ])

    async def page(self, request: Request) -> Response:
        return FileResponse(HOST_DIR / "host.html", headers={"content-security-policy": HOST_CSP})

    async def script(self, request: Request) -> Response:
        return FileResponse(self.host_js, media_type="text/javascript")

    async def rpc(self, request: Request) -> Response:
        method, params = request.path_params["method"], await request.json()
        try:
            if method == "tools/list":
                result: Any = await self.client.list_tools()
            elif method == "tools/call":
                self.calls.append(params)
                result = await self.client.call_tool(params["name"], params.get("arguments"),
                                                     meta=params.get("_meta"))
            elif method == "resources/read":
                self.reads.append(params["uri"])
                result = await self.client.read_resource(params["uri"])
            else:
                return JSONResponse({"error": f"the test host does not relay {method}"}, status_code=404)
        except MCPError as exc:
            return JSONResponse({"error": str(exc)}, status_code=502)
        return JSONResponse(_wire(result))

    async def model_call(self, request: Request) -> Response:
        """Start a call as the model would; answer once it is sent, with its JSON-RPC id."""
        params = await request.json()
        call_id = str(next(self._ids))
        self.sent[call_id] = asyncio.get_running_loop().create_future()
        self.calls.append(params)

        async def call() -> dict[str, Any]:
            result = await self.client.call_tool(params["name"], params["arguments"], meta={_HOST_CALL_KEY: call_id})
            return _wire(result)

        self.host_calls[call_id] = asyncio.create_task(call())
        request_id = await self.sent[call_id]
        return JSONResponse({"call_id": call_id, "request_id": int(request_id)})

    async def model_result(self, request: Request) -> Response:
        return JSONResponse(await self.host_calls[request.path_params["call_id"]])

    def tool_calls(self, name: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["name"] == name]


def apps_client(params: StdioServerParameters, sent: dict[str, asyncio.Future[str]], errlog: Any) -> Client:
    """The official client over stdio, declaring MCP Apps like a host that renders them."""
    apps = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
    return Client(tapped_stdio(params, sent, errlog), mode="legacy", extensions=[apps], read_timeout_seconds=120)


def build_host_script(node: str, out: Path) -> Path:
    """Bundle host.ts with the esbuild and ext-apps pinned for the gallery (mcp_server/app)."""
    script = (
        "const { buildSync } = require('esbuild');"
        "buildSync({ entryPoints: [process.argv[1]], outfile: process.argv[2], bundle: true, format: 'iife',"
        " platform: 'browser', target: 'es2022', nodePaths: [process.argv[3]], logLevel: 'error' });"
    )
    target = out / "host.js"
    subprocess.run([node, "-e", script, str(HOST_DIR / "host.ts"), str(target), str(APP_DIR / "node_modules")],
                   cwd=APP_DIR, check=True, timeout=120)
    return target


def _wire(result: Any) -> dict[str, Any]:
    return json.loads(result.model_dump_json(by_alias=True, exclude_none=True))
