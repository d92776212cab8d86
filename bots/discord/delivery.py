"""Delivering one job to Discord: the status message, and the images as they finish (layer 3, delivery and
the generation flow).

Events from the job arrive through ``sink`` (which only queues them, so a slow Discord never slows the job)
and are handled in order by ``run``: status edits are coalesced, each image is fitted under the upload limit
and added to the current result message (a new message every ten images).

The interaction token dies 15 minutes after the command. Before it does (``token_margin`` ahead, by the
injected clock, and by a timer on the injected sleep for jobs that go quiet), or as soon as Discord answers
``401 50027`` / ``404 10015``, the delivery moves to an ordinary channel message sent and edited with the bot
token, which never expires; the images that follow go there too.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar

import discord

from bots.discord.imaging import FittedImage, fit_saved, result_filename
from bots.discord.interactions import MAX_FILES_PER_MESSAGE, NO_MENTIONS
from bots.discord.render import ResultCard, result_embed
from bots.discord.stores import JobNotes
from bots.discord.wording import MAX_CONTENT, JobProgress, status_text, truncate
from core.clocks import Sleep, WallClock
from core.events import Event, Finished, ImageFailed, ImageReady, Progress, Queued, Started
from core.results import GeneratedImage, Generation

log = logging.getLogger(__name__)

T = TypeVar("T")
TOKEN_GONE = {(401, 50027), (404, 10015)}  # Invalid Webhook Token, Unknown Webhook

AnyMessage = discord.Message | discord.WebhookMessage


class ViewFactory(Protocol):
    """Builds the buttons under a result message (the interface layer provides it)."""

    def __call__(self, job_id: str, indexes: list[int], *, count: int) -> discord.ui.View: ...


class Outlet(Protocol):
    kind: str

    async def status(self, content: str) -> None: ...

    async def send(
        self, *, files: list[discord.File], embeds: list[discord.Embed], view: discord.ui.View
    ) -> AnyMessage: ...


class InteractionOutlet:
    """Through the interaction webhook: the (ephemeral) original response and public follow-ups."""

    kind = "interaction"

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction

    async def status(self, content: str) -> None:
        await self.interaction.edit_original_response(content=content, allowed_mentions=NO_MENTIONS)

    async def send(
        self, *, files: list[discord.File], embeds: list[discord.Embed], view: discord.ui.View
    ) -> AnyMessage:
        return await self.interaction.followup.send(
            files=files, embeds=embeds, view=view, wait=True, allowed_mentions=NO_MENTIONS
        )


class ChannelOutlet:
    """Through the bot token: a public status message that mentions the requester, and channel messages."""

    kind = "channel"

    def __init__(self, channel: discord.abc.Messageable, *, mention: str) -> None:
        self.channel = channel
        self.mention = mention
        self.status_message: discord.Message | None = None

    async def status(self, content: str) -> None:
        text = truncate(f"{self.mention} {content}", MAX_CONTENT)
        if self.status_message is None:
            self.status_message = await self.channel.send(
                text, allowed_mentions=discord.AllowedMentions(users=True, roles=False, everyone=False)
            )
        else:
            self.status_message = await self.status_message.edit(content=text)

    async def send(
        self, *, files: list[discord.File], embeds: list[discord.Embed], view: discord.ui.View
    ) -> AnyMessage:
        return await self.channel.send(files=files, embeds=embeds, view=view, allowed_mentions=NO_MENTIONS)


@dataclass
class _Batch:
    """The result message images are currently added to."""

    outlet: Outlet
    message: AnyMessage
    cards: list[ResultCard] = field(default_factory=list)


@dataclass(frozen=True)
class _MoveNow:
    """The token is about to expire (sent by the timer)."""


@dataclass(frozen=True)
class DeliverySetup:
    """What every delivery of one bot shares."""

    jobs: JobNotes  # where the posted messages are noted (``discord_messages``), for deletion later
    clock: WallClock
    sleep: Sleep
    token_margin: float  # seconds before the token's expiry at which the delivery leaves the interaction
    view_for: ViewFactory


@dataclass(frozen=True)
class DeliveryContext:
    """What a delivery needs to know about its job and its requester."""

    job_id: str
    prompt: str
    model: str
    provider: str
    count: int
    requester_name: str
    requester_mention: str
    spoiler: bool
    parent_id: str | None
    upload_limit: int


class Delivery:
    """Shows one job's progress and posts its images (see module docstring)."""

    def __init__(
        self,
        interaction: discord.Interaction,
        context: DeliveryContext,
        *,
        setup: DeliverySetup,
    ) -> None:
        self._interaction = interaction
        self._context = context
        self._setup = setup
        self._clock = setup.clock
        self._margin = timedelta(seconds=setup.token_margin)
        self._queue: asyncio.Queue[Event | _MoveNow] = asyncio.Queue()
        self._outlet: Outlet = InteractionOutlet(interaction)
        self._batch: _Batch | None = None
        self._started = self._clock()
        self._last_status: tuple[str, str] | None = None
        self._posted: list[list[int]] = []
        self.progress = JobProgress(
            job_id=context.job_id, prompt=context.prompt, model=context.model, count=context.count
        )

    @property
    def moved_to_channel(self) -> bool:
        return self._outlet.kind == "channel"

    async def sink(self, event: Event) -> None:
        """The job's event sink: queue and return at once."""
        self._queue.put_nowait(event)

    async def run(self) -> Generation:
        """Handle events until the job finishes; return its ``Generation``."""
        timer = asyncio.create_task(self._expiry_timer(), name=f"discord-expiry-{self._context.job_id}")
        try:
            await self._safely(self._flush_status)
            while True:
                event = await self._queue.get()
                await self._safely(lambda event=event: self._handle(event))
                if isinstance(event, Finished):
                    await self._safely(self._flush_status)
                    return event.generation
                if self._queue.empty():
                    await self._safely(self._flush_status)
        finally:
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)

    async def _safely(self, step: Callable[[], Awaitable[None]]) -> None:
        # A failed Discord call must not stop the delivery: the job and its files are safe either way.
        try:
            await step()
        except discord.HTTPException as exc:
            log.warning(
                "job %s: Discord refused a delivery step: %s %s", self._context.job_id, exc.status, exc.text
            )
        except Exception:
            log.exception("job %s: delivery step failed", self._context.job_id)

    async def _handle(self, event: Event | _MoveNow) -> None:
        progress = self.progress
        if isinstance(event, _MoveNow):
            if not self.moved_to_channel:
                await self._move_to_channel(token_alive=self._token_alive())
        elif isinstance(event, Queued):
            progress.phase, progress.position = "queued", event.position
        elif isinstance(event, Started):
            progress.phase = "generating"
        elif isinstance(event, Progress):
            progress.phase, progress.note = "generating", event.message
        elif isinstance(event, ImageFailed):
            progress.failures.append(event.failure)
        elif isinstance(event, ImageReady):
            progress.phase, progress.ready = "generating", progress.ready + 1
            await self._post_image(event.image)
        elif isinstance(event, Finished):
            progress.outcome = event.generation

    # -- the outlet and the token ---------------------------------------------------------------------

    def _token_expiring(self) -> bool:
        return self._clock() >= self._interaction.expires_at - self._margin

    def _token_alive(self) -> bool:
        # A few seconds of slack for clocks that disagree: a last edit must not land after the expiry.
        return self._clock() < self._interaction.expires_at - timedelta(seconds=5)

    async def _expiry_timer(self) -> None:
        delay = (self._interaction.expires_at - self._margin - self._clock()).total_seconds()
        await self._setup.sleep(max(0.0, delay))
        self._queue.put_nowait(_MoveNow())

    async def _via_outlet(self, action: Callable[[Outlet], Awaitable[T]]) -> T:
        """Run ``action`` on the current outlet; leave the interaction first if its token is (nearly) gone."""
        if not self.moved_to_channel and self._token_expiring():
            await self._move_to_channel(token_alive=self._token_alive())
        try:
            return await action(self._outlet)
        except discord.HTTPException as exc:
            if self.moved_to_channel or (exc.status, exc.code) not in TOKEN_GONE:
                raise
            log.info(
                "job %s: interaction token gone (%s %s); continuing in the channel",
                self._context.job_id,
                exc.status,
                exc.code,
            )
        await self._move_to_channel(token_alive=False)
        return await action(self._outlet)

    async def _move_to_channel(self, *, token_alive: bool) -> None:
        channel = self._interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            raise RuntimeError("the interaction has no channel to continue in")
        old = self._outlet
        new = ChannelOutlet(channel, mention=self._context.requester_mention)
        await new.status(status_text(self.progress))  # if the channel refuses, stay where we are
        self._outlet = new
        self._last_status = (new.kind, status_text(self.progress))
        assert new.status_message is not None
        await self._remember(new.status_message)
        if token_alive:
            self.progress.elsewhere = new.status_message.jump_url
            with contextlib.suppress(discord.HTTPException):
                await old.status(status_text(self.progress))
            self.progress.elsewhere = None

    async def _flush_status(self) -> None:
        text = status_text(self.progress)
        if self._last_status == (self._outlet.kind, text):
            return

        async def show(outlet: Outlet) -> None:
            await outlet.status(text)
            self._last_status = (outlet.kind, text)

        await self._via_outlet(show)

    # -- images ---------------------------------------------------------------------------------------

    async def _post_image(self, image: GeneratedImage) -> None:
        context = self._context
        fitted = await asyncio.to_thread(fit_saved, image, limit=context.upload_limit)
        card = ResultCard(
            job_id=context.job_id,
            index=image.index,
            count=context.count,
            prompt=context.prompt,
            model=image.model,
            provider=image.provider,
            width=fitted.width,
            height=fitted.height,
            seed=image.seed,
            elapsed=(self._clock() - self._started).total_seconds(),
            requester=context.requester_name,
            filename=result_filename(context.job_id, image.index, fitted.format, spoiler=context.spoiler),
            spoiler=context.spoiler,
            reencoded=fitted.reencoded,
            parent_id=context.parent_id,
            at=self._clock(),
        )
        await self._via_outlet(lambda outlet: self._add_to_batch(outlet, card, fitted))

    async def _add_to_batch(self, outlet: Outlet, card: ResultCard, fitted: FittedImage) -> None:
        # Files are built per attempt: discord.py closes them after a request, even a failed one.
        file = discord.File(io.BytesIO(fitted.data), filename=card.filename)
        batch = self._batch
        if batch is None or batch.outlet is not outlet or len(batch.cards) >= MAX_FILES_PER_MESSAGE:
            view = self._setup.view_for(self._context.job_id, [card.index], count=self._context.count)
            message = await outlet.send(files=[file], embeds=[result_embed(card)], view=view)
            self._batch = _Batch(outlet, message, [card])
            await self._remember(message)
            return
        cards = [*batch.cards, card]
        view = self._setup.view_for(self._context.job_id, [c.index for c in cards], count=self._context.count)
        edited: Any = await batch.message.edit(
            attachments=[*batch.message.attachments, file], embeds=[result_embed(c) for c in cards], view=view
        )
        batch.message, batch.cards = edited, cards

    async def _remember(self, message: AnyMessage) -> None:
        self._posted.append([message.channel.id, message.id])
        await self._setup.jobs.set_extra(self._context.job_id, "discord_messages", self._posted)

