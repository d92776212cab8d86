"""Who may see a job, and who may manage it (layer 1, pure: no discord.py).

A user sees their own Discord jobs anywhere, and other people's jobs made in the same server. Private details
and deletion are for the requester, or a member who may manage messages in that server.
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


def _same_server(viewer: Viewer, job: JobRecord) -> bool:
    return job.requester.guild_id is not None and job.requester.guild_id == str(viewer.guild_id)


def can_see(viewer: Viewer, job: JobRecord) -> bool:
    """A Discord job of the viewer's, or one made in the server the viewer is in."""
    return job.requester.adapter == "discord" and (is_owner(viewer, job) or _same_server(viewer, job))


def can_moderate(viewer: Viewer, job: JobRecord) -> bool:
    """The requester, or someone who may manage messages where the job was made."""
    return is_owner(viewer, job) or (_same_server(viewer, job) and viewer.manages_messages)
