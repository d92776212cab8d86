""""Edit with Seedream": a message context-menu command (Apps → Edit with Seedream) that makes new images from
the images of any message, up to the model's reference limit (layer 4, interface).

The command opens a form asking what to make (the form is the acknowledgement); the submit, answered by
``bots.discord.message_edit``, fetches the message again, so a form opened before a restart still works.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.attachments import is_image
from bots.discord.forms import MessageEditModal
from bots.discord.interactions import NO_MENTIONS
from bots.discord.services import BotServices

MENU_NAME = "Edit with Seedream"


class MessageMenuCog(commands.Cog, name="message-menu"):
    def __init__(self, services: BotServices, tree: app_commands.CommandTree[discord.Client]) -> None:
        self.services = services
        self.tree = tree
        self.menu = app_commands.ContextMenu(name=MENU_NAME, callback=self.open_form)

    async def cog_load(self) -> None:
        self.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.tree.remove_command(self.menu.name, type=self.menu.type)

    async def open_form(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Open the form (no I/O before it: it must come within Discord's 3 seconds)."""
        images = sum(1 for a in message.attachments if is_image(a))
        if not images:
            await interaction.response.send_message(
                "That message has no images I can use (PNG, JPEG, WebP or GIF attachments).",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        await interaction.response.send_modal(MessageEditModal(message.channel.id, message.id, images=images))
