"""What an MCP Bundle host does with a manifest before it starts the server: the official reference
(``getMcpConfigForManifest`` in ``@anthropic-ai/mcpb``'s ``src/shared/config.ts``), in Python.

The form's defaults, overridden by the values the user gave, become ``${user_config.<key>}``; ``${__dirname}`` is
the unpacked bundle; ``${HOME}`` and friends the user's folders. A list (a multiple directory field) expands into
separate arguments where an argument is exactly its placeholder; booleans become ``"true"``/``"false"``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class LaunchConfig:
    """The command a host runs: ``mcp_config`` with every variable substituted."""

    command: str
    args: list[str]
    env: dict[str, str]


def launch_config(manifest: dict[str, Any], *, bundle_dir: Path, home: Path,
                  user_config: dict[str, Any]) -> LaunchConfig:
    """Substitute ``manifest``'s ``mcp_config`` for a bundle unpacked in ``bundle_dir`` and a filled-in form.

    Raises ``AssertionError`` if a placeholder is left over (a field without a default that the user left empty:
    the reference host would pass the placeholder through literally).
    """
    variables: dict[str, str | list[str]] = {
        "__dirname": str(bundle_dir), "HOME": str(home), "DESKTOP": str(home / "Desktop"),
        "DOCUMENTS": str(home / "Documents"), "DOWNLOADS": str(home / "Downloads"),
        "pathSeparator": os.sep, "/": os.sep,
    }
    merged = {key: option["default"] for key, option in manifest.get("user_config", {}).items()
              if "default" in option} | user_config
    for key, value in merged.items():
        variables[f"user_config.{key}"] = _as_variable(value)
    config = manifest["server"]["mcp_config"]
    args: list[str] = []
    for arg in config.get("args", []):
        whole = PLACEHOLDER.fullmatch(arg)
        if whole and whole.group(1).startswith("user_config."):
            # As the reference: a list expands, a non-empty value replaces, anything else stays as written.
            value = variables.get(whole.group(1))
            args.extend(value if isinstance(value, list) else [value] if value else [arg])
        else:
            args.append(_substitute(arg, variables))
    env = {name: _substitute(value, variables) for name, value in config.get("env", {}).items()}
    launch = LaunchConfig(command=_substitute(config["command"], variables), args=args, env=env)
    leftover = [text for text in [launch.command, *launch.args, *launch.env.values()] if "${" in text]
    assert not leftover, f"unsubstituted placeholders: {leftover}"
    return launch


def _as_variable(value: Any) -> str | list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # as JavaScript's String(700000.0)
    return str(value)


def _substitute(text: str, variables: dict[str, str | list[str]]) -> str:
    def one(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        return value if isinstance(value, str) else match.group(0)  # a list cannot go into a string

    return PLACEHOLDER.sub(one, text)
