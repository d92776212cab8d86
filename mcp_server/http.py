"""The Streamable HTTP transport: the SDK's app behind a bearer-token check, served by uvicorn."""

from __future__ import annotations

import hmac
import ipaddress
import socket

import uvicorn
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_server.server import SeedreamServer

MCP_PATH = "/mcp"


class BearerAuth:
    """Refuses every HTTP request without ``Authorization: Bearer <token>`` (constant-time comparison)."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        if not token:
            raise ValueError("an empty token would let anyone in")
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            response = JSONResponse(
                {"error": "invalid_token", "error_description": "a valid bearer token is required"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="seedream-mcp"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = next((value for name, value in scope.get("headers", ()) if name == b"authorization"), b"")
        return hmac.compare_digest(given, self._expected)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; a name that is not an address counts as reachable."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_server(server: SeedreamServer, *, host: str, port: int, token: str) -> uvicorn.Server:
    """A uvicorn server for ``server`` at ``http://host:port/mcp``: ``await it.serve()`` (or with sockets).

    Logs go through the ``logging`` configuration (stderr); no access log.
    """
    app = BearerAuth(server.streamable_http_app(streamable_http_path=MCP_PATH, host=host), token=token)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
    return uvicorn.Server(config)


def loopback_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound, listening socket (port 0: a free one) to hand to ``uvicorn.Server.serve(sockets=[…])``."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock
