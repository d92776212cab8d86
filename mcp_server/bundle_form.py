"""The settings form of the MCP Bundle (``user_config`` in its manifest) and the variable each field sets.

Claude Desktop shows these fields when the bundle is installed, keeps the sensitive ones in the OS keychain and
starts the server with ``${user_config.<field>}`` substituted into the environment. Every field is optional
and defaults to empty, which the settings read as "not set" (``env_ignore_empty``), so the server's own
defaults apply. Only the standard library is imported: ``seedream-mcp`` names these fields at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Claude Desktop rejects a tool result over 1,048,576 characters; previews must leave room for the text.
MAX_PREVIEW_BUDGET = 900_000


def _secret(title: str, description: str) -> dict[str, Any]:
    return {"type": "string", "title": title, "description": description, "sensitive": True, "required": False,
            "default": ""}


#: ``user_config`` of the manifest, in the order of the form. The preview budget's default is filled in from
#: ``McpSettings`` when the manifest is built.
FORM: dict[str, dict[str, Any]] = {
    "provider": {
        "type": "string", "title": "Provider", "required": False, "default": "",
        "description": "ark, visual, chanjing or gateway — or sandbox for free test images made on this computer "
                       "(no key needed). Empty: the first provider whose key is filled in below.",
    },
    "ark_api_key": _secret("Ark API key", "Volcengine Ark API key (Seedream 3.0–5.0, SeedEdit 3.0)."),
    "volc_accesskey": _secret("Visual access key ID", "Volcengine Visual (CVProcess) access key ID, with the "
                                                      "secret access key below (Seedream 3.0)."),
    "volc_secretkey": _secret("Visual secret access key", "Volcengine Visual secret access key."),
    "chanjing_app_id": _secret("Chanjing app ID", "Chanjing app ID, with the secret key below."),
    "chanjing_secret_key": _secret("Chanjing secret key", "Chanjing secret key."),
    "gateway_base_url": {
        "type": "string", "title": "Gateway URL", "required": False, "default": "",
        "description": "Origin of an OpenAI-compatible gateway serving Seedream. Empty: https://api-platform.ope.ai.",
    },
    "gateway_api_key": _secret("Gateway API key", "API key of the OpenAI-compatible gateway."),
    "output_dir": {
        "type": "directory", "title": "Output folder", "required": False, "default": "",
        "description": "Where full-size images and their JSON sidecars are saved. Empty: the per-user data folder "
                       "(macOS ~/Library/Application Support/seedream-studio/images, Windows "
                       "%LOCALAPPDATA%\\seedream-studio\\images, Linux ~/.local/share/seedream-studio/images).",
    },
    "allowed_dirs": {
        "type": "directory", "title": "Reference image folders", "multiple": True, "required": False,
        "default": [],
        "description": "Folders edit_image may read local reference images from. Empty: your home folder and "
                       "the output folder.",
    },
    "preview_budget": {
        "type": "number", "title": "Preview budget", "required": False, "min": 0, "max": MAX_PREVIEW_BUDGET,
        "description": "Base64 characters of inline previews per tool result (0: no previews). Claude Desktop "
                       "rejects a result over 1,048,576 characters.",
    },
}

#: The environment variable each field sets. ``allowed_dirs`` is a list, which a host cannot put in one
#: variable: it travels as arguments and the bundle's launcher joins it into ``SEEDREAM_MCP_ALLOWED_DIRS``.
ENV: dict[str, str] = {
    "provider": "SEEDREAM_PROVIDER",
    "ark_api_key": "ARK_API_KEY",
    "volc_accesskey": "VOLC_ACCESSKEY",
    "volc_secretkey": "VOLC_SECRETKEY",
    "chanjing_app_id": "CHANJING_APP_ID",
    "chanjing_secret_key": "CHANJING_SECRET_KEY",
    "gateway_base_url": "SEEDREAM_GATEWAY_BASE_URL",
    "gateway_api_key": "SEEDREAM_GATEWAY_API_KEY",
    "output_dir": "SEEDREAM_OUTPUT_DIR",
    "preview_budget": "SEEDREAM_MCP_INLINE_BUDGET",
}


def form_hint(credentials: Mapping[str, Sequence[str]]) -> str:
    """Where to fill in credentials in Claude Desktop, for ``credentials`` (provider → its variables)."""
    titles = {variable: f'"{FORM[field]["title"]}"' for field, variable in ENV.items()}
    groups = [" + ".join(titles.get(v, v) for v in variables) for variables in credentials.values()]
    return (f"In Claude Desktop, fill in the extension's settings: {', or '.join(groups)}; "
            f'or set "{FORM["provider"]["title"]}" to sandbox.')
