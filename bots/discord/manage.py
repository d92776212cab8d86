"""Managing a job from its buttons: Details, Delete (asked, then confirmed), Cancel (layer 4, interface).

Each handler acknowledges first. Details are for anyone who can see the job (private ones for its requester or a
moderator); Delete and Cancel are for the requester or a member who may manage messages where the job was made.
Delete removes the job's messages and image files, and those of every job made from it (rerolls, variations,
edits): they show the same thing. A message the bot cannot reach (it may not see that channel) is named, never
a reason to stop; the job is marked deleted so no button can build on it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import discord

from bots.discord.access import can_moderate
from bots.discord.actions import ResultActions
from bots.discord.buttons import confirm_delete_view
from bots.discord.interactions import NO_MENTIONS, bot_can_see_channel, defer_privately, tell, viewer_of
from bots.discord.render import details_embed
from bots.discord.services import BotServices
from core.jobs import JobRecord

log = logging.getLogger(__name__)


@dataclass
class _Removal:
    messages: int = 0
    files: int = 0
    unreachable: set[int] = field(default_factory=set)  # channels the bot could not delete in


class JobManagement:
    """Handlers for Details, Delete and Cancel."""

    def __init__(self, services: BotServices) -> None:
        self.services = services
        self._actions = ResultActions(services)

    async def details(self, interaction: discord.Interaction, job_id: str) -> None:
        await defer_privately(interaction)
        job = await self._actions.visible_job(interaction, job_id)
        if job is not None:
            private = can_moderate(viewer_of(interaction), job)
            await tell(interaction, "", embed=details_embed(job, private=private))

    async def _managed_job(self, interaction: discord.Interaction, job_id: str, what: str) -> JobRecord | None:
        job = await self._actions.visible_job(interaction, job_id)
        if job is not None and not can_moderate(viewer_of(interaction), job):
            await tell(interaction, f"Only the person who asked for these images, or a moderator, can {what} them.")
            return None
        return job

    async def delete(self, interaction: discord.Interaction, job_id: str) -> None:
        """Ask before deleting."""
        await defer_privately(interaction)
        job = await self._managed_job(interaction, job_id, "delete")
        if job is None:
            return
        if job.extra.get("discord_deleted"):
            await tell(interaction, f"Job `{job.id}` is already deleted.")
            return
        family = await self.services.job_family(job.id)
        made_from = f", and the {len(family) - 1} job(s) made from it" if len(family) > 1 else ""
        await interaction.edit_original_response(
            content=f"Delete job `{job.id}`{made_from}? Its messages and image files will be removed for good.",
            view=confirm_delete_view(job.id),
            allowed_mentions=NO_MENTIONS,
        )

    async def keep(self, interaction: discord.Interaction, job_id: str) -> None:
        await interaction.response.edit_message(content=f"Kept job `{job_id}`.", view=None)

    async def deleteyes(self, interaction: discord.Interaction, job_id: str) -> None:
        """Delete the job and those made from it: messages (where the bot can reach them), files, buttons."""
        await interaction.response.edit_message(content=f"Deleting job `{job_id}`…", view=None)
        job = await self._managed_job(interaction, job_id, "delete")
        if job is None:
            return
        family = [j for j in await self.services.job_family(job.id) if not j.extra.get("discord_deleted")]
        removal = _Removal()
        blind = None if bot_can_see_channel(interaction) else interaction.channel_id
        for member in family:
            await self._remove_messages(member, removal, blind_channel=blind)
            removal.files += await asyncio.to_thread(_delete_files, member)
            deleted = {"by": str(interaction.user.id), "at": interaction.created_at.isoformat(), "root": job.id}
            await self.services.note_on_job(member.id, "discord_deleted", deleted)
        await tell(interaction, _removal_text(job.id, len(family), removal))

    async def _remove_messages(self, job: JobRecord, removal: _Removal, *, blind_channel: int | None) -> None:
        for channel_id, message_id in sorted({(int(c), int(m)) for c, m in job.extra.get("discord_messages") or []}):
            if channel_id == blind_channel:
                removal.unreachable.add(channel_id)  # Discord would answer 403 Missing Access: don't ask
                continue
            try:
                await self.services.partial_message(channel_id, message_id).delete()
                removal.messages += 1
            except discord.NotFound:
                pass  # already gone
            except discord.Forbidden:
                removal.unreachable.add(channel_id)
            except discord.HTTPException as exc:
                log.warning("job %s: could not delete message %s: %s %s", job.id, message_id, exc.status, exc.text)
                removal.unreachable.add(channel_id)

    async def cancel(self, interaction: discord.Interaction, job_id: str) -> None:
        """Stop a queued or running job; what it did not make goes back to the quota."""
        await defer_privately(interaction)
        job = await self._managed_job(interaction, job_id, "cancel")
        if job is None:
            return
        if await self.services.cancel_job(job.id, by=f"discord:{interaction.user.id}"):
            await tell(interaction, f"⏹️ Cancelling job `{job.id}`: images not made yet go back to the quota.")
        else:
            await tell(interaction, f"Job `{job.id}` has already ended ({job.status}).")


def _removal_text(job_id: str, jobs: int, removal: _Removal) -> str:
    family = f" and {jobs - 1} made from it" if jobs > 1 else ""
    text = (
        f"🗑️ Deleted job `{job_id}`{family}: {removal.messages} message(s) and {removal.files} image file(s) "
        "removed; their buttons no longer make anything."
    )
    if removal.unreachable:
        where = ", ".join(f"<#{c}>" for c in sorted(removal.unreachable))
        text += (
            f" I couldn't remove the messages in {where} (I'm not allowed to see that channel): a moderator can "
            "delete them by hand."
        )
    return text


def _delete_files(job: JobRecord) -> int:
    removed = 0
    for image in job.images:
        for path in (image.path, image.sidecar_path):
            if path is not None and path.exists():
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += path is image.path
    return removed
