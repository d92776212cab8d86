"""``seedream-mcp`` (also ``seedream mcp``): the MCP server over stdio (default) or Streamable HTTP.

On stdio, stdout carries JSON-RPC and nothing else. Logging goes to stderr before any library is imported, and
file descriptor 1 itself points at stderr while the libraries load and the server is built, so a stray
``print`` or a C library's output can never reach the client; the SDK's stdio transport then takes the real
stdout for the protocol alone (and keeps fd 1 diverted to stderr while it serves).

Only the standard library is imported at module level, for the same reason.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from mcp_server.server import SeedreamServer
    from mcp_server.settings import McpSettings

log = logging.getLogger("mcp_server")

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until the client disconnects (stdio) or it is interrupted (HTTP); the exit code."""
    _log_to_stderr()
    args = _parser().parse_args(argv)
    real_stdout = _divert_stdout()
    try:
        return _run(args, real_stdout)
    except KeyboardInterrupt:
        return 130
    finally:
        _restore_stdout(real_stdout)
        os.close(real_stdout)


def _run(args: argparse.Namespace, real_stdout: int) -> int:
    from core.errors import ConfigurationError
    from core.settings import Settings
    from core.settings_errors import read_settings
    from mcp_server.settings import McpSettings

    try:
        settings = read_settings(Settings)
        overrides = {k: v for k, v in vars(args).items() if v is not None and k != "log_level"}
        mcp_settings = read_settings(McpSettings, **overrides)
    except ConfigurationError as exc:
        print(f"seedream-mcp: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    logging.getLogger().setLevel(args.log_level or "WARNING")
    _warn_if_unconfigured(settings)
    _report_environment(settings)
    from mcp_server.server import build_server

    server = build_server(settings=settings, mcp_settings=mcp_settings)
    if mcp_settings.transport == "http":
        return _serve_http(server, mcp_settings)
    sys.stdout.flush()
    _restore_stdout(real_stdout)  # the SDK claims fd 1 for the protocol and diverts it again while serving
    server.run("stdio")
    return 0


def _report_environment(settings: Settings) -> None:
    """Say at start-up what keeps the server from saving or recording images; it still starts, lists its
    tools, and every tool call that cannot work repeats the reason (Claude shows it there)."""
    from core.environment import environment_problems

    for problem in environment_problems(settings):
        sys.stderr.write(f"seedream-mcp: {problem.message}\n")


def _warn_if_unconfigured(settings: Settings) -> None:
    """Say at start-up, in environment variables and in the bundle's form fields, what to set (the server
    still starts: tool results repeat it, and the sandbox can be chosen per call)."""
    from core.errors import ConfigurationError
    from core.providers.registry import credential_variables, default_provider
    from mcp_server.bundle_form import form_hint

    try:
        default_provider(settings)
    except ConfigurationError as exc:
        sys.stderr.write(f"seedream-mcp: {exc.message} {form_hint(credential_variables(settings.catalog))}\n")


def _serve_http(server: SeedreamServer, mcp_settings: McpSettings) -> int:
    import anyio

    from core.errors import ConfigurationError
    from mcp_server.http import http_server, is_loopback, loopback_socket

    token = mcp_settings.token.get_secret_value().strip() if mcp_settings.token else ""
    try:
        named = _named_tokens(mcp_settings, operator_token=token)
    except ConfigurationError as exc:
        sys.stderr.write(f"seedream-mcp: {exc.message}\n")
        return EXIT_USAGE
    if not token and not named and not is_loopback(mcp_settings.host):
        sys.stderr.write(
            f"seedream-mcp: refusing to listen on {mcp_settings.host} without a token; set "
            "SEEDREAM_MCP_TOKEN or SEEDREAM_MCP_TOKENS_FILE (clients send it as 'Authorization: Bearer <token>').\n"
        )
        return EXIT_USAGE
    try:  # the port is taken before anything says "serving"
        sock = loopback_socket(mcp_settings.host, mcp_settings.port)
    except OSError as exc:
        sys.stderr.write(f"seedream-mcp: cannot listen on {mcp_settings.host}:{mcp_settings.port} "
                         f"({_bind_words(exc)}); choose another with --port or SEEDREAM_MCP_PORT.\n")
        return EXIT_USAGE
    if not token and not named:
        token = secrets.token_urlsafe(24)
        sys.stderr.write(f"seedream-mcp: SEEDREAM_MCP_TOKEN is not set; this run's bearer token is {token}\n")
    port = sock.getsockname()[1]
    uvicorn_server = http_server(server, host=mcp_settings.host, port=port, token=token or None, named=named)
    users = f" for {len(set(named.values()))} named user(s)" if named else ""
    print(f"seedream-mcp: serving MCP at http://{mcp_settings.host}:{port}/mcp{users}", file=sys.stderr)
    try:
        anyio.run(lambda: uvicorn_server.serve(sockets=[sock]))
    finally:
        sock.close()
    return 0


def _named_tokens(mcp_settings: McpSettings, *, operator_token: str) -> dict[str, str]:
    """The named tokens of ``SEEDREAM_MCP_TOKENS_FILE`` (none when it is not set). Raises ConfigurationError."""
    from mcp_server.identity import load_tokens

    if mcp_settings.tokens_file is None:
        return {}
    return load_tokens(mcp_settings.tokens_file, operator_token=operator_token or None)


def _bind_words(error: OSError) -> str:
    import errno
    import socket

    if isinstance(error, socket.gaierror):
        return "no such host"
    if error.errno == errno.EADDRINUSE:
        return "the port is in use"
    return error.strerror or str(error)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seedream-mcp", description="Seedream image generation as an MCP server."
    )
    parser.add_argument(
        "--transport", choices=["stdio", "http"], help="default stdio (SEEDREAM_MCP_TRANSPORT)"
    )
    parser.add_argument("--host", help="HTTP address, default 127.0.0.1 (SEEDREAM_MCP_HOST)")
    parser.add_argument("--port", type=int, help="HTTP port, default 8791 (SEEDREAM_MCP_PORT)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default WARNING")
    parser.add_argument("--version", action="version", version=f"seedream-mcp {_version()}")
    return parser


def _version() -> str:
    from core.about import version

    return version()


def _log_to_stderr() -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)


def _divert_stdout() -> int:
    """Point fd 1 at stderr; return a duplicate of the real stdout to restore later."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    return saved


def _restore_stdout(saved: int) -> None:
    sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.dup2(saved, 1)


if __name__ == "__main__":
    sys.exit(main())
