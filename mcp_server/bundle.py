"""``seedream bundle`` (``seedream-bundle``): build the MCP Bundle (``.mcpb``) Claude Desktop installs in one click.

The bundle is the checkout's ``pyproject.toml``, ``README.md``, ``core/`` and ``mcp_server/`` with a manifest
(v0.4, server type ``uv``: the host installs the dependencies from ``pyproject.toml``, nothing is vendored), an
icon and a small launcher. The manifest's ``tools`` come from the server's own tool list, its settings form
from ``mcp_server.bundle_form``. The official CLI (``@anthropic-ai/mcpb``, pinned in ``mcpb/package-lock.json``
and installed there with ``npm ci`` when missing) validates and packs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp_server.bundle_form import ENV, FORM

MANIFEST_VERSION = "0.4"
BUNDLE_NAME = "seedream-studio"
CLI_PACKAGE = "@anthropic-ai/mcpb"
#: The npm project pinning the official CLI; also the icon and the launcher copied into every bundle.
MCPB_DIR = Path(__file__).parent / "mcpb"
LAUNCHER = "seedream_mcp.py"
#: Never copied into a bundle: caches, npm projects (this builder's, and the gallery's sources and build: the
#: built ``gallery.html`` is what runs), environment files.
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", ".env*", "*.egg-info", "mcpb", "src",
                                 "package.json", "package-lock.json", "build.mjs")

EXIT_OK, EXIT_FAILED = 0, 1

LONG_DESCRIPTION = """\
ByteDance **Seedream** image models (Seedream 3.0, 4.0, 4.5, 5.0 and SeedEdit 3.0) in Claude, over the
provider you have a key for: **Volcengine Ark**, **Volcengine Visual**, **Chanjing** or an
**OpenAI-compatible gateway**.

- `generate_image` and `edit_image` save every image full size in your output folder and show a preview in
  the chat; the text names each file. Groups of related images, sizes from 1K to 4K, aspect ratios.
- Long jobs come back with a job id; `get_job` and `list_jobs` fetch them later.
- No key yet? Set **Provider** to `sandbox`: a built-in emulator makes real test images on this computer.

Keys are kept in your system's keychain and are never written to logs, results or files.
"""


class BundleError(Exception):
    """The bundle could not be built; the message says why and what to do."""


def build_bundle(out_dir: Path, *, root: Path | None = None) -> Path:
    """Build ``seedream-studio-<version>.mcpb`` from the checkout at ``root`` into ``out_dir``; its path.

    Raises:
        BundleError: not a checkout, Node.js/npm missing, or the official CLI refused the bundle.
    """
    root = root or Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise BundleError(f"{root} is not a checkout of seedream-studio (no pyproject.toml); "
                          "`seedream bundle` builds from a checkout.")
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    cli = ensure_cli()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = (out_dir / f"{BUNDLE_NAME}-{project['version']}.mcpb").absolute()
    with tempfile.TemporaryDirectory(prefix="seedream-bundle-") as tmp:
        staging = Path(tmp) / BUNDLE_NAME
        stage(root, staging)
        manifest = build_manifest(project=project, tools=server_tools(), repository=_repository(project))
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
        _run_cli(cli, "validate", str(staging))
        _run_cli(cli, "pack", str(staging), str(target))
    return target


def stage(root: Path, staging: Path) -> None:
    """Lay out the bundle's files: the project (sources and ``pyproject.toml``), the icon and the launcher."""
    staging.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, staging / name)
    for package in ("core", "mcp_server"):
        shutil.copytree(root / package, staging / package, ignore=IGNORED)
    shutil.copy2(MCPB_DIR / "icon.png", staging / "icon.png")
    shutil.copy2(MCPB_DIR / LAUNCHER, staging / LAUNCHER)


def build_manifest(*, project: dict[str, Any], tools: Sequence[dict[str, str]],
                   repository: str | None = None) -> dict[str, Any]:
    """The bundle's ``manifest.json`` for ``project`` (pyproject's ``[project]`` table) serving ``tools``."""
    from mcp_server.settings import DEFAULT_INLINE_BUDGET

    user_config = {key: dict(option) for key, option in FORM.items()}
    user_config["preview_budget"]["default"] = DEFAULT_INLINE_BUDGET
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "name": BUNDLE_NAME,
        "display_name": "Seedream Studio",
        "version": project["version"],
        "description": "Generate and edit images with ByteDance Seedream: full-size files on your disk, "
                       "previews in the chat.",
        "long_description": LONG_DESCRIPTION,
        "author": {"name": "Seedream Studio contributors"},
        "icon": "icon.png",
        "server": {
            "type": "uv",
            "entry_point": LAUNCHER,
            "mcp_config": {
                "command": "uv",
                "args": ["run", "--directory", "${__dirname}", f"${{__dirname}}/{LAUNCHER}",
                         "${user_config.allowed_dirs}"],
                "env": {variable: f"${{user_config.{key}}}" for key, variable in ENV.items()},
            },
        },
        "tools": list(tools),
        "keywords": ["seedream", "image-generation", "image-editing", "text-to-image", "bytedance",
                     "volcengine", "doubao", "seededit"],
        "license": project.get("license", "MIT"),
        "compatibility": {
            "platforms": ["darwin", "win32", "linux"],
            "runtimes": {"python": project["requires-python"]},
        },
        "user_config": user_config,
    }
    if repository:
        manifest["repository"] = {"type": "git", "url": repository}
    return manifest


def server_tools() -> list[dict[str, str]]:
    """Name and description of each tool the model sees, as the server lists them (with its default settings);
    tools only the MCP App may call (``visibility: ["app"]``) are not the model's, so not the manifest's."""
    from core.settings import Settings
    from mcp_server.server import build_server
    from mcp_server.settings import McpSettings

    # model_construct: defaults only, whatever this shell's environment says; nothing is opened.
    server = build_server(settings=Settings.model_construct(), mcp_settings=McpSettings.model_construct())
    return [{"name": tool.name, "description": tool.description or ""}
            for tool in asyncio.run(server.list_tools()) if _for_the_model(tool.meta)]


def _for_the_model(meta: dict[str, Any] | None) -> bool:
    visibility = ((meta or {}).get("ui") or {}).get("visibility")
    return visibility is None or "model" in visibility


def ensure_cli() -> list[str]:
    """The command running the pinned official CLI, installed with ``npm ci`` first if it is missing.

    Raises:
        BundleError: Node.js or npm is not installed, or ``npm ci`` failed.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise BundleError("building a bundle needs Node.js and npm (https://nodejs.org) to run the official "
                          f"MCP Bundle CLI ({CLI_PACKAGE}).")
    pinned = json.loads((MCPB_DIR / "package.json").read_text(encoding="utf-8"))["dependencies"][CLI_PACKAGE]
    installed = MCPB_DIR / "node_modules" / CLI_PACKAGE / "package.json"
    if not installed.is_file() or json.loads(installed.read_text(encoding="utf-8"))["version"] != pinned:
        print(f"seedream bundle: installing {CLI_PACKAGE}@{pinned} (npm ci in {MCPB_DIR})", file=sys.stderr)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=MCPB_DIR, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise BundleError(f"npm ci failed in {MCPB_DIR}:\n{done.stdout}{done.stderr}")
    return [node, str(MCPB_DIR / "node_modules" / CLI_PACKAGE / "dist" / "cli" / "cli.js")]


def _run_cli(cli: list[str], *args: str) -> None:
    done = subprocess.run([*cli, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    sys.stderr.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise BundleError(f"mcpb {args[0]} refused the bundle (see its output above).")


def _repository(project: dict[str, Any]) -> str | None:
    urls = {key.lower(): value for key, value in project.get("urls", {}).items()}
    return urls.get("repository") or urls.get("source")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seedream bundle``: prints the bundle's path on stdout; the exit code."""
    parser = argparse.ArgumentParser(prog="seedream bundle", description="Build the Claude Desktop extension "
                                     "(an MCP Bundle, .mcpb) from this checkout with the official mcpb CLI.")
    parser.add_argument("--out", type=Path, default=Path("dist"), metavar="DIR", help="output folder (default: dist)")
    args = parser.parse_args(argv)
    try:
        path = build_bundle(args.out)
    except BundleError as exc:
        print(f"seedream bundle: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"seedream bundle: {path.stat().st_size / 1024:.0f} KB; double-click it to install it in Claude "
          "Desktop.", file=sys.stderr)
    print(path)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
