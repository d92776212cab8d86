"""The real bot against the fake Discord and the sandbox emulator: building blocks for the tests."""

from __future__ import annotations

import asyncio
import io
import logging
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401

    from bots.discord.bot import ImageBot, image_bot
    from bots.discord.settings import BotSettings
    from tests.fakes.discord import (
        FakeChannel,
        FakeDiscord,
        FakeUser,
        InteractionRecord,
        StoredMessage,
        running_client,
    )

from core import factory
from core.emulator import EmulatorConfig, EmulatorState
from core.http import HttpClient
from core.jobs import CounterStore, JobRecord
from core.pace import Pace
from core.sandbox import SANDBOX_ORIGIN, SANDBOX_VISUAL_SECRET, sandbox_mount
from core.service import ImageService
from core.settings import Settings
from tests.services import backend_settings

WAIT = 30.0  # safety net for waits on events; nothing waits on time passing

#: Test defaults: no cooldown (tests press often); everything else as in production.
TEST_POLICY: dict[str, Any] = {"cooldown_seconds": 0}


def png(size: tuple[int, int] = (64, 64), colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def bot_settings(**overrides: Any) -> BotSettings:
    return BotSettings(_env_file=None, **(TEST_POLICY | overrides))


def pointed_at(fake: FakeDiscord) -> dict[str, str]:
    """The settings that point a bot at ``fake`` (REST base and gateway), as the entry point passes them."""
    return {"api_base": fake.api_base, "gateway_url": fake.gateway_url}


@asynccontextmanager
async def open_backends(
    data_dir: Path, emulator: EmulatorState, **overrides: Any
) -> AsyncIterator[factory.Backends]:
    """The engine's parts on the in-process sandbox whose state the test holds, as the entry point opens them."""
    values = {"data_dir": data_dir, "provider": "sandbox"} | backend_settings() | overrides
    settings = Settings(_env_file=None, **values)
    http = HttpClient.create(mounts=sandbox_mount(emulator))
    try:
        async with factory.open_backends(settings, http=http) as backends:
            yield backends
    finally:
        await http.aclose()


@asynccontextmanager
async def open_service(
    data_dir: Path, emulator: EmulatorState, **overrides: Any
) -> AsyncIterator[ImageService]:
    """The image service over those parts (a bot built on it alone finds the counters in its job store)."""
    async with (
        open_backends(data_dir, emulator, **overrides) as backends,
        factory.running_service(backends) as service,
    ):
        yield service


@asynccontextmanager
async def run_bot(
    fake: FakeDiscord,
    service: ImageService,
    *,
    counters: CounterStore | None = None,
    pace: Pace | None = None,
    clock: Callable[[], datetime] | None = None,
    force_sync: bool = False,
    **policy: Any,
) -> AsyncIterator[ImageBot]:
    """The real bot (``ImageBot``, or ``ShardedImageBot`` when the policy names shards) connected to the fake
    through its settings (its clock is the fake's unless given; its sleep is always the fake clock's, so only
    ``fake.clock.advance`` moves the bot's timers)."""
    bot = image_bot(
        service=service,
        counters=counters,
        pace=pace,
        settings=bot_settings(**(pointed_at(fake) | policy)),
        clock=clock or fake.clock.utcnow,
        sleep=fake.clock.sleep,
        force_sync=force_sync,
        guild_ready_timeout=0.1,
    )
    async with running_client(bot, fake, timeout=WAIT):
        yield bot


@dataclass
class World:
    fake: FakeDiscord
    emulator: EmulatorState
    service: ImageService
    counters: CounterStore
    bot: ImageBot
    data_dir: Path

    async def imagine(
        self,
        prompt: str,
        *,
        user: FakeUser | None = None,
        channel: FakeChannel | None = None,
        dm: bool = False,
        **options: Any,
    ) -> InteractionRecord:
        """``/imagine`` (1K unless another size is given) as ``user`` (default: the first member)."""
        return await self.fake.slash(
            "imagine", {"prompt": prompt, "size": "1K", **options}, user=user, channel=channel, dm=dm
        )

    async def idle(self, timeout: float = WAIT) -> None:
        """Wait until every generation the bot has started so far has been delivered."""
        await asyncio.wait_for(self.bot.wait_idle(), timeout)

    async def settled(self, *records: InteractionRecord, idle: bool = True, timeout: float = WAIT) -> None:
        """Wait until each reply shows a final outcome (a result or a refusal), then (``idle``) until the bot
        has nothing left to deliver."""
        for record in records:
            await record.wait_for(settled, timeout)
        if idle:
            await self.idle(timeout)

    async def jobs(self) -> list[JobRecord]:
        return await self.service.store.list_jobs(limit=100)

    def hold(self) -> asyncio.Event:
        self.emulator.hold = asyncio.Event()
        return self.emulator.hold


def new_emulator() -> EmulatorState:
    return EmulatorState(
        EmulatorConfig(public_base_url=SANDBOX_ORIGIN, visual_secret_key=SANDBOX_VISUAL_SECRET)
    )


@asynccontextmanager
async def world_of(
    tmp_path: Path,
    *,
    fake: FakeDiscord | None = None,
    service_settings: dict[str, Any] | None = None,
    **policy: Any,
) -> AsyncIterator[World]:
    """A started fake Discord, the sandbox service and the bot: everything a test needs."""
    emulator = new_emulator()
    async with (
        fake or FakeDiscord() as started,
        open_backends(tmp_path / "data", emulator, **(service_settings or {})) as backends,
        factory.running_service(backends) as service,
        run_bot(started, service, counters=backends.counters, pace=backends.pace, **policy) as bot,
    ):
        try:
            yield World(started, emulator, service, backends.counters, bot, tmp_path / "data")
        finally:
            if emulator.hold is not None:  # never leave a job held: closing waits for running jobs
                emulator.hold.set()
        await asyncio.wait_for(bot.wait_idle(), WAIT)


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A test fails if the bot (or discord.py on its behalf) logged an error, even if Discord looked fine."""
    yield
    ours = ("bots", "discord")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith(ours)]
    assert not errors, "errors were logged:\n" + "\n".join(r.getMessage() for r in errors)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_of(tmp_path) as built:
        yield built


PROGRESS = ("⏳ Starting", "⏳ Waiting in line", "🎨 Generating", "⏳ Still working")


def settled(record: InteractionRecord) -> bool:
    """The reply exists and no longer shows progress."""
    original = record.original
    return original is not None and not original.loading and not original.content.startswith(PROGRESS)


def result_messages(record: InteractionRecord) -> list[StoredMessage]:
    """The messages of an interaction that carry images."""
    return [m for m in record.all_messages() if m.attachments and not m.deleted]


def status_of(record: InteractionRecord) -> str:
    assert record.original is not None
    return record.original.content


def decoded_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


def field(embed: dict[str, Any], name: str) -> str:
    return next(f["value"] for f in embed.get("fields", []) if f["name"] == name)
