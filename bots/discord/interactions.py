"""Small helpers around a discord.py ``Interaction`` (layer 2, Discord helpers).

Who asks and where (as the policy, the access rules and the job store see it), the deferral every command
starts with, and the ephemeral reply that carries refusals and answers.
"""

from __future__ import annotations

import discord

from bots.discord.access import Viewer
from bots.discord.policy import Place
from bots.discord.wording import MAX_CONTENT, truncate
from core.jobs import Requester

NO_MENTIONS = discord.AllowedMentions.none()
#: Discord's limit of attachments (and embeds) in one message.
MAX_FILES_PER_MESSAGE = 10


async def defer_privately(interaction: discord.Interaction) -> None:
    """Acknowledge at once (the 3-second rule) with an ephemeral "thinking…" reply that ``tell`` replaces."""
    await interaction.response.defer(ephemeral=True, thinking=True)


async def tell(interaction: discord.Interaction, text: str, *, embed: discord.Embed | None = None) -> None:
    """Replace the deferred (ephemeral) reply with ``text``."""
    await interaction.edit_original_response(
        content=truncate(text, MAX_CONTENT), embed=embed, allowed_mentions=NO_MENTIONS
    )


def bot_can_post(interaction: discord.Interaction) -> bool:
    """Whether the bot may post (with files) in the interaction's channel with its own token, which a job that
    outlives the 15-minute interaction token needs. Always true in DMs; in threads it takes *Send Messages in
    Threads*."""
    if interaction.guild_id is None:
        return True
    perms = interaction.app_permissions
    in_thread = isinstance(interaction.channel, discord.Thread)
    send = perms.send_messages_in_threads if in_thread else perms.send_messages
    return perms.view_channel and send and perms.attach_files


def bot_can_see_channel(interaction: discord.Interaction) -> bool:
    """Whether the bot may see the interaction's channel (and so read, edit or delete its messages there)."""
    return interaction.guild_id is None or interaction.app_permissions.view_channel


def place_of(interaction: discord.Interaction) -> Place:
    """Who asks and where, as the policy sees it (a DM as such: its server, if any, is found by the bot)."""
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
        dm=interaction.guild_id is None,
    )


def viewer_of(interaction: discord.Interaction) -> Viewer:
    """Who looks at a job, as the access rules see it."""
    return Viewer(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        manages_messages=interaction.permissions.manage_messages,
    )


def requester_of(interaction: discord.Interaction) -> Requester:
    """Who asked, as the job store records it."""
    return Requester(
        adapter="discord",
        user_id=str(interaction.user.id),
        guild_id=str(interaction.guild_id) if interaction.guild_id else None,
        channel_id=str(interaction.channel_id) if interaction.channel_id else None,
        display_name=interaction.user.display_name,
    )
