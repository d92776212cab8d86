"""Discord embeds for job details, history, models, quotas and settings (layer 2, Discord helpers: no I/O, no
calls). Results themselves are plain attachments under a caption (``bots.discord.gallery``).

Everything stays inside Discord's limits: embed description ≤ 4096, field ≤ 1024, title ≤ 256, and an embed's
total ≤ 6000 characters.
"""

from __future__ import annotations

import discord

from bots.discord.defaults import UserDefaults
from bots.discord.policy import QuotaStatus
from bots.discord.wording import amount, relative_time, truncate
from core.catalog import ModelSpec
from core.jobs import JobRecord

COLOUR = discord.Colour(0x5865F2)


# -- jobs -----------------------------------------------------------------------------------------------


def details_embed(job: JobRecord, *, private: bool) -> discord.Embed:
    """Every parameter of a job; ``private`` adds what only its requester (or a moderator) should see."""
    params = job.parameters
    deleted = job.extra.get("discord_deleted")
    # A deleted job's prompt stays with those who may manage it: a moderator deleted it for a reason.
    prompt = "(deleted)" if deleted and not private else truncate(job.prompt, 4000)
    embed = discord.Embed(title=f"Job {job.id}", description=prompt, colour=COLOUR, timestamp=job.created_at)
    series = int(params.get("series") or 0)
    asked = amount(series or int(params.get("count") or 1), series=bool(series))
    shown = {
        "Status": str(job.status),
        "Provider": job.provider,
        "Model": f"{job.model} ({params.get('model_id')})",
        "Size": params.get("size"),
        "Aspect ratio": params.get("aspect_ratio"),
        "Images": f"{len(job.images)} made; asked for {asked}",
        "Seed": params.get("seed") if params.get("seed") is not None else "— (this model takes no seed)",
        "Guidance": params.get("guidance"),
        "Watermark": params.get("watermark"),
        "Output format": params.get("output_format"),
    }
    seeds = sorted({i.seed for i in job.images if i.seed is not None})
    if seeds and seeds != [params.get("seed")]:
        shown["Image seeds"] = ", ".join(str(s) for s in seeds[:15])
    if job.parent_id:
        made_as = job.extra.get("discord_made_as")
        shown["From job"] = f"`{job.parent_id}`" + (f" ({made_as})" if made_as else "")
    if deleted:
        shown["Deleted"] = "yes"
    if job.extra.get("discord_shrunk"):
        shown["Originals"] = (
            "Some images were shrunk to fit Discord's upload limit here; the originals are kept, and "
            f"`/job id:{job.id}` sends them whole where the limit allows (a boosted server, a DM)."
        )
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


def settings_embed(defaults: UserDefaults, *, name: str) -> discord.Embed:
    """``/settings``: a user's defaults."""
    embed = discord.Embed(title=f"Defaults of {truncate(name, 80)}", colour=COLOUR)
    embed.add_field(name="Model", value=defaults.model or "the provider's default")
    embed.add_field(name="Size", value=defaults.size or "the model's default")
    embed.add_field(name="Aspect ratio", value=defaults.aspect_ratio or "the model's default")
    embed.add_field(name="Spoiler", value="yes" if defaults.spoiler else "no")
    embed.set_footer(text="Options you give a command win over these. /settings reset:True forgets them.")
    return embed
