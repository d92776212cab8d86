"""Running a real discord.py client against the fake, and a ready-made pytest fixture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import discord
import pytest

from .fake import FakeDiscord
from .records import DEFAULT_WAIT

ClientT = TypeVar("ClientT", bound=discord.Client)


@asynccontextmanager
async def running_client(
    client: ClientT, fake: FakeDiscord, *, timeout: float = DEFAULT_WAIT
) -> AsyncIterator[ClientT]:
    """Start ``client`` with the fake's token, wait for ``on_ready``, and close it cleanly on exit.

    The client must already talk to the fake (pointed at ``fake.api_base`` / ``fake.gateway_url``, or
    ``fake.point_discord_py_here()`` in effect).  Tip: build the client with
    ``guild_ready_timeout=0.1``; discord.py otherwise waits 2 s after the last GUILD_CREATE.

    Raises:
        TimeoutError: if the client is not ready within ``timeout`` seconds.
        Exception: whatever ``client.start`` raised (bad token, ...).
    """
    async with client:
        runner = asyncio.create_task(client.start(fake.token), name="discord-client")
        ready = asyncio.create_task(client.wait_until_ready(), name="discord-client-ready")
        try:
            done, _ = await asyncio.wait({runner, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                runner.result()  # re-raise the start failure
                raise RuntimeError("discord client stopped before it was ready")
            if ready not in done:
                raise TimeoutError(f"discord client not ready within {timeout}s")
            yield client
        finally:
            ready.cancel()
            await client.close()
            await asyncio.gather(runner, ready, return_exceptions=True)


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started :class:`FakeDiscord` (default world) with discord.py pointed at it."""
    async with FakeDiscord() as fake:
        fake.point_discord_py_here()
        yield fake
