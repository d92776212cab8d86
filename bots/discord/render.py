"""Pure rendering: job progress → status text, results → embeds and files, jobs → details.

No I/O and no Discord calls here (``fit_image`` is CPU work the caller runs in a thread). Everything stays
inside Discord's limits: content ≤ 2000, embed description ≤ 4096, field ≤ 1024, title ≤ 256, and the
embeds of one message together ≤ 6000 characters (ten result embeds fit).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from datetime import datetime

import discord
from PIL import Image

from bots.discord.policy import QuotaStatus
from core.catalog import ModelSpec
from core.jobs import JobRecord
from core.results import Generation, ImageFailure, JobStatus

MAX_CONTENT = 2000
RESULT_PROMPT_CHARS = 250  # x10 embeds per message stays under the 6000-character total
COLOUR = discord.Colour(0x5865F2)
_JPEG_QUALITIES = (90, 80, 70, 60, 50, 40)
_MIN_SIDE = 64

KIND_MESSAGES = {
    "content_rejected": "🛡️ The image service's safety filter declined this request, so nothing was made and "
    "nothing was taken from your daily quota. Try describing it differently (or use another "
    "reference image).",
    "rate_limited": "⏳ The image service is busy right now. Nothing was taken from your quota; please try "
    "again in a minute.",
    "unavailable": "⏳ The image service is unavailable right now. Nothing was taken from your quota; please "
    "try again in a few minutes.",
    "timeout": "⏳ The image service took too long to answer. Please try again in a few minutes.",
    "authentication": "🔧 The bot's image service isn't set up correctly. Please tell a server admin.",
    "configuration": "🔧 The bot's image service isn't set up correctly. Please tell a server admin.",
    "quota_exceeded": "🔧 The shared image account is out of credit for now. Please tell a server admin.",
    "cancelled": "The job was cancelled.",
}


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def relative(moment: datetime) -> str:
    return f"<t:{int(moment.timestamp())}:R>"


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def is_moderation(code: str | None) -> bool:
    """Whether a per-image failure code means the safety filter held the image back."""
    text = (code or "").lower()
    return "sensitive" in text or "content_rejected" in text or "moderation" in text


# -- progress -------------------------------------------------------------------------------------------


@dataclass
class JobProgress:
    """What the status message shows; the delivery updates it as events arrive."""

    job_id: str
    prompt: str
    model: str
    count: int
    phase: str = "starting"  # starting | queued | generating | done
    position: int | None = None
    note: str | None = None
    ready: int = 0
    failures: list[ImageFailure] = field(default_factory=list)
    outcome: Generation | None = None
    elsewhere: str | None = None  # a link to where the job continues


def status_text(progress: JobProgress) -> str:
    """The status message: one headline, then what the job is."""
    about = (
        f"*{truncate(progress.prompt, 300)}*\n{progress.model} · "
        f"{progress.count} image{'s' if progress.count != 1 else ''} · job `{progress.job_id}`"
    )
    return truncate(f"{_headline(progress)}\n{about}", MAX_CONTENT)


def _headline(progress: JobProgress) -> str:
    if progress.elsewhere:
        return f"⏳ Still working: this is taking a while, so I'll continue here: {progress.elsewhere}"
    if progress.outcome is not None:
        return outcome_text(progress.outcome, asked=progress.count)
    if progress.phase == "queued" and progress.position is not None:
        return f"⏳ Waiting in line: position {progress.position}."
    if progress.phase == "generating":
        done = f" {progress.ready} of {progress.count} ready." if progress.ready else ""
        note = f" ({truncate(progress.note, 100)})" if progress.note else ""
        return f"🎨 Generating…{done}{note}"
    return "⏳ Starting…"


def outcome_text(generation: Generation, *, asked: int) -> str:
    """The final headline: what was made, what was held back and why, kindly."""
    made = len(generation.images)
    held = [f for f in generation.failures if is_moderation(f.code)]
    other = [f for f in generation.failures if not is_moderation(f.code)]
    if generation.status is JobStatus.SUCCEEDED:
        return f"✅ Done: {made} image{'s' if made != 1 else ''}."
    if made:
        parts = [f"⚠️ Done: {made} of {asked} images."]
        if held:
            parts.append(
                f"{len(held)} {'was' if len(held) == 1 else 'were'} held back by the safety filter "
                f"(image {', '.join(str(f.index + 1) for f in held)}); unused images go back to your "
                "quota."
            )
        if other or generation.error:
            parts.append(f"The rest failed: {truncate(generation.error or other[0].message, 300)}")
        return " ".join(parts)
    if held and not other:
        return KIND_MESSAGES["content_rejected"]
    kind = generation.error_kind or ""
    if kind in KIND_MESSAGES:
        return KIND_MESSAGES[kind]
    reason = generation.error or (other[0].message if other else "no image was produced")
    return f"❌ That didn't work: {truncate(reason, 500)} Nothing was taken from your quota."


# -- results --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FittedImage:
    """Bytes ready to upload (re-encoded as JPEG, maybe downscaled, when the original was too large)."""

    data: bytes
    format: str
    width: int
    height: int
    reencoded: bool


def fit_image(data: bytes, *, limit: int, width: int, height: int, fmt: str) -> FittedImage:
    """``data`` if it fits ``limit`` bytes, else a JPEG re-encoding (lower quality, then smaller) that does.

    Raises:
        ValueError: the image cannot be made to fit (a limit of a few hundred bytes).
    """
    if len(data) <= limit:
        return FittedImage(data, fmt, width, height, reencoded=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as opened:
            image = opened.convert("RGB")
    while min(image.size) >= _MIN_SIDE:
        for quality in _JPEG_QUALITIES:
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= limit:
                return FittedImage(out.getvalue(), "jpeg", image.width, image.height, reencoded=True)
        image = image.resize(
            (max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)), Image.Resampling.LANCZOS
        )
    raise ValueError(f"cannot fit an image into {limit} bytes")


def result_filename(job_id: str, index: int, fmt: str, *, spoiler: bool) -> str:
    name = f"seedream-{job_id}-{index + 1:02d}.{'jpg' if fmt == 'jpeg' else fmt}"
    return f"SPOILER_{name}" if spoiler else name


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
            f"`{job.id}` · {relative(job.created_at)} · {job.status} · {len(job.images)} img{gone}\n"
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
    embed.add_field(name="Resets", value=relative(status.resets_at))
    running = f"{status.active_jobs}" + (
        f" of {status.max_concurrent_jobs}" if status.max_concurrent_jobs else ""
    )
    embed.add_field(name="Jobs running", value=running)
    if status.cooldown_until is not None:
        embed.add_field(name="Next request", value=relative(status.cooldown_until))
    return embed
