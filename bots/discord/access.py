"""Who may see a job, and who may manage it (layer 1, pure: no discord.py).

A user sees their own Discord jobs anywhere, and other people's jobs made in the same server. A job made in a
DM under a server's rules belongs to that server too, but only its moderators see it. Private details, deletion
and cancelling are for the requester, or a member who may manage messages in that server. With
``owner_only_buttons`` only the requester may make new images from a job's buttons.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.jobs import JobRecord


@dataclass(frozen=True)
class Viewer:
    """Who is looking, and from where."""

    user_id: int
    guild_id: int | None
    manages_messages: bool = False


def is_owner(viewer: Viewer, job: JobRecord) -> bool:
    return job.requester.user_id == str(viewer.user_id)


def _server_of(job: JobRecord) -> str | None:
    return job.requester.guild_id or job.extra.get("discord_dm_guild")


def _same_server(viewer: Viewer, job: JobRecord) -> bool:
    server = _server_of(job)
    return server is not None and server == str(viewer.guild_id)


def can_see(viewer: Viewer, job: JobRecord) -> bool:
    """A Discord job of the viewer's, one made in the server the viewer is in, or (for its moderators) a DM
    job that server's rules admitted."""
    if job.requester.adapter != "discord":
        return False
    if is_owner(viewer, job):
        return True
    in_dm = job.requester.guild_id is None
    return _same_server(viewer, job) and (not in_dm or viewer.manages_messages)


def can_moderate(viewer: Viewer, job: JobRecord) -> bool:
    """The requester, or someone who may manage messages where the job was made."""
    return is_owner(viewer, job) or (_same_server(viewer, job) and viewer.manages_messages)


def can_build_on(viewer: Viewer, job: JobRecord, *, owner_only: bool) -> bool:
    """Whether the viewer may make new images from the job's buttons (reroll, vary, remix, edit)."""
    return can_see(viewer, job) and (not owner_only or is_owner(viewer, job))
