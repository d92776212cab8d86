"""Slash-command options from the catalog: the model choices, and suggestions (autocomplete) for size, aspect
ratio, count and series limited to what the chosen model accepts, its default marked (layer 2, Discord helpers).

At most 25 choices per option, as Discord allows; names are at most 100 characters.
"""

from __future__ import annotations

import copy
from typing import Any

from discord import app_commands

from core.catalog import ModelSpec, find_model, models_for
from core.errors import InvalidRequestError
from core.requests import MAX_COUNT, resolve_size

MAX_CHOICES = 25
Choice = app_commands.Choice


def model_label(spec: ModelSpec) -> str:
    """A choice label (≤ 100 characters) that says what the model is good at."""
    traits = []
    if spec.series:
        traits.append(f"series up to {spec.max_outputs}")
    if spec.max_references:
        traits.append(f"{spec.max_references} reference{'s' if spec.max_references > 1 else ''}")
    if spec.seed:
        traits.append("seed")
    if "4K" in spec.sizes.tiers:
        traits.append("4K")
    label = f"{spec.title}" + (f" ({', '.join(traits)})" if traits else "")
    return label[:100]


def model_choices(provider: str, *, editing: bool) -> list[Choice[str]]:
    """Choices for ``/imagine`` (text-to-image models) or ``/edit`` (models that take references)."""
    models = [m for m in models_for(provider) if (m.max_references >= 1 if editing else m.text_to_image)]
    return [Choice(name=model_label(m), value=m.key) for m in models][:MAX_CHOICES]


def set_model_choices(command: app_commands.Command[Any, ..., Any], choices: list[Choice[str]]) -> None:
    """Give a cog instance's command the model choices of its bot's provider.

    The provider is known only when the bot is built, after the cog class was defined. discord.py gives each
    cog instance its own copy of the class's commands but shares their parameter objects, so the parameter is
    copied before the choices are set: two bots in one process keep their own.
    """
    params = command._params  # discord.py's per-command parameter table (no public setter)
    params["model"] = copy.copy(params["model"])
    app_commands.choices(model=choices)(command)


def chosen_model(provider: str, *names: str | None, editing: bool) -> ModelSpec:
    """The first of ``names`` the provider serves (what the user picked, then their default), else the
    provider's default model."""
    for name in names:
        if name:
            try:
                return find_model(provider, name, editing=editing)
            except InvalidRequestError:
                continue
    return find_model(provider, None, editing=editing)


def _matching(choices: list[Choice[Any]], typed: str) -> list[Choice[Any]]:
    typed = typed.strip().lower()
    found = [c for c in choices if typed in str(c.value).lower() or typed in c.name.lower()]
    return found[:MAX_CHOICES]


def size_suggestions(spec: ModelSpec, typed: str) -> list[Choice[str]]:
    """The model's size tiers (with the square size of each), its default first; an exact ``WxH`` typed in
    is offered too when the model accepts it."""
    rules = spec.sizes
    if rules.adaptive:
        return [Choice(name="adaptive — follows the reference image (default)", value="adaptive")]
    choices = []
    for tier, table in rules.tiers.items():
        width, height = table.get("1:1") or next(iter(table.values()))
        default = " (default)" if tier == rules.default else ""
        choices.append(Choice(name=f"{tier} — {width}×{height} at 1:1{default}", value=tier))
    if rules.default not in rules.tiers:
        choices.insert(0, Choice(name=f"{rules.default} (default)", value=rules.default))
    suggested = _matching(choices, typed)
    text = typed.strip()
    if "x" in text.lower() and text not in (c.value for c in suggested):
        try:
            resolve_size(rules, text, None)
            suggested.insert(0, Choice(name=f"{text} — exact size", value=text))
        except InvalidRequestError:
            pass
    return suggested[:MAX_CHOICES]


def ratio_suggestions(spec: ModelSpec, typed: str, *, size: str | None = None) -> list[Choice[str]]:
    """The model's aspect ratios, each with its pixel size at the chosen (or default) tier."""
    rules = spec.sizes
    if rules.adaptive or not rules.tiers:
        return []
    tier = next((t for t in rules.tiers if size and t.lower() == size.strip().lower()), None)
    tier = tier or (rules.default if rules.default in rules.tiers else next(iter(rules.tiers)))
    choices = []
    for ratio, (width, height) in rules.tiers[tier].items():
        default = " (default)" if ratio == "1:1" else ""
        choices.append(Choice(name=f"{ratio} — {width}×{height} at {tier}{default}", value=ratio))
    return _matching(choices, typed)


def count_suggestions(typed: str, *, left: int | None = None) -> list[Choice[int]]:
    """1 to 15 independent images (one request each), no more than today's quota ``left`` allows."""
    most = MAX_COUNT if left is None else max(1, min(MAX_COUNT, left))
    choices = [
        Choice(name="1 image (default)" if n == 1 else f"{n} independent images (one request each)", value=n)
        for n in range(1, most + 1)
    ]
    return [c for c in choices if typed.strip() in str(c.value)][:MAX_CHOICES]


def series_suggestions(spec: ModelSpec, typed: str) -> list[Choice[int]]:
    """For models that make series: up to how many related images one request may return."""
    if not spec.series:
        return []
    choices = [
        Choice(name=f"up to {n} related images in one request (the model decides how many)", value=n)
        for n in range(2, spec.max_outputs + 1)
    ]
    return [c for c in choices if typed.strip() in str(c.value)][:MAX_CHOICES]
