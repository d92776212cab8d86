"""Slash-command choices from the catalog (at most 25 per option, as Discord allows)."""

from __future__ import annotations

from dataclasses import dataclass

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
