"""``/settings``: a user's defaults for model, size, aspect ratio and spoiler (layer 4, interface).

Without options it shows them; with options it changes those (checked against the model first); ``reset`` clears
them. They are kept with the counters' metadata (``bots.discord.defaults``), shared by every bot process.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord.cogs.imagine import Suggestions
from bots.discord.defaults import UserDefaults
from bots.discord.interactions import defer_privately, tell
from bots.discord.options import Choice, model_choices, set_model_choices
from bots.discord.render import settings_embed
from bots.discord.services import BotServices
from bots.discord.wording import friendly_error
from core.catalog import find_model
from core.errors import InvalidRequestError
from core.requests import resolve_size


class SettingsCog(commands.Cog, name="settings"):
    def __init__(self, services: BotServices) -> None:
        self.services = services
        self.suggest = Suggestions(services, editing=False)
        set_model_choices(self.settings, model_choices(services.provider, editing=False))

    @app_commands.command(name="settings", description="Your defaults for /imagine (and /edit's model)")
    @app_commands.describe(
        model="Your default model",
        size="Your default size (must suit the model)",
        aspect_ratio="Your default shape",
        spoiler="Post your results blurred as spoilers",
        reset="Forget all your defaults",
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        model: str | None = None,
        size: str | None = None,
        aspect_ratio: str | None = None,
        spoiler: bool | None = None,
        reset: bool = False,
    ) -> None:
        changes = {"model": model, "size": size, "aspect_ratio": aspect_ratio, "spoiler": spoiler}
        self.services.spawn(self._settings(interaction, changes, reset=reset), name=f"settings-{interaction.id}")

    async def _settings(self, interaction: discord.Interaction, changes: dict[str, object], *, reset: bool) -> None:
        await defer_privately(interaction)
        user = interaction.user.id
        current = UserDefaults() if reset else await self.services.user_defaults(user)
        updated = current.updated(**changes)
        try:
            self._check(updated)
        except InvalidRequestError as exc:
            await tell(interaction, friendly_error(exc) + " Your settings were not changed.")
            return
        if updated != current or reset:
            await self.services.set_user_defaults(user, updated)
        await tell(interaction, "", embed=settings_embed(updated, name=interaction.user.display_name))

    def _check(self, defaults: UserDefaults) -> None:
        """Refuse defaults the model would refuse (naming the field)."""
        spec = find_model(self.services.provider, defaults.model)
        if defaults.size or defaults.aspect_ratio:
            resolve_size(spec.sizes, defaults.size, defaults.aspect_ratio)

    @settings.autocomplete("size")
    async def _sizes(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await self.suggest.sizes(interaction, current)

    @settings.autocomplete("aspect_ratio")
    async def _ratios(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await self.suggest.ratios(interaction, current)
