"""What the cogs, buttons and actions may ask of the bot: ``BotServices`` (layer 4, the interface's contract).

They depend on this protocol, never on ``ImageBot`` (which implements it), so each can be read, and replaced,
knowing exactly what it uses: start, find and cancel jobs, read and annotate them, the policy and the quota
status, users' defaults, answer a button press, run tracked work, and reach a posted message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol, cast

import discord

from bots.discord.defaults import UserDefaults
from bots.discord.flow import Origin, RequestBuilder
from bots.discord.policy import Place, PolicyConfig, QuotaStatus
from core.jobs import JobRecord


class BotServices(Protocol):
    """The bot's services, as the interface layer sees them."""

    @property
    def provider(self) -> str:
        """The provider new jobs use (raises ``ConfigurationError`` when none is configured)."""
        ...

    async def generate(
        self,
        interaction: discord.Interaction,
        build: RequestBuilder,
        *,
        spoiler: bool = False,
        origin: Origin | None = None,
    ) -> str | None:
        """Check the policy, build and validate the request, reserve the quota, run the job and deliver it;
        the interaction is already deferred. Returns the job id (``None`` when refused, after saying why)."""
        ...

    @property
    def policy(self) -> PolicyConfig:
        """The community's rules in force."""
        ...

    async def find_job(self, job_id: str) -> JobRecord | None:
        """The job, or ``None`` when there is none with that id: the one way the interface reads a job by id
        (``/job``, every button and form)."""
        ...

    async def job_family(self, job_id: str) -> list[JobRecord]:
        """The job and every Discord job made from it (rerolls, variations, edits, and theirs), oldest first."""
        ...

    async def cancel_job(self, job_id: str, *, by: str | None = None) -> bool:
        """Stop a queued or running job, whichever bot process runs it (``ImageService.request_cancel``);
        ``False`` when it has already ended."""
        ...

    async def place_of(self, interaction: discord.Interaction) -> Place:
        """Who asks and where, as the policy judges it (for a DM under server rules, the asker's server)."""
        ...

    async def user_defaults(self, user_id: int) -> UserDefaults:
        """A user's ``/settings``."""
        ...

    async def set_user_defaults(self, user_id: int, defaults: UserDefaults) -> None:
        ...

    async def press(self, interaction: discord.Interaction, action: str, job_id: str, index: int) -> None:
        """Answer a press of a job button (``bots.discord.buttons``)."""
        ...

    async def recent_jobs(self, *, user_id: int, limit: int) -> list[JobRecord]:
        """A user's latest Discord jobs, newest first."""
        ...

    async def note_on_job(self, job_id: str, key: str, value: Any) -> None:
        """Record a Discord fact on a job (kept with it in the job store)."""
        ...

    async def quota_status(self, place: Place) -> QuotaStatus:
        """Today's quota use for someone, somewhere."""
        ...

    def spawn(self, work: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``work`` in a task the bot tracks (waited for at shutdown, errors logged)."""
        ...

    def partial_message(self, channel_id: int, message_id: int) -> discord.PartialMessage:
        """A message the bot posted, to edit or delete without fetching it."""
        ...


def services_of(interaction: discord.Interaction[Any]) -> BotServices:
    """The services of the bot an interaction reached: its client, which registered the buttons and commands
    only because it provides them."""
    return cast(BotServices, interaction.client)
