"""One cog per feature: imagine, edit, jobs (/history, /job), models, quota."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from bots.discord.bot import ImageBot


def feature_cogs(bot: ImageBot) -> list[commands.Cog]:
    """The cogs, built for ``bot`` (the command choices depend on its provider)."""
    from bots.discord.cogs.edit import EditCog
    from bots.discord.cogs.imagine import ImagineCog
    from bots.discord.cogs.jobs import JobsCog
    from bots.discord.cogs.models import ModelsCog
    from bots.discord.cogs.quota import QuotaCog

    return [ImagineCog(bot), EditCog(bot), JobsCog(bot), ModelsCog(bot), QuotaCog(bot)]
