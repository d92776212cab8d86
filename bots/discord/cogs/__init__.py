"""One cog per feature: imagine, edit, jobs (/history, /job), models, quota, settings, and the message menu
"Edit with Seedream" (layer 4, interface).

Every cog is a ``commands.Cog`` with ``@app_commands`` methods, built with the ``BotServices`` it uses (never the
bot itself). Commands acknowledge first, in a task the bot tracks, before any I/O.
"""

from __future__ import annotations

from typing import Any

from discord import app_commands
from discord.ext import commands

from bots.discord.cogs.edit import EditCog
from bots.discord.cogs.imagine import ImagineCog
from bots.discord.cogs.jobs import JobsCog
from bots.discord.cogs.message_menu import MessageMenuCog
from bots.discord.cogs.models import ModelsCog
from bots.discord.cogs.quota import QuotaCog
from bots.discord.cogs.settings import SettingsCog
from bots.discord.services import BotServices


def feature_cogs(services: BotServices, tree: app_commands.CommandTree[Any]) -> list[commands.Cog]:
    """The cogs (the command choices come from the services' provider; the message menu joins ``tree``)."""
    return [
        ImagineCog(services),
        EditCog(services),
        JobsCog(services),
        ModelsCog(services),
        QuotaCog(services),
        SettingsCog(services),
        MessageMenuCog(services, tree),
    ]
