"""The in-chat gallery, an MCP App (``io.modelcontextprotocol/ui``) for ``generate_image`` and ``edit_image``.

``gallery.html`` is one self-contained file built from ``src/`` by ``build.mjs`` (esbuild, pinned in
``package.json``/``package-lock.json``); the server side is in ``extension`` (resource, app-only tools,
per-client listing), ``board`` (following jobs live) and ``views`` (what the gallery is told about a job).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

GALLERY_URI = "ui://seedream/gallery"


@cache
def gallery_html() -> str:
    """The built gallery (``mcp_server/app/gallery.html``, shipped in the package)."""
    return files(__package__).joinpath("gallery.html").read_text(encoding="utf-8")
