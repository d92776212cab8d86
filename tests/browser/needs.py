"""What the gallery's build and browser tests need from the machine: Node.js with the npm packages of
``mcp_server/app`` (``npm ci --prefix mcp_server/app``), and Debian's Chromium. Without them the tests skip with
a one-line reason; under ``CI=true`` they fail, since ``.ci/run`` installs both."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[2] / "mcp_server" / "app"
#: Debian's package; Playwright drives it by path and never downloads a browser.
CHROMIUM = Path(os.environ.get("SEEDREAM_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def unavailable(reason: str) -> None:
    """Skip, or fail under CI=true where everything is installed."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def node() -> str:
    """The ``node`` executable, with the gallery's npm packages installed beside the sources."""
    found = shutil.which("node")
    if found is None:
        unavailable("needs Node.js (node) to build the gallery; install nodejs")
    if not (APP_DIR / "node_modules" / "esbuild" / "package.json").is_file():
        unavailable("needs the gallery's npm packages: npm ci --prefix mcp_server/app")
    return found  # type: ignore[return-value]


def chromium() -> Path:
    if not CHROMIUM.is_file():
        unavailable(f"needs Chromium at {CHROMIUM}: apt-get install -y chromium")
    return CHROMIUM
