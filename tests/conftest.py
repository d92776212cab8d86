"""Shared fixtures: a sandbox service whose emulator the test controls, and a no-wait sleep that records.

Every test is hermetic (``tests/hermetic.py``): no provider key or setting from the environment, no network but
loopback.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from core.emulator import EmulatorConfig, EmulatorState
from core.factory import open_service
from core.http import HttpClient, RetryPolicy
from core.sandbox import SANDBOX_ORIGIN, SANDBOX_VISUAL_SECRET, sandbox_mount
from core.service import ImageService
from core.settings import Settings
from tests.hermetic import GUARD, provider_variables

pytest.register_assert_rewrite("tests.services")  # imported here before pytest loads it as a plugin
from tests.services import backend_settings  # noqa: E402

# PostgreSQL / Redis fixtures and the --backends switch (tests/services.py).
pytest_plugins = ["tests.services"]


class RecordingSleep:
    """An injected ``sleep`` that returns at once and remembers every delay asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def pytest_configure(config: pytest.Config) -> None:
    """Hermetic from collection on, so module and session fixtures are covered too (the fixture below
    repeats the clearing for each test)."""
    GUARD.activate()
    config.add_cleanup(GUARD.deactivate)
    environment = pytest.MonkeyPatch()
    for name in provider_variables(os.environ):
        environment.delenv(name)
    config.add_cleanup(environment.undo)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A connection refused outside any test (a module fixture's teardown) still fails the run."""
    refused = GUARD.take_refused()
    if refused:
        print(f"\nhermetic tests: refused outside a test: {refused}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees none of the developer's ``SEEDREAM_*``, ``ARK_*``, ``VOLC_*``, ``CHANJING_*`` or
    ``DISCORD_*`` variables (subprocesses inherit the cleaned environment), and fails if it tried to reach
    anything but loopback, even when the code under test swallowed the error.

    Kept: ``SEEDREAM_TEST_*``, the test suite's own switches (never read by the product).
    """
    for name in provider_variables(os.environ):
        monkeypatch.delenv(name)
    yield
    refused = GUARD.take_refused()
    if refused:
        pytest.fail(f"hermetic tests: this test tried to reach beyond loopback: {refused}", pytrace=False)


@pytest.fixture(autouse=True)
def default_sigint_handler() -> Iterator[None]:
    """uvicorn started inside a test's loop can leave a SIGINT handler bound to a finished ``asyncio.Runner``,
    which makes every later ``Runner.run`` slow; put the default back after each test."""
    yield
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    """Entry points run in-process (``seedream``, the bot's ``main``) add a root handler bound to the test's
    captured stderr, which pytest closes afterwards; put the root logger back so later tests log cleanly."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def emulator() -> EmulatorState:
    """The sandbox emulator's state: scripted faults, ``hold``, counters."""
    return EmulatorState(EmulatorConfig(public_base_url=SANDBOX_ORIGIN, visual_secret_key=SANDBOX_VISUAL_SECRET))


class ExplicitSettings(Settings):
    """``Settings`` from the arguments alone: never the environment, a ``.env`` file or a secrets folder."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def make_settings(tmp_path: Path, **overrides) -> Settings:
    """Sandbox settings with a per-test data folder on the test's backends (``tests.services``); only what is
    passed counts (see ``ExplicitSettings``)."""
    values = {"data_dir": tmp_path / "data", "provider": "sandbox"} | backend_settings() | overrides
    return ExplicitSettings(**values)


@pytest.fixture
async def http(emulator: EmulatorState, sleep: RecordingSleep) -> AsyncIterator[HttpClient]:
    client = HttpClient.create(mounts=sandbox_mount(emulator), sleep=sleep, retry=RetryPolicy(max_retries=3))
    yield client
    await client.aclose()


@pytest.fixture
async def service(tmp_path: Path, http: HttpClient) -> AsyncIterator[ImageService]:
    async with open_service(make_settings(tmp_path), http=http) as svc:
        yield svc
