"""Delivering one job to Discord: its status, and its gallery (layer 3, delivery and the generation flow).

Events from the job arrive through ``sink`` (which only queues them, so a slow Discord never slows the job) and
are handled in order by ``run``. The ephemeral status (with a Cancel button while the job runs) links to the
gallery: one public message per ten images, plain attachments that Discord shows as a mosaic under a one-line
caption, each image added the moment it is saved. When the job ends the gallery gets its final caption and
buttons, and the requester is mentioned (a ping that reaches them alone).

The interaction token dies 15 minutes after the command. Before it does (``token_margin`` ahead, by the injected
clock, and by a timer on the injected sleep for jobs that go quiet), or as soon as Discord answers ``401 50027`` /
``404 10015``, the delivery moves to the channel: a public status message and the same gallery, both edited with
the bot token, which never expires. Where the bot may not post (no permission, or the channel refuses), it keeps
using the interaction while the token lasts, then tells the requester (ephemerally, or by DM once the token is
gone) where to find the job: ``/job ID``. Never silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import discord

from bots.discord.gallery import Gallery, GalleryButtons
from bots.discord.imaging import FittedImage, fit_saved, result_filename
from bots.discord.outlets import ChannelOutlet, InteractionOutlet, Outlet, only_user
from bots.discord.stores import JobNotes
from bots.discord.wording import JobProgress, outcome_text, status_text
from core.clocks import Sleep, WallClock
from core.events import Event, Finished, ImageFailed, ImageReady, Progress, Queued, Started
from core.results import GeneratedImage, Generation

log = logging.getLogger(__name__)

T = TypeVar("T")
TOKEN_GONE = {(401, 50027), (404, 10015)}  # Invalid Webhook Token, Unknown Webhook
LAST_CALL = timedelta(seconds=15)  # the last moment to use the token when the channel is out of reach


class StatusButtons(Protocol):
    """The buttons under a running job's status (the interface layer provides them)."""

    def __call__(self, job_id: str) -> discord.ui.View: ...


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
    gallery_buttons: GalleryButtons
    status_buttons: StatusButtons


@dataclass(frozen=True)
class DeliveryContext:
    """What a delivery needs to know about its job and its requester."""

    job_id: str
    prompt: str
    model: str
    guild_id: int | None
    count: int  # the most images the job can make
    series: bool
    requester_id: int
    requester_mention: str
    spoiler: bool
    parent_id: str | None
    upload_limit: int
    can_post: bool  # the bot may post in the channel with its own token
    rerender: bool = False  # the gallery offers "Re-render at 4K"
    label: str | None = None  # what a button did to make this job (e.g. "🔀 subtle variation of image 2")


@dataclass
class _Reach:
    """Where the delivery can still post, and when it must look elsewhere."""

    outlet: Outlet | None
    leave_at: datetime
    channel_refused: bool = False
    token_dead: bool = False
    posted: list[list[int]] = field(default_factory=list)


class Delivery:
    """Shows one job's progress and posts its images (see module docstring)."""

    def __init__(self, interaction: discord.Interaction, context: DeliveryContext, *, setup: DeliverySetup) -> None:
        self._interaction = interaction
        self._context = context
        self._setup = setup
        self._clock = setup.clock
        self._queue: asyncio.Queue[Event | _MoveNow] = asyncio.Queue()
        leave_at = interaction.expires_at - timedelta(seconds=setup.token_margin)
        self._reach = _Reach(InteractionOutlet(interaction), leave_at)
        self._timer: asyncio.Task[None] | None = None
        self._generating_since: datetime | None = None
        self._last_status: tuple[str, str] | None = None
        self.gallery = Gallery(context, buttons=setup.gallery_buttons, remember=self._remember)
        self.progress = JobProgress(
            job_id=context.job_id, prompt=context.prompt, model=context.model, count=context.count,
            series=context.series, label=context.label,
        )

    async def sink(self, event: Event) -> None:
        """The job's event sink: queue and return at once."""
        self._queue.put_nowait(event)

    async def run(self) -> Generation:
        """Handle events until the job finishes; return its ``Generation``."""
        self._arm_timer()
        try:
            await self._safely(self._flush_status)
            while True:
                event = await self._queue.get()
                await self._safely(lambda event=event: self._handle(event))
                if isinstance(event, Finished):
                    await self._safely(self._flush_status)
                    await self._safely(self._announce_end)
                    return event.generation
                if self._queue.empty():
                    await self._safely(self._flush_status)
        finally:
            if self._timer is not None:
                self._timer.cancel()
                await asyncio.gather(self._timer, return_exceptions=True)

    async def _safely(self, step: Callable[[], Awaitable[None]]) -> None:
        # A failed Discord call must not stop the delivery: the job and its files are safe either way.
        try:
            await step()
        except discord.HTTPException as exc:
            log.warning("job %s: Discord refused a delivery step: %s %s", self._context.job_id, exc.status, exc.text)
        except Exception:
            log.exception("job %s: delivery step failed", self._context.job_id)

    async def _handle(self, event: Event | _MoveNow) -> None:
        progress = self.progress
        if isinstance(event, _MoveNow):
            await self._leave_interaction()
        elif isinstance(event, Queued):
            progress.phase, progress.position = "queued", event.position
        elif isinstance(event, Started | Progress):
            progress.phase = "generating"
            self._generating_since = self._generating_since or self._clock()
            progress.note = event.message if isinstance(event, Progress) else progress.note
        elif isinstance(event, ImageFailed):
            progress.failures.append(event.failure)
        elif isinstance(event, ImageReady):
            progress.phase, progress.ready = "generating", progress.ready + 1
            progress.eta_seconds = self._eta()
            await self._post_image(event.image)
        elif isinstance(event, Finished):
            progress.outcome = event.generation
            await self._via_outlet(lambda outlet: self.gallery.finish(outlet, event.generation))

    def _eta(self) -> float | None:
        progress, since = self.progress, self._generating_since
        if progress.series or since is None or progress.ready >= progress.count:
            return None
        per_image = (self._clock() - since).total_seconds() / progress.ready
        return per_image * (progress.count - progress.ready)

    # -- where to post: the interaction, the channel, or (after saying so) nowhere ---------------------

    def _token_alive(self) -> bool:
        # A few seconds of slack for clocks that disagree: a last edit must not land after the expiry.
        return not self._reach.token_dead and self._clock() < self._interaction.expires_at - timedelta(seconds=5)

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        delay = (self._reach.leave_at - self._clock()).total_seconds()
        self._timer = asyncio.create_task(self._fire_after(delay), name=f"discord-expiry-{self._context.job_id}")

    async def _fire_after(self, delay: float) -> None:
        await self._setup.sleep(max(0.0, delay))
        self._queue.put_nowait(_MoveNow())

    async def _via_outlet(self, action: Callable[[Outlet], Awaitable[None]]) -> None:
        """Run ``action`` where the job can be posted now (leaving the interaction first when its token is
        nearly gone); nothing when nowhere is left."""
        reach = self._reach
        if reach.outlet is not None and reach.outlet.kind == "interaction" and self._clock() >= reach.leave_at:
            await self._leave_interaction()
        if reach.outlet is None:
            return
        try:
            await action(reach.outlet)
            return
        except discord.HTTPException as exc:
            if reach.outlet.kind != "interaction" or (exc.status, exc.code) not in TOKEN_GONE:
                raise
            log.info("job %s: interaction token gone (%s %s)", self._context.job_id, exc.status, exc.code)
        reach.token_dead = True
        await self._leave_interaction()
        if reach.outlet is not None:
            await action(reach.outlet)

    async def _leave_interaction(self) -> None:
        """Continue in the channel if the bot may post there; otherwise keep the interaction until its last
        moment, then tell the requester where the job can be found."""
        reach = self._reach
        if reach.outlet is None or reach.outlet.kind != "interaction":
            return
        if not reach.channel_refused:
            if self._context.can_post and await self._move_to_channel():
                return
            reach.channel_refused = True
            if self._token_alive() and self._interaction.expires_at - LAST_CALL > self._clock():
                reach.leave_at = self._interaction.expires_at - LAST_CALL
                self._arm_timer()
                return
        await self._tell_where_to_find()
        reach.outlet = None

    async def _move_to_channel(self) -> bool:
        channel = self._interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            return False
        old, new = self._reach.outlet, ChannelOutlet(channel, mention=self._context.requester_mention)
        token_alive = self._token_alive()
        try:
            await new.status(status_text(self.progress), view=self._status_view())
        except discord.HTTPException as exc:  # 403 50013 / 50001 mostly: either way, not a place to post
            log.info("job %s: the channel refused the job (%s %s)", self._context.job_id, exc.status, exc.code)
            return False
        self._reach.outlet = new
        self._last_status = (new.kind, status_text(self.progress))
        assert new.status_message is not None
        await self._remember(new.status_message)
        if token_alive and old is not None:
            self.progress.elsewhere = new.status_message.jump_url
            with contextlib.suppress(discord.HTTPException):
                await old.status(status_text(self.progress), view=None)
            self.progress.elsewhere = None
        return True

    async def _tell_where_to_find(self) -> None:
        job_id = self._context.job_id
        text = (
            f"⏳ Job `{job_id}` is still running, but I can't post in this channel and my time to answer here is "
            f"running out. It goes on: use `/job id:{job_id}` to see it when it's done; I'll DM you when it ends."
        )
        self.progress.notice = text
        log.info("job %s: nowhere to post after the interaction; telling the requester", job_id)
        if self._token_alive():
            with contextlib.suppress(discord.HTTPException):
                await self._interaction.followup.send(text, ephemeral=True, wait=True)
                return
        await self._direct_message(text)

    async def _direct_message(self, text: str) -> None:
        try:
            await self._interaction.user.send(text)
        except discord.HTTPException as exc:
            log.info("job %s: could not DM the requester either (%s %s)", self._context.job_id, exc.status, exc.code)

    # -- status, images, the end -----------------------------------------------------------------------

    def _status_view(self) -> discord.ui.View | None:
        return None if self.progress.outcome is not None else self._setup.status_buttons(self._context.job_id)

    async def _flush_status(self) -> None:
        self.progress.result_url = self.gallery.url
        text = status_text(self.progress)
        outlet = self._reach.outlet
        if outlet is None or self._last_status == (outlet.kind, text):
            return

        async def show(outlet: Outlet) -> None:
            await outlet.status(text, view=self._status_view())
            self._last_status = (outlet.kind, text)

        await self._via_outlet(show)

    async def _post_image(self, image: GeneratedImage) -> None:
        context = self._context
        fitted = await asyncio.to_thread(fit_saved, image, limit=context.upload_limit)
        if fitted.reencoded:
            self.gallery.shrunk.append(image.index)
            await self._setup.jobs.set_extra(context.job_id, "discord_shrunk", self.gallery.shrunk)
        filename = result_filename(context.job_id, image.index, fitted.format, spoiler=context.spoiler)
        last = self.progress.ready >= context.count

        async def add(outlet: Outlet) -> None:
            # Files are built per attempt: discord.py closes them after a request, even a failed one.
            await self.gallery.add(outlet, image.index, _file(fitted, filename), progress=self.progress, last=last)

        await self._via_outlet(add)

    async def _announce_end(self) -> None:
        """Mention the requester when the job ends (where the gallery's own creation did not already)."""
        outcome = self.progress.outcome
        assert outcome is not None
        reach, gallery = self._reach, self.gallery
        if reach.outlet is None:
            headline = outcome_text(outcome, asked=self._context.count, series=self._context.series)
            await self._direct_message(f"{headline}\nJob `{self._context.job_id}`: `/job id:{self._context.job_id}`")
            return
        if gallery.url is None or gallery.pinged:
            return
        headline = outcome_text(outcome, asked=self._context.count, series=self._context.series)
        text = f"{self._context.requester_mention} {headline} {gallery.url}"

        async def ping(outlet: Outlet) -> None:
            message = await outlet.send(
                content=text, files=[], view=None, mentions=only_user(self._context.requester_id)
            )
            gallery.pinged = True
            await self._remember(message)

        await self._via_outlet(ping)

    async def _remember(self, message: discord.Message | discord.WebhookMessage | discord.PartialMessage) -> None:
        entry = [message.channel.id, message.id]
        if entry not in self._reach.posted:
            self._reach.posted.append(entry)
            await self._setup.jobs.set_extra(self._context.job_id, "discord_messages", self._reach.posted)


def _file(fitted: FittedImage, filename: str) -> discord.File:
    return discord.File(io.BytesIO(fitted.data), filename=filename)
