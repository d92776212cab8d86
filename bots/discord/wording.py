"""What the bot says, as plain text (layer 1, pure: no discord.py).

Failure kinds are decided once, in core; this module only maps each kind to words (``KIND_WORDS``). Progress
and outcomes become the status message here. Everything stays within Discord's 2000-character content limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.errors import ConfigurationError, FailureKind, InvalidRequestError, SeedreamError
from core.results import Generation, ImageFailure, JobStatus

MAX_CONTENT = 2000
CONTENT_REJECTED = FailureKind.CONTENT_REJECTED

_ADMIN = "🔧 The bot's image service isn't set up correctly. Please tell a server admin."
#: A kind → the words a user reads. The other kinds (the request or the answer was wrong, a failure of ours or
#: the provider's, an interrupted job) are told with their reason (``kind_words``).
KIND_WORDS: dict[str, str] = {
    CONTENT_REJECTED: "🛡️ The image service's safety filter declined this request, so nothing was made and "
    "nothing was taken from your daily quota. Try describing it differently (or use another reference image).",
    FailureKind.RATE_LIMITED: "⏳ The image service is busy right now. Nothing was taken from your quota; please "
    "try again in a minute.",
    FailureKind.UNAVAILABLE: "⏳ The image service is unavailable right now. Nothing was taken from your quota; "
    "please try again in a few minutes.",
    FailureKind.TIMEOUT: "⏳ The image service took too long to answer. Please try again in a few minutes.",
    FailureKind.AUTHENTICATION: _ADMIN,
    FailureKind.CONFIGURATION: _ADMIN,
    FailureKind.PERMISSION_DENIED: "🔧 The bot's image account isn't allowed to do that. Please tell a server "
    "admin.",
    FailureKind.QUOTA_EXCEEDED: "🔧 The shared image account is out of credit for now. Please tell a server "
    "admin.",
    FailureKind.CANCELLED: "The job was cancelled.",
}


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def relative_time(moment: datetime) -> str:
    """A Discord timestamp that every client shows in its own words ("in 5 minutes")."""
    return f"<t:{int(moment.timestamp())}:R>"


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def kind_words(kind: str | None, *, reason: str) -> str:
    """The words for a failed job: the kind's, or (for kinds whose reason is the message) the reason."""
    if kind in KIND_WORDS:
        return KIND_WORDS[kind]
    return f"❌ That didn't work: {truncate(reason, 500)} Nothing was taken from your quota."


def friendly_error(exc: SeedreamError) -> str:
    """What to tell a user about an error raised before any job existed."""
    if isinstance(exc, InvalidRequestError):
        return f"That can't be made as asked. {exc.message}"
    if isinstance(exc, ConfigurationError):
        return "🔧 The bot's image service isn't set up for that yet. Please tell a server admin."
    return KIND_WORDS.get(exc.kind, f"That didn't work: {exc.message}")


# -- progress -------------------------------------------------------------------------------------------


def amount(count: int, *, series: bool) -> str:
    """What a job asks for, in words that say which kind it is: independent images (one request each) or a
    series (one request for related images, as many as the model decides)."""
    if series:
        return f"a series of up to {count} related images"
    return "1 image" if count == 1 else f"{count} independent images"


def made_text(made: int, *, asked: int, series: bool) -> str:
    """What a finished job made, e.g. "a series of 3 related images (the model chose 3 of up to 4)"."""
    if series:
        chose = f" (the model chose {made} of up to {asked})" if made != asked else ""
        return f"a series of {made} related image{'s' if made != 1 else ''}{chose}"
    if asked == 1:
        return "1 image"
    return f"{made} independent images" if made == asked else f"{made} of {asked} independent images"


@dataclass
class JobProgress:
    """What the status message shows; the delivery updates it as events arrive."""

    job_id: str
    prompt: str
    model: str
    count: int  # the most images the job can make
    series: bool = False
    label: str | None = None  # what a button did to make the job
    phase: str = "starting"  # starting | queued | generating | done
    position: int | None = None
    note: str | None = None
    ready: int = 0
    failures: list[ImageFailure] = field(default_factory=list)
    outcome: Generation | None = None
    elsewhere: str | None = None  # a link to where the job continues
    result_url: str | None = None  # the gallery message
    eta_seconds: float | None = None
    notice: str | None = None  # something the requester must know (e.g. where to find the job later)


def status_text(progress: JobProgress) -> str:
    """The status message: one headline, then what the job is (and a link to its images)."""
    label = f"{progress.label} · " if progress.label else ""
    about = (
        f"*{truncate(progress.prompt, 300)}*\n{label}{progress.model} · "
        f"{amount(progress.count, series=progress.series)} · job `{progress.job_id}`"
    )
    lines = [_headline(progress), about]
    if progress.result_url and not progress.elsewhere:
        lines.append(f"🖼️ Images: {progress.result_url}")
    if progress.notice:
        lines.append(progress.notice)
    return truncate("\n".join(lines), MAX_CONTENT)


def _headline(progress: JobProgress) -> str:
    if progress.elsewhere:
        return f"⏳ Still working: this is taking a while, so I'll continue here: {progress.elsewhere}"
    if progress.outcome is not None:
        return outcome_text(progress.outcome, asked=progress.count, series=progress.series)
    if progress.phase == "queued" and progress.position is not None:
        return f"⏳ Waiting in line: position {progress.position}."
    if progress.phase == "generating":
        done = f" {progress.ready} of {progress.count} ready." if progress.ready else ""
        eta = f" About {duration(progress.eta_seconds)} left." if progress.eta_seconds else ""
        note = f" ({truncate(progress.note, 100)})" if progress.note else ""
        return f"🎨 Generating…{done}{eta}{note}"
    return "⏳ Starting…"


def outcome_text(generation: Generation, *, asked: int, series: bool = False) -> str:
    """The final headline: what was made, what was held back and why, kindly."""
    made = len(generation.images)
    held = [f for f in generation.failures if f.kind == CONTENT_REJECTED]
    other = [f for f in generation.failures if f.kind != CONTENT_REJECTED]
    if generation.error_kind == FailureKind.CANCELLED:
        return _cancelled(made, asked=asked)
    if generation.status is JobStatus.RUNNING:  # its provider task outlived the wait; it is picked up again
        return (f"⏳ Still running at the provider ({made} of {asked} saved so far). Look again with "
                f"`/job id:{generation.job_id}` in a few minutes: the images are saved then.")
    if generation.status is JobStatus.SUCCEEDED:
        return f"✅ Done: {made_text(made, asked=asked, series=series)}."
    if made:
        parts = [f"⚠️ Done: {made} of {asked} images."]
        if held:
            parts.append(_held_back(held))
        if other or generation.error:
            parts.append(f"The rest failed: {truncate(generation.error or other[0].message, 300)}")
        return " ".join(parts)
    if held and not other:
        return KIND_WORDS[CONTENT_REJECTED]
    reason = generation.error or (other[0].message if other else "no image was produced")
    return kind_words(generation.error_kind, reason=reason)


def _cancelled(made: int, *, asked: int) -> str:
    if not made:
        return "⏹️ Cancelled before any image was made; nothing was taken from your quota."
    back = asked - made
    return (
        f"⏹️ Cancelled. {made} of {asked} images {'were' if made != 1 else 'was'} made before that"
        + (f"; the other {back} went back to your quota." if back else ".")
    )


def caption(
    *,
    prompt: str,
    model: str,
    mention: str,
    job_id: str,
    what: str,
    parent_id: str | None = None,
    label: str | None = None,
    state: str = "",
) -> str:
    """The one line above a gallery: prompt (· what a button did) · model · requester · what was asked · job id
    (· state)."""
    job = f"`{job_id}`" + (f" (from `{parent_id}`)" if parent_id else "")
    parts = [f"**{truncate(prompt.replace(chr(10), ' '), 300)}**", label, model, mention, what, job, state]
    return truncate(" · ".join(p for p in parts if p), MAX_CONTENT)


def _held_back(held: list[ImageFailure]) -> str:
    one = len(held) == 1
    which = ", ".join(str(f.index + 1) for f in held)
    return (
        f"{len(held)} {'was' if one else 'were'} held back by the safety filter (image {which}); describing "
        f"{'it' if one else 'them'} differently may get {'it' if one else 'them'} through. Unused images go "
        "back to your quota."
    )
