"""Slash-command choices from the catalog (at most 25 per option, as Discord allows) (layer 2, Discord
helpers)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from discord import app_commands

from core.catalog import RATIOS, ModelSpec, models_for

MAX_CHOICES = 25


@dataclass(frozen=True)
class CommandChoices:
    models: list[app_commands.Choice[str]]
    sizes: list[app_commands.Choice[str]]
    ratios: list[app_commands.Choice[str]]


def model_label(spec: ModelSpec) -> str:
    """A choice label (≤ 100 characters) that says what the model is good at."""
    traits = []
    if spec.max_outputs > 1:
        traits.append(f"up to {spec.max_outputs} images")
    if spec.max_references:
        traits.append(f"{spec.max_references} reference{'s' if spec.max_references > 1 else ''}")
    if spec.seed:
        traits.append("seed")
    label = f"{spec.title}" + (f" ({', '.join(traits)})" if traits else "")
    return label[:100]


def choices_for(provider: str, *, editing: bool) -> CommandChoices:
    """Choices for ``/imagine`` (text-to-image models) or ``/edit`` (models that take references)."""
    if editing:
        models = [m for m in models_for(provider) if m.max_references >= 1]
    else:
        models = [m for m in models_for(provider) if m.text_to_image]
    tiers: dict[str, int] = {}
    ratios: set[str] = set()
    for spec in models:
        for tier, table in spec.sizes.tiers.items():
            width, height = next(iter(table.values()))
            tiers.setdefault(tier, width * height)
            ratios.update(table)
    return CommandChoices(
        models=[app_commands.Choice(name=model_label(m), value=m.key) for m in models][:MAX_CHOICES],
        sizes=[app_commands.Choice(name=t, value=t) for t in sorted(tiers, key=tiers.__getitem__)][
            :MAX_CHOICES
        ],
        ratios=[app_commands.Choice(name=r, value=r) for r in RATIOS if r in ratios][:MAX_CHOICES],
    )


def set_choices(command: app_commands.Command[Any, ..., Any], choices: CommandChoices) -> None:
    """Give a cog instance's command the model, size and aspect-ratio choices of its bot's provider.

    The provider is known only when the bot is built, after the cog class was defined. discord.py gives each
    cog instance its own copy of the class's commands but shares their parameter objects, so each is copied
    before the choices are set: two bots in one process keep their own.
    """
    params = command._params  # discord.py's per-command parameter table (no public setter)
    for name in ("model", "size", "aspect_ratio"):
        params[name] = copy.copy(params[name])
    app_commands.choices(model=choices.models, size=choices.sizes, aspect_ratio=choices.ratios)(command)
