"""``ImageBot``: the Discord client, which assembles the layers below and provides ``BotServices`` (layer 5,
assembly).

Its resources (the image service, the counters, settings, clock and sleep) are built once by the entry point and
passed in.
``setup_hook`` adds one cog per feature and the restart-proof buttons, syncs the slash commands only when their
schema changed (or when asked with ``--sync``), and logs the policy in force and the invite link. Where Discord
is comes from the settings (``api_base``, ``gateway_url``) and applies to this client only (see
``bots.discord.endpoint``).

With ``shard_count`` set, ``image_bot`` builds a ``ShardedImageBot`` (discord.py's ``AutoShardedBot``) running
``shard_ids`` of them; several such processes share their state through the backends (job store, counters, pace),
so any shard answers any job's buttons. Only the process running shard 0 syncs the slash commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import hashlib
import json
import logging
from collections.abc import Coroutine
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands
from discord.state import ConnectionState

from bots.discord.buttons import DYNAMIC_ITEMS, gallery_view, status_view
from bots.discord.cogs import feature_cogs
from bots.discord.defaults import DefaultsStore, UserDefaults
from bots.discord.delivery import DeliverySetup
from bots.discord.endpoint import DiscordEndpoint, EndpointHTTPClient, webhooks_through
from bots.discord.flow import GenerationFlow, Origin, RequestBuilder
from bots.discord.forms import answer_form
from bots.discord.interactions import place_of
from bots.discord.invite import invite_url
from bots.discord.modlog import ModLog
from bots.discord.policy import Gatekeeper, Place, PolicyConfig, QuotaStatus, describe_policy
from bots.discord.presses import answer_press
from bots.discord.settings import BotSettings
from bots.discord.stores import BotBackends
from core.clocks import Sleep, WallClock, utc_now
from core.errors import JobNotFoundError, SeedreamError
from core.jobs import CounterStore, JobRecord
from core.pace import Pace
from core.service import ImageService

log = logging.getLogger(__name__)

SCHEMA_META_KEY = "discord.command_schema"
FAMILY_SCAN = 500  # recent Discord jobs searched for those made from a job (they are newer than it)
DM_GUILD_LOOKUPS = 10  # servers asked whether a DM's author is a member, when no allowed_guilds narrow it


def command_schema_hash(tree: app_commands.CommandTree[Any]) -> str:
    """A digest of every global command (slash and context menu) as it would be sent to Discord."""
    commands_ = [*tree.get_commands(), *tree.get_commands(type=discord.AppCommandType.message)]
    payload = sorted((command.to_dict(tree) for command in commands_), key=lambda c: (c["type"], c["name"]))
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ImageBot(commands.Bot):
    """The Seedream Discord bot (implements ``BotServices``)."""

    def __init__(
        self,
        *,
        service: ImageService,
        settings: BotSettings,
        counters: CounterStore | None = None,
        pace: Pace | None = None,
        clock: WallClock = utc_now,
        sleep: Sleep = asyncio.sleep,
        force_sync: bool = False,
        guild_ready_timeout: float | None = None,
    ) -> None:
        # This bot never joins voice: no start-up warnings about voice libraries it does not need.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        # Read by ``_get_state``, which discord.py calls from inside ``super().__init__``.
        self._endpoint = DiscordEndpoint.configured(api_base=settings.api_base, gateway_url=settings.gateway_url)
        super().__init__(
            **self._client_options(settings),
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=settings.guild_ready_timeout
            if guild_ready_timeout is None
            else guild_ready_timeout,
        )
        self.backends = BotBackends.of(service, counters, pace)
        self.settings = settings
        policy = settings.policy()
        self.gatekeeper = Gatekeeper(policy, counters=self.backends.counters, clock=clock, pace=self.backends.pace)
        self._defaults = DefaultsStore(self.backends.counters)
        self._flow = GenerationFlow(
            service=service,
            gate=self.gatekeeper,
            delivery=DeliverySetup(
                jobs=self.backends.jobs,
                clock=clock,
                sleep=sleep,
                token_margin=settings.token_margin_seconds,
                gallery_buttons=gallery_view,
                status_buttons=status_view,
            ),
            places=self.place_of,
            mod_log=ModLog(policy.mod_log_channel, channel_of=self.get_partial_messageable),
            always_spoiler=policy.always_spoiler,
        )
        self.force_sync = force_sync
        self.synced_on_start: bool | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def _client_options(cls, settings: BotSettings) -> dict[str, Any]:
        """Extra options for discord.py's client (the sharded bot adds its shards)."""
        return {}

    @property
    def syncs_commands(self) -> bool:
        """Whether this process registers the slash commands: the one running shard 0 (any unsharded one)."""
        return not self.settings.sharded or 0 in self.settings.own_shards

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
        origin: Origin | None = None,
    ) -> str | None:
        return await self._flow.run(interaction, build, spoiler=spoiler, origin=origin)

    @property
    def policy(self) -> PolicyConfig:
        return self.gatekeeper.config

    async def find_job(self, job_id: str) -> JobRecord | None:
        """The one place the bot reads a job by id (``/job``, every button and form). A job the core can pick
        up again (a provider task that outlived its polling deadline, or its process) is resumed in the
        background: its images are saved as the task finishes, and the next look shows them."""
        try:
            record = await self.backends.jobs.get(job_id)
        except JobNotFoundError:
            return None
        if record.resumable:
            with contextlib.suppress(SeedreamError):  # e.g. its provider is not configured here: show as it is
                await self.backends.service.resume_job(job_id)
        return record

    async def job_family(self, job_id: str) -> list[JobRecord]:
        root = await self.find_job(job_id)
        if root is None:
            return []
        family, ids = [root], {root.id}
        for job in reversed(await self.backends.jobs.list_jobs(adapter="discord", limit=FAMILY_SCAN)):
            if job.parent_id in ids and job.id not in ids:  # oldest first, so parents come before children
                family.append(job)
                ids.add(job.id)
        return family

    async def cancel_job(self, job_id: str, *, by: str | None = None) -> bool:
        return await self.backends.service.request_cancel(job_id, by=by)

    async def place_of(self, interaction: discord.Interaction) -> Place:
        """Who asks and where. A DM under rules that need a server (allowed guilds, generator roles) is judged
        in the first server where the author is a member (holding a generator role, if any is required)."""
        place = place_of(interaction)
        policy = self.policy
        if not place.is_dm or not policy.dm_needs_membership or policy.allowed_channels or policy.nsfw_channels_only:
            return place
        found: Place | None = None
        guild_ids = sorted(policy.allowed_guilds) or [g.id for g in self.guilds][:DM_GUILD_LOOKUPS]
        for guild_id in guild_ids:
            member = await self._member(guild_id, place.user_id)
            if member is None:
                continue
            roles = [r for r in member.roles if not r.is_default()]
            candidate = dataclasses.replace(
                place, guild_id=guild_id, role_ids=frozenset(r.id for r in roles),
                role_names=frozenset(r.name for r in roles),
            )
            if self.gatekeeper.check_place(candidate) is None:
                return candidate
            found = found or candidate
        return found or place

    async def _member(self, guild_id: int, user_id: int) -> discord.Member | None:
        guild = self.get_guild(guild_id) or await self._guild_elsewhere(guild_id)
        if guild is None:
            return None
        member = guild.get_member(user_id)
        if member is not None:
            return member
        try:
            return await guild.fetch_member(user_id)
        except discord.NotFound:
            return None
        except discord.HTTPException as exc:
            log.warning("could not look up member %s of server %s: %s %s", user_id, guild_id, exc.status, exc.text)
            return None

    async def _guild_elsewhere(self, guild_id: int) -> discord.Guild | None:
        """A server another shard (process) holds, asked by REST: DMs reach shard 0 only, and are judged in the
        asker's server wherever it is. Unsharded, a server not cached is one the bot is not in."""
        if not self.settings.sharded:
            return None
        try:
            return await self.fetch_guild(guild_id)
        except (discord.NotFound, discord.Forbidden):  # the bot is not in it
            return None
        except discord.HTTPException as exc:
            log.warning("could not look up server %s: %s %s", guild_id, exc.status, exc.text)
            return None

    async def user_defaults(self, user_id: int) -> UserDefaults:
        return await self._defaults.get(user_id)

    async def set_user_defaults(self, user_id: int, defaults: UserDefaults) -> None:
        await self._defaults.set(user_id, defaults)

    async def press(self, interaction: discord.Interaction, action: str, job_id: str, index: int) -> None:
        await answer_press(self, interaction, action, job_id, index)

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
        for cog in feature_cogs(self, self.tree):
            await self.add_cog(cog)
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        self.tree.on_error = self._on_command_error
        self.synced_on_start = await self.sync_commands_if_changed()
        shards = f"; {self.settings.describe_shards()}" if self.settings.sharded else ""
        log.info("policy in force: %s%s", describe_policy(self.policy), shards)
        if self.application_id is not None:
            log.info("invite link (adds the bot with the permissions it needs): %s", invite_url(self.application_id))
        # What start-up loaded (modules, discord.py, the job store's libraries) lives as long as the bot: out of
        # the collector's reach, a full collection during a burst of commands no longer pauses every
        # acknowledgement for a fifth of a second (measured: bench discord_ack).
        gc.collect()
        gc.freeze()

    async def connect(self, *, reconnect: bool = True) -> None:
        # Every event handler is a task started from this one, so they all answer interactions through the
        # configured endpoint's webhooks.
        with webhooks_through(self._endpoint):
            await super().connect(reconnect=reconnect)

    async def sync_commands_if_changed(self) -> bool:
        """Register the commands when their schema differs from the last sync (kept in the counters' meta), or
        when ``force_sync``; return whether it synced. Syncing on every start would hit Discord's daily
        limit on command creation."""
        if not self.syncs_commands:
            log.info("slash commands are synced by the process running shard 0; not syncing here")
            return False
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
        gc.unfreeze()  # what start-up froze may be collected again (a process may start another bot)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        # Forms are answered from the raw submit, so one opened before a restart still works.
        if interaction.type is discord.InteractionType.modal_submit:
            answer_form(self, interaction)

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


class ShardedImageBot(ImageBot, commands.AutoShardedBot):
    """``ImageBot`` on discord.py's sharded client: this process runs the settings' ``shard_ids`` (all when none
    are given) of ``shard_count`` shards."""

    @classmethod
    def _client_options(cls, settings: BotSettings) -> dict[str, Any]:
        return {"shard_count": settings.shard_count, "shard_ids": list(settings.own_shards)}


def image_bot(*, settings: BotSettings, **options: Any) -> ImageBot:
    """The bot the settings ask for: ``ShardedImageBot`` when ``shard_count`` is set, else ``ImageBot`` (one
    unsharded connection). ``options`` are ``ImageBot``'s."""
    cls = ShardedImageBot if settings.sharded else ImageBot
    return cls(settings=settings, **options)
