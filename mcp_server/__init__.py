"""The Seedream MCP server: ``generate_image``, ``edit_image``, ``list_models``, ``get_job``, ``list_jobs``.

Importing this package stays cheap and silent (``seedream-mcp`` diverts stdout before loading the libraries):
``build_server`` and ``McpSettings`` are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_server.server import build_server
    from mcp_server.settings import McpSettings

__all__ = ["McpSettings", "build_server"]


def __getattr__(name: str) -> Any:
    if name == "build_server":
        from mcp_server.server import build_server

        return build_server
    if name == "McpSettings":
        from mcp_server.settings import McpSettings

        return McpSettings
    raise AttributeError(name)
