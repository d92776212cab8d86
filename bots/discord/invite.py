"""The invite link an admin opens to add the bot to a server, with the permissions it needs (layer 2, Discord
helpers).

The bot answers through interactions, which need no channel permission. A job that outlives the 15-minute
interaction token continues with ordinary messages, which need View Channel, Send Messages (Send Messages in
Threads, in a thread) and Attach Files; Embed Links for the details; Read Message History to read a message's
images for "Edit with Seedream" after a restart.
"""

from __future__ import annotations

import discord

INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)
INVITE_SCOPES = ("bot", "applications.commands")


def invite_url(application_id: int) -> str:
    """The exact link that adds the bot (and its slash commands) with ``INVITE_PERMISSIONS``."""
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES)
