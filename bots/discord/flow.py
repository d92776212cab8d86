"""The generation flow behind every command and button that makes images (layer 3, delivery and the
generation flow).

The caller has already deferred (ephemerally, before any I/O). Then: the allow-lists, building and
validating the request (attachments are checked before any provider call), the quotas, and finally the job
with its ``Delivery``. Every refusal edits the deferred reply, so it is ephemeral and says why (and when to
try again). Daily quota not used by the job is given back the moment it finishes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

import discord

from bots.discord.delivery import Delivery, DeliveryContext, DeliverySetup
from bots.discord.interactions import place_of, requester_of, tell
from bots.discord.policy import Gatekeeper, Refusal, Reservation
from bots.discord.wording import friendly_error
from core.errors import SeedreamError
from core.events import Event, Finished
from core.requests import GenerateRequest, Plan
from core.service import ImageService

log = logging.getLogger(__name__)

#: Builds (and validates what it can of) the request; called after the acknowledgement, so it may do I/O.
RequestBuilder = Callable[[], Awaitable[GenerateRequest]]


class GenerationFlow:
    """Runs generations for interactions (see module docstring)."""

    def __init__(
        self,
        *,
        service: ImageService,
        gate: Gatekeeper,
        delivery: DeliverySetup,
        always_spoiler: bool = False,
    ) -> None:
        self.service = service
        self.gate = gate
        self.delivery = delivery
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
        reservation = await self.gate.admit(place, images=plan.images)
        if isinstance(reservation, Refusal):
            await tell(interaction, reservation.message)
            return None
        return await self._run_job(
            interaction, plan, reservation, spoiler=spoiler or self.always_spoiler, parent_id=parent_id
        )

    async def _run_job(
        self,
        interaction: discord.Interaction,
        plan: Plan,
        reservation: Reservation,
        *,
        spoiler: bool,
        parent_id: str | None,
    ) -> str | None:
        relay = _Relay(reservation)
        try:
            handle = await self.service.start(
                plan.request,
                plan=plan,
                requester=requester_of(interaction),
                on_event=relay.sink,
                parent_id=parent_id,
            )
        except SeedreamError as exc:
            await reservation.settle(produced=0)
            await tell(interaction, friendly_error(exc))
            return None
        except BaseException:
            await reservation.settle(produced=0)
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
        delivery = Delivery(interaction, context, setup=self.delivery)
        await relay.connect(delivery)
        await self.delivery.jobs.set_extra(handle.job_id, "discord_spoiler", spoiler)
        await delivery.run()
        return handle.job_id


class _Relay:
    """The job's event sink: settles the quota reservation on ``Finished`` (inside the job, so it always
    happens) and forwards events to the delivery, holding any that arrive before it exists."""

    def __init__(self, reservation: Reservation) -> None:
        self._reservation = reservation
        self._pending: list[Event] = []
        self._delivery: Delivery | None = None

    async def sink(self, event: Event) -> None:
        if isinstance(event, Finished):
            await self._reservation.settle(produced=len(event.generation.images))
        if self._delivery is None:
            self._pending.append(event)
        else:
            await self._delivery.sink(event)

    async def connect(self, delivery: Delivery) -> None:
        self._delivery = delivery
        for event in self._pending:
            await delivery.sink(event)
        self._pending.clear()
