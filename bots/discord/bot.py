"""``ImageBot``: the Discord client, which assembles the layers below and provides ``BotServices`` (layer 5,
assembly).

Its resources (the image service, the counters, settings, clock and sleep) are built once by the entry point and
passed in.
``setup_hook`` adds one cog per feature and the restart-proof buttons, and syncs the slash commands only
when their schema changed (or when asked with ``--sync``). Where Discord is comes from the settings
(``api_base``, ``gateway_url``) and applies to this client only (see ``bots.discord.endpoint``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Coroutine
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands
from discord.state import ConnectionState

from bots.discord.buttons import DYNAMIC_ITEMS, answer_edit_modal, result_view
from bots.discord.cogs import feature_cogs
from bots.discord.delivery import DeliverySetup
from bots.discord.endpoint import DiscordEndpoint, EndpointHTTPClient, webhooks_through
from bots.discord.flow import GenerationFlow, RequestBuilder
from bots.discord.policy import Gatekeeper, Place, QuotaStatus
from bots.discord.settings import BotSettings
from bots.discord.stores import BotBackends
from core.clocks import Sleep, WallClock, utc_now
from core.errors import JobNotFoundError
from core.jobs import CounterStore, JobRecord
from core.service import ImageService

log = logging.getLogger(__name__)

SCHEMA_META_KEY = "discord.command_schema"


def command_schema_hash(tree: app_commands.CommandTree[Any]) -> str:
    """A digest of every global command as it would be sent to Discord."""
    payload = sorted((command.to_dict(tree) for command in tree.get_commands()), key=lambda c: c["name"])
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ImageBot(commands.Bot):
    """The Seedream Discord bot (implements ``BotServices``)."""

    def __init__(
        self,
        *,
        service: ImageService,
        settings: BotSettings,
        counters: CounterStore | None = None,
        clock: WallClock = utc_now,
        sleep: Sleep = asyncio.sleep,
        force_sync: bool = False,
        guild_ready_timeout: float | None = None,
    ) -> None:
        # Read by ``_get_state``, which discord.py calls from inside ``super().__init__``.
        self._endpoint = DiscordEndpoint.configured(api_base=settings.api_base, gateway_url=settings.gateway_url)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=settings.guild_ready_timeout
            if guild_ready_timeout is None
            else guild_ready_timeout,
        )
        self.backends = BotBackends.of(service, counters)
        self.settings = settings
        policy = settings.policy()
        self.gatekeeper = Gatekeeper(policy, counters=self.backends.counters, clock=clock)
        self._flow = GenerationFlow(
            service=service,
            gate=self.gatekeeper,
            delivery=DeliverySetup(
                jobs=self.backends.jobs,
                clock=clock,
                sleep=sleep,
                token_margin=settings.token_margin_seconds,
                view_for=result_view,
            ),
            always_spoiler=policy.always_spoiler,
        )
        self.force_sync = force_sync
        self.synced_on_start: bool | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def _get_state(self, **options: Any) -> ConnectionState[Any]:
        # discord.py builds its HTTP client first, then hands it to the connection state and the command tree,
        # which keep it: this is the one moment to give them the client that talks to the configured endpoint.
        if self._endpoint is not None:
            self.http = EndpointHTTPClient.replacing(self.http, self._endpoint)
        return super()._get_state(**options)

    # -- BotServices --------------------------------------------------------------------------------------

    @property
    def provider(self) -> str:
        """The provider new jobs use (raises ``ConfigurationError`` when none is configured)."""
        return self.backends.service.default_provider

    async def generate(
        self,
        interaction: discord.Interaction,
        build: RequestBuilder,
        *,
        spoiler: bool = False,
        parent_id: str | None = None,
    ) -> str | None:
        return await self._flow.run(interaction, build, spoiler=spoiler, parent_id=parent_id)

    async def find_job(self, job_id: str) -> JobRecord | None:
        try:
            return await self.backends.jobs.get(job_id)
        except JobNotFoundError:
            return None

    async def recent_jobs(self, *, user_id: int, limit: int) -> list[JobRecord]:
        return await self.backends.jobs.list_jobs(user_id=str(user_id), adapter="discord", limit=limit)

    async def note_on_job(self, job_id: str, key: str, value: Any) -> None:
        await self.backends.jobs.set_extra(job_id, key, value)

    async def quota_status(self, place: Place) -> QuotaStatus:
        return await self.gatekeeper.status(place)

    def spawn(self, work: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run work that outlives an interaction handler; it is cancelled when the bot closes. Work that
        acknowledges an interaction is tracked from before the acknowledgement, so ``wait_idle`` covers it as
        soon as Discord sees the ack."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def partial_message(self, channel_id: int, message_id: int) -> discord.PartialMessage:
        return self.get_partial_messageable(channel_id).get_partial_message(message_id)

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        for cog in feature_cogs(self):
            await self.add_cog(cog)
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        self.tree.on_error = self._on_command_error
        self.synced_on_start = await self.sync_commands_if_changed()

    async def connect(self, *, reconnect: bool = True) -> None:
        # Every event handler is a task started from this one, so they all answer interactions through the
        # configured endpoint's webhooks.
        with webhooks_through(self._endpoint):
            await super().connect(reconnect=reconnect)

    async def sync_commands_if_changed(self) -> bool:
        """Register the commands when their schema differs from the last sync (kept in the counters' meta), or
        when ``force_sync``; return whether it synced. Syncing on every start would hit Discord's daily
        limit on command creation."""
        digest = command_schema_hash(self.tree)
        key = f"{SCHEMA_META_KEY}.{self.application_id}"
        meta = self.backends.counters
        if not self.force_sync and await meta.get_meta(key) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        synced = await self.tree.sync()
        await meta.set_meta(key, digest)
        log.info("synced %d slash commands", len(synced))
        return True

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
        if interaction.type is discord.InteractionType.modal_submit:
            answer_edit_modal(interaction)

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
