"""The generation flow behind every command and button that makes images.

The caller has already deferred (ephemerally, before any I/O). Then: the allow-lists, building and
validating the request (attachments are checked before any provider call), the quotas, and finally the job
with its ``Delivery``. Every refusal edits the deferred reply, so it is ephemeral and says why (and when to
try again). Daily quota not used by the job is given back the moment it finishes.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import mimetypes
from collections.abc import Awaitable, Callable
from datetime import datetime

import discord

from bots.discord.delivery import NO_MENTIONS, Delivery, DeliveryContext
from bots.discord.policy import Gatekeeper, Place, Refusal, Ticket
from bots.discord.render import KIND_MESSAGES, MAX_CONTENT, truncate
from core.catalog import ReferenceRules
from core.errors import ConfigurationError, InvalidRequestError, SeedreamError
from core.events import Event, Finished
from core.jobs import Requester
from core.references import probe_image
from core.requests import GenerateRequest, Plan
from core.service import ImageService

log = logging.getLogger(__name__)

RequestBuilder = Callable[[], Awaitable[GenerateRequest]]
_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg"}


def place_of(interaction: discord.Interaction) -> Place:
    """Who asks and where, as the policy sees it."""
    roles = [r for r in getattr(interaction.user, "roles", []) if not r.is_default()]
    channel = interaction.channel
    nsfw = bool(channel.is_nsfw()) if isinstance(channel, discord.TextChannel | discord.Thread) else False
    return Place(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        role_ids=frozenset(r.id for r in roles),
        role_names=frozenset(r.name for r in roles),
        channel_nsfw=nsfw,
    )


def requester_of(interaction: discord.Interaction) -> Requester:
    return Requester(
        adapter="discord",
        user_id=str(interaction.user.id),
        guild_id=str(interaction.guild_id) if interaction.guild_id else None,
        channel_id=str(interaction.channel_id) if interaction.channel_id else None,
        display_name=interaction.user.display_name,
    )


async def tell(interaction: discord.Interaction, text: str, *, embed: discord.Embed | None = None) -> None:
    """Replace the deferred (ephemeral) reply with ``text``."""
    await interaction.edit_original_response(
        content=truncate(text, MAX_CONTENT), embed=embed, allowed_mentions=NO_MENTIONS
    )


def friendly_error(exc: SeedreamError) -> str:
    """What to tell a user about an error raised before any job existed."""
    if isinstance(exc, InvalidRequestError):
        return f"That can't be made as asked. {exc.message}"
    if isinstance(exc, ConfigurationError):
        return "🔧 The bot's image service isn't set up for that yet. Please tell a server admin."
    return KIND_MESSAGES.get(exc.kind, f"That didn't work: {exc.message}")


async def reference_from_attachment(
    attachment: discord.Attachment, *, rules: ReferenceRules, field: str
) -> str:
    """Check an attachment's type, size and pixels (before downloading, when Discord says them), download
    it, check the bytes, and return it as a data URI.

    Raises:
        InvalidRequestError: naming ``field`` and the file.
    """
    name = attachment.filename
    declared = (attachment.content_type or mimetypes.guess_type(name)[0] or "").split(";")[0].strip().lower()
    fmt = _TYPES.get(declared)
    allowed = "/".join(f.upper() for f in rules.formats) + " images"
    if fmt is None or fmt not in rules.formats:
        raise InvalidRequestError(field, name, allowed, reason=f"it is {declared or 'not an image'}")
    limit = f"images up to {rules.max_bytes / 1024 / 1024:.3g} MiB"
    if attachment.size > rules.max_bytes:
        raise InvalidRequestError(field, name, limit, reason=f"it is {attachment.size / 1024 / 1024:.3g} MiB")
    if attachment.width and attachment.height:
        _check_pixels(attachment.width, attachment.height, rules=rules, field=field, name=name)
    data = await attachment.read()
    if len(data) > rules.max_bytes:
        raise InvalidRequestError(field, name, limit, reason="the download is larger than announced")
    real, width, height = probe_image(data, field=field, source=name)
    if real not in rules.formats:
        raise InvalidRequestError(field, name, allowed, reason=f"it is really {real}")
    _check_pixels(width, height, rules=rules, field=field, name=name)
    return f"data:image/{real};base64,{base64.b64encode(data).decode('ascii')}"


def _check_pixels(width: int, height: int, *, rules: ReferenceRules, field: str, name: str) -> None:
    if min(width, height) < rules.min_side or width * height > rules.max_pixels:
        raise InvalidRequestError(
            field,
            name,
            f"each side at least {rules.min_side} px and at most {rules.max_pixels:,} pixels",
            reason=f"it is {width}x{height}",
        )


class GenerationFlow:
    """Runs generations for interactions (see module docstring)."""

    def __init__(
        self,
        *,
        service: ImageService,
        gate: Gatekeeper,
        clock: Callable[[], datetime],
        token_margin: float,
        always_spoiler: bool = False,
    ) -> None:
        self.service = service
        self.gate = gate
        self.clock = clock
        self.token_margin = token_margin
        self.always_spoiler = always_spoiler

    async def run(
        self,
        interaction: discord.Interaction,
        build: RequestBuilder,
        *,
        spoiler: bool = False,
        parent_id: str | None = None,
    ) -> str | None:
        """Check, validate, reserve and run; return the job id (None when refused)."""
        try:
            return await self._run(interaction, build, spoiler=spoiler, parent_id=parent_id)
        except Exception:
            log.exception("generation flow failed for interaction %s", interaction.id)
            with contextlib.suppress(discord.HTTPException):
                await tell(
                    interaction, "Something went wrong on my side (it has been logged). Please try again."
                )
            return None

    async def _run(
        self, interaction: discord.Interaction, build: RequestBuilder, *, spoiler: bool, parent_id: str | None
    ) -> str | None:
        place = place_of(interaction)
        refusal = self.gate.check_place(place)
        if refusal is not None:
            await tell(interaction, refusal.message)
            return None
        try:
            request = await build()
            plan = await self.service.plan(request)
        except SeedreamError as exc:
            await tell(interaction, friendly_error(exc))
            return None
        ticket = await self.gate.admit(place, images=plan.images)
        if isinstance(ticket, Refusal):
            await tell(interaction, ticket.message)
            return None
        return await self._run_job(
            interaction, plan, ticket, spoiler=spoiler or self.always_spoiler, parent_id=parent_id
        )

    async def _run_job(
        self,
        interaction: discord.Interaction,
        plan: Plan,
        ticket: Ticket,
        *,
        spoiler: bool,
        parent_id: str | None,
    ) -> str | None:
        relay = _Relay(ticket)
        try:
            handle = await self.service.start(
                plan.request,
                plan=plan,
                requester=requester_of(interaction),
                on_event=relay.sink,
                parent_id=parent_id,
            )
        except SeedreamError as exc:
            await ticket.settle(produced=0)
            await tell(interaction, friendly_error(exc))
            return None
        except BaseException:
            await ticket.settle(produced=0)
            raise
        context = DeliveryContext(
            job_id=handle.job_id,
            prompt=plan.request.prompt,
            model=plan.model.key,
            provider=plan.provider,
            count=plan.images,
            requester_name=interaction.user.display_name,
            requester_mention=interaction.user.mention,
            spoiler=spoiler,
            parent_id=parent_id,
            upload_limit=interaction.filesize_limit,
        )
        delivery = Delivery(
            interaction, context, store=self.service.store, clock=self.clock, token_margin=self.token_margin
        )
        await relay.connect(delivery)
        await self.service.store.set_extra(handle.job_id, "discord_spoiler", spoiler)
        await delivery.run()
        return handle.job_id


class _Relay:
    """The job's event sink: settles the quota ticket on ``Finished`` (inside the job, so it always happens)
    and forwards events to the delivery, holding any that arrive before it exists."""

    def __init__(self, ticket: Ticket) -> None:
        self._ticket = ticket
        self._pending: list[Event] = []
        self._delivery: Delivery | None = None

    async def sink(self, event: Event) -> None:
        if isinstance(event, Finished):
            await self._ticket.settle(produced=len(event.generation.images))
        if self._delivery is None:
            self._pending.append(event)
        else:
            await self._delivery.sink(event)

    async def connect(self, delivery: Delivery) -> None:
        self._delivery = delivery
        for event in self._pending:
            await delivery.sink(event)
        self._pending.clear()
