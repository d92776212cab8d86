"""Shared fixtures: a sandbox service whose emulator the test controls, and a no-wait sleep that records."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.emulator import EmulatorConfig, EmulatorState
from core.http import HttpClient, RetryPolicy
from core.sandbox import SANDBOX_ORIGIN, SANDBOX_VISUAL_SECRET, sandbox_mount
from core.service import ImageService
from core.settings import Settings

# PostgreSQL / Redis fixtures and the --backends switch (tests/services.py).
pytest_plugins = ["tests.services"]


class RecordingSleep:
    """An injected ``sleep`` that returns at once and remembers every delay asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture(autouse=True)
def default_sigint_handler() -> Iterator[None]:
    """uvicorn started inside a test's loop can leave a SIGINT handler bound to a finished ``asyncio.Runner``,
    which makes every later ``Runner.run`` slow; put the default back after each test."""
    yield
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def emulator() -> EmulatorState:
    """The sandbox emulator's state: scripted faults, ``hold``, counters."""
    return EmulatorState(EmulatorConfig(public_base_url=SANDBOX_ORIGIN, visual_secret_key=SANDBOX_VISUAL_SECRET))


def make_settings(tmp_path: Path, **overrides) -> Settings:
    values = {"data_dir": tmp_path / "data", "provider": "sandbox"} | overrides
    return Settings(_env_file=None, **values)


@pytest.fixture
async def http(emulator: EmulatorState, sleep: RecordingSleep) -> AsyncIterator[HttpClient]:
    client = HttpClient.create(mounts=sandbox_mount(emulator), sleep=sleep, retry=RetryPolicy(max_retries=3))
    yield client
    await client.aclose()


@pytest.fixture
async def service(tmp_path: Path, http: HttpClient) -> AsyncIterator[ImageService]:
    async with ImageService.open(make_settings(tmp_path), http=http) as svc:
        yield svc
