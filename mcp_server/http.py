"""The Streamable HTTP transport: the SDK's app behind a bearer-token check, served by uvicorn.

The token is ``SEEDREAM_MCP_TOKEN`` (the operator's) or one of the named tokens of ``SEEDREAM_MCP_TOKENS_FILE``
(``mcp_server.identity``); a named token's user reaches the handlers through the SDK's auth context.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping

import uvicorn
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_server.identity import TokenBook, authenticated
from mcp_server.server import SeedreamServer

MCP_PATH = "/mcp"


class BearerAuth:
    """Refuses every HTTP request without ``Authorization: Bearer <token>`` for one of the tokens (compared in
    constant time); a named token's request goes on as that user (``scope["user"]``, which the SDK binds each
    session to)."""

    def __init__(self, app: ASGIApp, *, token: str | None = None, named: Mapping[str, str] | None = None) -> None:
        tokens: dict[str, str | None] = dict(named or {})
        if token in tokens:
            raise ValueError("the operator's token is also a named token")
        if token:
            tokens[token] = None
        if not tokens or not all(tokens):
            raise ValueError("an empty token would let anyone in")
        self.app = AuthContextMiddleware(app)
        self._book = TokenBook(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found, user = self._book.owner(_bearer(scope))
        if not found:
            response = JSONResponse(
                {"error": "invalid_token", "error_description": "a valid bearer token is required"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="seedream-mcp"'},
            )
            await response(scope, receive, send)
            return
        if user is not None:
            scope = scope | {"user": authenticated(user)}
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str:
    """The token of the request's ``Authorization: Bearer …`` header ("" when there is none)."""
    given = next((value for name, value in scope.get("headers", ()) if name == b"authorization"), b"")
    scheme, _, token = given.decode("latin-1").partition(" ")
    return token if scheme == "Bearer" else ""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; a name that is not an address counts as reachable."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_server(server: SeedreamServer, *, host: str, port: int, token: str | None = None,
                named: Mapping[str, str] | None = None) -> uvicorn.Server:
    """A uvicorn server for ``server`` at ``http://host:port/mcp``: ``await it.serve()`` (or with sockets).
    ``token``: the operator's; ``named``: token → user name (at least one of them).

    Logs go through the ``logging`` configuration (stderr); no access log.
    """
    app = BearerAuth(server.streamable_http_app(streamable_http_path=MCP_PATH, host=host), token=token, named=named)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
    return uvicorn.Server(config)


def loopback_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound, listening socket (port 0: a free one) to hand to ``uvicorn.Server.serve(sockets=[…])``."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock
