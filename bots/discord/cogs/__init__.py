"""One cog per feature: imagine, edit, jobs (/history, /job), models, quota (layer 4, interface).

Every cog is a ``commands.Cog`` with ``@app_commands.command`` methods, built with the ``BotServices`` it uses
(never the bot itself). Commands acknowledge first, in a task the bot tracks, before any I/O.
"""

from __future__ import annotations

from discord.ext import commands

from bots.discord.cogs.edit import EditCog
from bots.discord.cogs.imagine import ImagineCog
from bots.discord.cogs.jobs import JobsCog
from bots.discord.cogs.models import ModelsCog
from bots.discord.cogs.quota import QuotaCog
from bots.discord.services import BotServices


def feature_cogs(services: BotServices) -> list[commands.Cog]:
    """The cogs (the command choices come from the services' provider)."""
    return [ImagineCog(services), EditCog(services), JobsCog(services), ModelsCog(services), QuotaCog(services)]
