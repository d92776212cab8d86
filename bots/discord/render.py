"""Discord embeds for results, jobs, models and quotas (layer 2, Discord helpers: no I/O, no calls).

Everything stays inside Discord's limits: embed description ≤ 4096, field ≤ 1024, title ≤ 256, and the embeds
of one message together ≤ 6000 characters (ten result embeds fit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import discord

from bots.discord.policy import QuotaStatus
from bots.discord.wording import duration, relative_time, truncate
from core.catalog import ModelSpec
from core.jobs import JobRecord

RESULT_PROMPT_CHARS = 250  # x10 embeds per message stays under the 6000-character total
COLOUR = discord.Colour(0x5865F2)


@dataclass(frozen=True)
class ResultCard:
    """One posted image, as its embed describes it."""

    job_id: str
    index: int
    count: int
    prompt: str
    model: str
    provider: str
    width: int
    height: int
    seed: int | None
    elapsed: float
    requester: str
    filename: str
    spoiler: bool
    reencoded: bool
    parent_id: str | None
    at: datetime


def result_embed(card: ResultCard) -> discord.Embed:
    """The embed under one image: prompt, model, size, seed, provider, time and job id."""
    title = f"Image {card.index + 1} of {card.count}" if card.count > 1 else "Seedream image"
    embed = discord.Embed(
        title=title, description=truncate(card.prompt, RESULT_PROMPT_CHARS), colour=COLOUR, timestamp=card.at
    )
    embed.add_field(name="Model", value=card.model)
    embed.add_field(name="Size", value=f"{card.width}×{card.height}")
    embed.add_field(name="Seed", value=str(card.seed) if card.seed is not None else "—")
    embed.add_field(name="Provider", value=card.provider)
    embed.add_field(name="Time", value=duration(card.elapsed))
    job = f"`{card.job_id}`" + (f" (from `{card.parent_id}`)" if card.parent_id else "")
    embed.add_field(name="Job", value=job)
    notes = [f"Requested by {truncate(card.requester, 80)}"]
    if card.reencoded:
        notes.append("re-encoded to fit Discord's upload limit (the original is kept)")
    embed.set_footer(text=" · ".join(notes))
    if not card.spoiler:  # an embed would show a spoilered attachment unblurred
        embed.set_image(url=f"attachment://{card.filename}")
    return embed


# -- jobs -----------------------------------------------------------------------------------------------


def details_embed(job: JobRecord, *, private: bool) -> discord.Embed:
    """Every parameter of a job; ``private`` adds what only its requester (or a moderator) should see."""
    params = job.parameters
    embed = discord.Embed(
        title=f"Job {job.id}", description=truncate(job.prompt, 4000), colour=COLOUR, timestamp=job.created_at
    )
    shown = {
        "Status": str(job.status),
        "Provider": job.provider,
        "Model": f"{job.model} ({params.get('model_id')})",
        "Size": params.get("size"),
        "Aspect ratio": params.get("aspect_ratio"),
        "Images": f"{len(job.images)} made of {params.get('count')} asked",
        "Seed": params.get("seed") if params.get("seed") is not None else "— (this model takes no seed)",
        "Guidance": params.get("guidance"),
        "Watermark": params.get("watermark"),
        "Output format": params.get("output_format"),
    }
    seeds = sorted({i.seed for i in job.images if i.seed is not None})
    if seeds and seeds != [params.get("seed")]:
        shown["Image seeds"] = ", ".join(str(s) for s in seeds[:15])
    if job.parent_id:
        shown["From job"] = f"`{job.parent_id}`"
    if job.extra.get("discord_deleted"):
        shown["Deleted"] = "yes"
    if private:
        shown.update(_private_details(job))
    for name, value in shown.items():
        if value is not None and value != "":
            embed.add_field(name=name, value=truncate(str(value), 1024))
    return embed


def _private_details(job: JobRecord) -> dict[str, object]:
    refs = job.parameters.get("references") or []
    private: dict[str, object] = {
        "References": "\n".join(truncate(str(r), 120) for r in refs[:10]) if refs else None,
        "Usage": f"{job.usage.generated_images} images, {job.usage.total_tokens} tokens"
        if job.usage
        else None,
        "Failures": "; ".join(f"#{f.index + 1}: {f.code}" for f in job.failures[:10]) or None,
        "Error": job.error,
    }
    if job.requester.channel_id:
        private["Asked in"] = f"<#{job.requester.channel_id}>"
    return private


def history_embed(jobs: list[JobRecord], *, name: str) -> discord.Embed:
    """A user's recent jobs, newest first (``/job <id>`` re-opens one)."""
    embed = discord.Embed(title=f"Recent jobs of {truncate(name, 80)}", colour=COLOUR)
    if not jobs:
        embed.description = "No jobs yet. Try `/imagine`."
        return embed
    lines = []
    for job in jobs:
        gone = " · deleted" if job.extra.get("discord_deleted") else ""
        lines.append(
            f"`{job.id}` · {relative_time(job.created_at)} · {job.status} · {len(job.images)} img{gone}\n"
            f"  {truncate(job.prompt, 80)}"
        )
    embed.description = truncate("\n".join(lines), 4000)
    embed.set_footer(text="Re-open one with /job id:<job id>")
    return embed


def models_embed(provider: str, models: list[ModelSpec]) -> discord.Embed:
    """``/models``: what each model of the bot's provider can do (one field per model, at most 25)."""
    embed = discord.Embed(title=f"Seedream models on {provider}", colour=COLOUR)
    for spec in models[:25]:
        sizes = (
            "adaptive (follows the reference)"
            if spec.sizes.adaptive
            else ", ".join(spec.sizes.tiers) or "WxH"
        )
        facts = [
            f"sizes: {sizes}",
            f"images per request: up to {spec.max_outputs}"
            if spec.max_outputs > 1
            else "one image per request",
            f"references: up to {spec.max_references}" if spec.max_references else "text only",
            "seed: yes" if spec.seed else "seed: no",
        ]
        if not spec.text_to_image:
            facts.append("editing only (/edit)")
        if spec.notes:
            facts.append(spec.notes)
        embed.add_field(
            name=truncate(f"{spec.key} — {spec.title}", 256),
            value=truncate("\n".join(facts), 1024),
            inline=False,
        )
    return embed


def quota_embed(status: QuotaStatus, *, name: str) -> discord.Embed:
    """``/quota``: today's use, the limits, and when they reset."""
    embed = discord.Embed(title=f"Quota of {truncate(name, 80)}", colour=COLOUR)

    def used(count: int | None, limit: int) -> str:
        return f"{count or 0} of {limit} images" if limit else f"{count or 0} images (no daily limit)"

    embed.add_field(name="You today", value=used(status.user_used, status.user_limit))
    if status.guild_used is not None:
        embed.add_field(name="This server today", value=used(status.guild_used, status.guild_limit))
    embed.add_field(name="Resets", value=relative_time(status.resets_at))
    running = f"{status.active_jobs}" + (
        f" of {status.max_concurrent_jobs}" if status.max_concurrent_jobs else ""
    )
    embed.add_field(name="Jobs running", value=running)
    if status.cooldown_until is not None:
        embed.add_field(name="Next request", value=relative_time(status.cooldown_until))
    return embed
