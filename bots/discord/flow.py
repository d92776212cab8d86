"""The generation flow behind every command and button that makes images (layer 3, delivery and the
generation flow).

The caller has already deferred (ephemerally, before any I/O). Then: the allow-lists (in a DM, judged in the
server where the asker was found, when the rules ask for one), building and validating the request
(attachments are checked before any provider call), the quotas, and finally the job with its ``Delivery`` and
its mod-log entry. Every refusal edits the deferred reply, so it is ephemeral and says why (and when to try
again). Daily quota not used by the job (refused, failed or cancelled images) is given back the moment it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from bots.discord.delivery import Delivery, DeliveryContext, DeliverySetup
from bots.discord.interactions import bot_can_post, requester_of, tell
from bots.discord.modlog import ModLog
from bots.discord.policy import Gatekeeper, Place, Refusal, Reservation
from bots.discord.rebuild import rerender_model
from bots.discord.wording import amount, friendly_error
from core.errors import SeedreamError
from core.events import Event, Finished
from core.requests import GenerateRequest, Plan
from core.results import JobStatus
from core.service import ImageService

log = logging.getLogger(__name__)

#: Builds (and validates what it can of) the request; called after the acknowledgement, so it may do I/O.
RequestBuilder = Callable[[], Awaitable[GenerateRequest]]
#: Who asks and where, as the policy judges it (for a DM, in which server the asker was found).
PlaceResolver = Callable[[discord.Interaction], Awaitable[Place]]


@dataclass(frozen=True)
class Origin:
    """Where a job made from another one comes from: its parent, what was done (a label such as "🔀 subtle
    variation of image 2"), and the prompt to show in place of the instruction sent to the model."""

    parent_id: str
    label: str | None = None
    prompt: str | None = None


class GenerationFlow:
    """Runs generations for interactions (see module docstring)."""

    def __init__(
        self,
        *,
        service: ImageService,
        gate: Gatekeeper,
        delivery: DeliverySetup,
        places: PlaceResolver,
        mod_log: ModLog,
        always_spoiler: bool = False,
    ) -> None:
        self.service = service
        self.gate = gate
        self.delivery = delivery
        self.places = places
        self.mod_log = mod_log
        self.always_spoiler = always_spoiler

    async def run(
        self,
        interaction: discord.Interaction,
        build: RequestBuilder,
        *,
        spoiler: bool = False,
        origin: Origin | None = None,
    ) -> str | None:
        """Check, validate, reserve and run; return the job id (None when refused)."""
        try:
            return await self._run(interaction, build, spoiler=spoiler, origin=origin)
        except Exception:
            log.exception("generation flow failed for interaction %s", interaction.id)
            with contextlib.suppress(discord.HTTPException):
                await tell(
                    interaction, "Something went wrong on my side (it has been logged). Please try again."
                )
            return None

    async def _run(
        self, interaction: discord.Interaction, build: RequestBuilder, *, spoiler: bool, origin: Origin | None
    ) -> str | None:
        place = await self.places(interaction)
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
        reservation = await self.gate.admit(place, images=plan.images)
        if isinstance(reservation, Refusal):
            await tell(interaction, reservation.message)
            return None
        return await self._run_job(
            interaction, plan, reservation, place, spoiler=spoiler or self.always_spoiler, origin=origin
        )

    async def _run_job(
        self,
        interaction: discord.Interaction,
        plan: Plan,
        reservation: Reservation,
        place: Place,
        *,
        spoiler: bool,
        origin: Origin | None,
    ) -> str | None:
        relay = _Relay(reservation)
        try:
            handle = await self.service.start(
                plan.request,
                plan=plan,
                requester=requester_of(interaction),
                on_event=relay.sink,
                parent_id=origin.parent_id if origin else None,
            )
        except SeedreamError as exc:
            await reservation.settle(produced=0)
            await tell(interaction, friendly_error(exc))
            return None
        except BaseException:
            await reservation.settle(produced=0)
            raise
        job_id = handle.job_id
        delivery = Delivery(interaction, _context(interaction, plan, job_id, spoiler, origin), setup=self.delivery)
        await relay.connect(delivery)
        await self._note(job_id, spoiler=spoiler, place=place, origin=origin)
        what = amount(plan.images, series=bool(plan.series))
        entry = asyncio.create_task(  # beside the delivery: the requester's status comes first
            self.mod_log.opened(
                job_id=job_id, user=interaction.user, place=place, prompt=plan.request.prompt,
                model=plan.model.key, what=what,
            )
        )
        try:
            generation = await delivery.run()
        finally:
            posted = await entry
        link = delivery.gallery.url
        await self.mod_log.closed(posted, generation, asked=plan.images, series=bool(plan.series), link=link)
        return job_id

    async def _note(self, job_id: str, *, spoiler: bool, place: Place, origin: Origin | None) -> None:
        jobs = self.delivery.jobs
        await jobs.set_extra(job_id, "discord_spoiler", spoiler)
        if origin is not None and origin.label:
            await jobs.set_extra(job_id, "discord_made_as", origin.label)
        if origin is not None and origin.prompt:
            await jobs.set_extra(job_id, "discord_shown_prompt", origin.prompt)
        if place.is_dm and place.guild_id is not None:
            # The server whose rules admitted this DM job: its moderators may see and delete it.
            await jobs.set_extra(job_id, "discord_dm_guild", str(place.guild_id))


def _context(
    interaction: discord.Interaction, plan: Plan, job_id: str, spoiler: bool, origin: Origin | None
) -> DeliveryContext:
    """What the delivery of a job needs to know, from the interaction and the plan."""
    return DeliveryContext(
        job_id=job_id,
        prompt=(origin.prompt if origin else None) or plan.request.prompt,
        model=plan.model.key,
        guild_id=interaction.guild_id,
        count=plan.images,
        series=bool(plan.series),
        requester_id=interaction.user.id,
        requester_mention=interaction.user.mention,
        spoiler=spoiler,
        parent_id=origin.parent_id if origin else None,
        label=origin.label if origin else None,
        upload_limit=interaction.filesize_limit,
        can_post=bot_can_post(interaction),
        rerender=rerender_model(plan.provider, plan.model.key) is not None,
    )


class _Relay:
    """The job's event sink: settles the quota reservation on ``Finished`` (inside the job, so it always
    happens) and forwards events to the delivery, holding any that arrive before it exists."""

    def __init__(self, reservation: Reservation) -> None:
        self._reservation = reservation
        self._pending: list[Event] = []
        self._delivery: Delivery | None = None

    async def sink(self, event: Event) -> None:
        if isinstance(event, Finished):
            # A job still running at the provider (its task outlived the wait) keeps its images of the quota:
            # they are billed when the task finishes. Its concurrent-job slot is freed either way.
            parked = event.generation.status is JobStatus.RUNNING
            produced = self._reservation.images if parked else len(event.generation.images)
            await self._reservation.settle(produced=produced)
        if self._delivery is None:
            self._pending.append(event)
        else:
            await self._delivery.sink(event)

    async def connect(self, delivery: Delivery) -> None:
        self._delivery = delivery
        for event in self._pending:
            await delivery.sink(event)
        self._pending.clear()
