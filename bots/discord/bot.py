"""``ImageBot``: the Discord client. Its resources (the image service, settings, clock) are built once by the
entry point and passed in; ``setup_hook`` adds one cog per feature and the restart-proof buttons, and syncs
the slash commands only when their schema changed (or when asked with ``--sync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.actions import ResultActions
from bots.discord.buttons import DYNAMIC_ITEMS, parse_edit_modal, submitted_text
from bots.discord.cogs import feature_cogs
from bots.discord.policy import Gatekeeper
from bots.discord.runner import GenerationFlow
from bots.discord.settings import BotSettings
from core.service import ImageService

log = logging.getLogger(__name__)

SCHEMA_META_KEY = "discord.command_schema"


def command_schema_hash(tree: app_commands.CommandTree[Any]) -> str:
    """A digest of every global command as it would be sent to Discord."""
    payload = sorted((command.to_dict(tree) for command in tree.get_commands()), key=lambda c: c["name"])
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ImageBot(commands.Bot):
    """The Seedream Discord bot."""

    def __init__(
        self,
        *,
        service: ImageService,
        settings: BotSettings,
        clock: Callable[[], datetime] = discord.utils.utcnow,
        force_sync: bool = False,
        guild_ready_timeout: float | None = None,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=settings.guild_ready_timeout
            if guild_ready_timeout is None
            else guild_ready_timeout,
        )
        self.service = service
        self.settings = settings
        self.clock = clock
        self.policy = settings.policy()
        self.gate = Gatekeeper(self.policy, store=service.store, clock=clock)
        self.flow = GenerationFlow(
            service=service,
            gate=self.gate,
            clock=clock,
            token_margin=settings.token_margin_seconds,
            always_spoiler=self.policy.always_spoiler,
        )
        self.actions = ResultActions(self)
        self.force_sync = force_sync
        self.synced_on_start: bool | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def provider(self) -> str:
        """The provider new jobs use (raises ``ConfigurationError`` when none is configured)."""
        return self.service.default_provider

    async def setup_hook(self) -> None:
        for cog in feature_cogs(self):
            await self.add_cog(cog)
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        self.tree.on_error = self._on_command_error
        self.synced_on_start = await self.sync_commands_if_changed()

    async def sync_commands_if_changed(self) -> bool:
        """Register the commands when their schema differs from the last sync (kept in the job store), or
        when ``force_sync``; return whether it synced. Syncing on every start would hit Discord's daily
        limit on command creation."""
        digest = command_schema_hash(self.tree)
        key = f"{SCHEMA_META_KEY}.{self.application_id}"
        if not self.force_sync and await self.service.store.get_meta(key) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        synced = await self.tree.sync()
        await self.service.store.set_meta(key, digest)
        log.info("synced %d slash commands", len(synced))
        return True

    def answer(self, interaction: discord.Interaction, work: Coroutine[Any, Any, Any], *, what: str) -> None:
        """Handle ``interaction`` in a tracked task; ``work`` acknowledges it first thing. Being tracked from
        before the acknowledgement, the work is covered by ``wait_idle`` as soon as Discord sees the ack."""
        self.spawn(work, name=f"{what}-{interaction.id}")

    def spawn(self, coroutine: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run work that outlives an interaction handler; it is cancelled when the bot closes."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def wait_idle(self) -> None:
        """Wait until no spawned work is left (used at shutdown and by tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await super().close()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        # Edit-prompt modals are answered from the raw submit, so one opened before a restart still works.
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        parsed = parse_edit_modal(str(data.get("custom_id", "")))
        if parsed is None:
            return
        prompt = (submitted_text(data, "prompt") or "").strip()
        self.answer(
            interaction, self.actions.submit_edit(interaction, parsed[0], parsed[1], prompt), what="edit"
        )

    async def _on_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.error("command %s failed", getattr(interaction.command, "name", "?"), exc_info=error)
        text = "Something went wrong on my side (it has been logged). Please try again."
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.edit_original_response(content=text)
            else:
                await interaction.response.send_message(text, ephemeral=True)
