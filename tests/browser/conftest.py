"""Fixtures of the browser tests: ``open_studio()`` opens the whole rig (see ``rig``) with Chromium on the host page."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from mcp.client.stdio import StdioServerParameters
from playwright.async_api import async_playwright, expect

from core.emulator import EmulatorConfig, EmulatorState, create_app
from tests.browser import needs
from tests.browser.rig import Gate, Relay, apps_client, build_host_script, gated
from tests.mcp_server.test_entry_point import SCRIPT, server_env
from tests.reliability.harness import serve

# Bounds for waiting on the page (events, not time, decide every assertion).
expect.set_options(timeout=30_000)

#: Screenshots and other artefacts of the browser tests (kept by CI; build/ is not committed).
ARTIFACTS = Path(os.environ.get("SEEDREAM_TEST_ARTIFACTS", "")
                 or Path(__file__).resolve().parents[2] / "build" / "test-artifacts")


@dataclass
class Studio:
    """The host page in Chromium, the gallery frame in it, and the server side the test controls."""

    page: Any
    relay: Relay
    gate: Gate
    base_url: str
    requests: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # uncaught errors in the page or the gallery

    @property
    def gallery(self) -> Any:
        return self.page.frame_locator("iframe[title='Seedream gallery']")

    def job(self, position: int) -> Any:
        """The ``position``-th job section of the gallery (0: the call the host rendered it for)."""
        return self.gallery.locator("section.job").nth(position)

    async def open(self, *, theme: str = "light") -> None:
        await self.page.goto(f"{self.base_url}/?theme={theme}")

    async def render(self, tool: str, **arguments: Any) -> None:
        """The host calls ``tool`` as the model would and shows the gallery for it."""
        await self.page.evaluate("([name, args]) => window.seedreamHost.render(name, args)", [tool, arguments])

    async def show_finished(self, *, theme: str = "light", **arguments: Any) -> Any:
        """Open the host, have it render a generate_image call and wait until its job has succeeded; the
        job's section."""
        await self.open(theme=theme)
        await self.render("generate_image", **arguments)
        await expect(self.job(0)).to_have_attribute("data-status", "succeeded")
        return self.job(0)

    async def result_delivered(self) -> bool:
        return await self.page.evaluate("window.seedreamHost.state.resultDelivered")

    async def host_result(self) -> dict[str, Any]:
        """The result of the call the host rendered the gallery for (waits for it)."""
        return await self.relay.host_calls["0"]

    def tile(self, job: int, index: int) -> Any:
        """The button that opens image ``index`` of job section ``job``."""
        return self.job(job).locator(f"li.tile[data-index='{index}'] button.open")

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        await self.page.locator("iframe[title='Seedream gallery']").screenshot(path=str(path))
        return path


@pytest.fixture(scope="session")
def host_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = needs.node()
    needs.chromium()
    return build_host_script(node, tmp_path_factory.mktemp("host"))


@pytest.fixture
def open_studio(tmp_path: Path, host_script: Path) -> Callable[[], AbstractAsyncContextManager[Studio]]:
    """``async with open_studio() as studio``: the rig, entered and left in the test's own task (the MCP
    client's task group requires it)."""

    @asynccontextmanager
    async def studio() -> AsyncIterator[Studio]:
        gate = Gate()
        state = EmulatorState(EmulatorConfig())
        async with serve(gated(create_app(state=state), gate)) as emulator:
            state.config = replace(state.config, public_base_url=emulator)
            params = StdioServerParameters(command=str(SCRIPT), env=_server_env(tmp_path, emulator), cwd=tmp_path)
            sent: dict[str, Any] = {}
            with (tmp_path / "seedream-mcp.log").open("w") as errlog:
                async with apps_client(params, sent, errlog) as client:
                    relay = Relay(client=client, host_js=host_script, sent=sent)
                    async with serve(relay.app()) as base_url, async_playwright() as playwright:
                        browser = await playwright.chromium.launch(executable_path=str(needs.chromium()),
                                                                  args=needs.CHROMIUM_ARGS)
                        page = await browser.new_page(viewport={"width": 820, "height": 900}, accept_downloads=True)
                        opened = Studio(page, relay, gate, base_url)
                        page.on("request", lambda request: opened.requests.append(request))
                        page.on("pageerror", lambda error: opened.errors.append(str(error)))
                        page.on("console", lambda m: m.type == "error" and opened.errors.append(m.text))
                        try:
                            yield opened
                            assert not opened.errors, opened.errors
                        finally:
                            gate.closed = False
                            gate.release(64)  # let held provider requests end before the server stops
                            await browser.close()

    return studio


def _server_env(tmp_path: Path, emulator: str) -> dict[str, str]:
    """seedream-mcp with Ark pointed at the test's emulator and a made-up key; nothing from the environment."""
    return server_env(tmp_path, SEEDREAM_PROVIDER="ark", ARK_API_KEY="browser-test-key",
                      SEEDREAM_ARK_BASE_URL=f"{emulator}/api/v3")
