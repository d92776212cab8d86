"""Tool results shaped for the clients' limits: text naming every saved file by absolute path, inline JPEG
previews within a byte budget, a ``ResourceLink`` per image (its ``seedream://`` resource, readable by clients
on other machines), and ``structuredContent`` for programs.

Errors are results with ``isError`` and a message that says what to try — never an exception's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mcp_types import CallToolResult, ContentBlock, ImageContent, ResourceLink, TextContent
from pydantic import BaseModel

from core.errors import FailureKind
from core.results import GeneratedImage, Generation, ImageFailure, JobStatus
from mcp_server.models import JobResult, image_uri, job_result
from mcp_server.preview_cache import PreviewCache, Which
from mcp_server.previews import Preview

#: What to try next, per ``SeedreamError.kind`` / ``Generation.error_kind``.
HINTS: dict[str, str] = {
    "content_rejected": "The provider's moderation refused it; rephrase the prompt or use other reference "
    "images (the same input will be refused again).",
    "rate_limited": "The provider is rate-limiting this account (retries were made); wait a minute and "
    "retry.",
    "quota_exceeded": "The account's quota or balance is used up; top it up or choose another provider.",
    "authentication": "The provider refused the credentials; check the API key configured for the server.",
    "permission_denied": "The provider account may not do this; enable the service or model in the "
    "provider's console, or choose another model.",
    "request_rejected": "The provider refused these parameters; change them (list_models shows what each "
    "model takes).",
    "provider_error": "The provider failed; retrying may help, or try another model or provider.",
    "save_failed": "The image was produced but could not be saved on the server; free disk space or fix the "
    "output folder, then check the job.",
    "interrupted": "The server stopped while the job ran; the images saved before that are kept.",
    "unavailable": "The provider is unavailable right now (retries were made); try later or another "
    "provider.",
    "timeout": "The provider did not answer in time and may have billed the request; check list_jobs "
    "before retrying.",
    "bad_response": "The provider's answer could not be read; retrying may help.",
    "configuration": "The server needs configuration before it can generate (see the variables named above).",
    "invalid_request": "Fix the argument and call again; list_models shows each model's sizes and options.",
    "job_not_found": "list_jobs shows the recent jobs of this server.",
    "cancelled": "The job was cancelled; the images saved before that are kept.",
    "internal": "This is a bug in the Seedream MCP server; its log (stderr) has the details.",
}

_MIME = {"jpeg": "image/jpeg", "png": "image/png"}


@dataclass(frozen=True)
class ResultShaper:
    """Turns generations into tool results, with previews from ``previews``."""

    previews: PreviewCache

    async def job(self, generation: Generation, *, pending: bool, previews: Which = "all",
                  remember: bool = True) -> CallToolResult:
        """The result of a job: finished, failed, or still running (``pending``). ``previews``: which images'
        previews it carries; ``remember``: count them as sent (see ``PreviewCache.for_result``)."""
        earlier = self.previews.sent_before(generation.job_id) if previews == "new" else set()
        inline = await self.previews.for_result(generation, which=previews, remember=remember)
        failed = generation.status is JobStatus.FAILED or (
            generation.status is JobStatus.INTERRUPTED and not generation.images
        )
        text = job_text(generation, pending=pending, inline=inline, previews_wanted=previews != "none",
                        sent_earlier=sorted(i for i in earlier if i in {i.index for i in generation.images}))
        content: list[ContentBlock] = [TextContent(text=text)]
        content.extend(ImageContent(data=preview.data, mime_type="image/jpeg") for _, preview in inline)
        content.extend(resource_link(generation.job_id, image) for image in generation.images)
        structured = job_result(generation, pending=pending)
        return _result(content, structured, is_error=failed and not pending)


def with_hint(message: str, kind: str | None) -> str:
    """``message`` plus what to try, unless the message already says it (core messages sometimes do)."""
    hint = HINTS.get(kind or "")
    if not hint or _says_already(message, hint):
        return message
    return f"{message.rstrip()} {hint}"


def _says_already(message: str, hint: str) -> bool:
    first_words = " ".join(hint.split("; ")[-1].split()[:2]).lower()  # e.g. "rephrase the"
    return first_words in message.lower()


def error_result(message: str, *, kind: str, job_id: str | None = None, hint: bool = True) -> CallToolResult:
    """An ``isError`` result: the (safe) message plus what to try (``hint``: the kind's; else the message says)."""
    text = with_hint(message, kind) if hint else message
    structured = JobResult(
        job_id=job_id, status="not_started" if job_id is None else "failed", error=message, error_kind=kind
    )
    return _result([TextContent(text=text)], structured, is_error=True)


def unknown_job(job_id: str) -> str:
    """The one answer for a job id this server cannot show: unknown, or another adapter's (not revealed)."""
    shown = job_id if len(job_id) <= 40 else job_id[:39] + "…"
    return f"No job with id {shown!r} on this server."


def resource_link(job_id: str, image: GeneratedImage) -> ResourceLink:
    """The image as a resource any client can read (the text and structured content keep its file path)."""
    return ResourceLink(
        uri=image_uri(job_id, image.index),
        name=image.path.name,
        mime_type=_MIME.get(image.format),
        size=image.bytes,
        description=f"{image.width}x{image.height} {image.model} (full size)",
    )


def job_text(
    generation: Generation,
    *,
    pending: bool,
    inline: Sequence[tuple[GeneratedImage, Preview]],
    previews_wanted: bool = True,
    sent_earlier: Sequence[int] = (),
) -> str:
    """The human/model-readable summary: status, every saved file by absolute path, failures, next step."""
    n = len(generation.images)
    noun = "image" if n == 1 else "images"
    head = f"Job {generation.job_id} ({generation.model} on {generation.provider}): "
    if pending:
        head += (
            f'still running; {n} {noun} saved so far. Call get_job with job_id "{generation.job_id}" '
            "to wait for the rest. The job keeps running while this server runs, also if this call ends; "
            "if the server is stopped first, the images saved by then are kept and the job shows as "
            "interrupted."
        )
    elif n == 0:
        head += f"{generation.status}; nothing was saved."
    else:
        head += f"{generation.status}, {n} {noun} saved."
    lines = [head]
    if n:
        lines.append("Saved full size:")
        lines += [f"- {_describe(image)}" for image in generation.images]
    if inline:
        sizes = sorted({f"{p.width}x{p.height}" for _, p in inline})
        which = "" if len(inline) == n else f" of image(s) {', '.join(str(i.index + 1) for i, _ in inline)}"
        lines.append(
            f"Inline previews{which} are downscaled JPEGs ({', '.join(sizes)}); the files are the originals."
        )
    if sent_earlier:
        lines.append(
            f"Previews of image(s) {', '.join(str(i + 1) for i in sent_earlier)} were in an earlier result "
            "(previews=true sends them again)."
        )
    elif n and previews_wanted and not inline:
        lines.append("No inline previews (they would not fit the result size limit); open the files above.")
    for failure in generation.failures:
        lines.append(failure_line(failure))
    if any(f.kind == FailureKind.CONTENT_REJECTED for f in generation.failures):
        lines.append(HINTS["content_rejected"])
    if generation.error and not pending:
        lines.append(f"Error: {with_hint(generation.error, generation.error_kind)}")
    lines += [f"Note: {note}" for note in generation.notes]
    return "\n".join(lines)


def failure_line(failure: ImageFailure) -> str:
    """One image's failure, numbered from 1 as people count."""
    what = "was refused by the provider's safety filter" if failure.kind == FailureKind.CONTENT_REJECTED \
        else "failed"
    return f"Image {failure.index + 1} {what} ({failure.code}): {failure.message}"


def _describe(image: GeneratedImage) -> str:
    size = f"{image.bytes / 1_048_576:.1f} MB" if image.bytes >= 1_048_576 else f"{image.bytes // 1024} KB"
    seed = f", seed {image.seed}" if image.seed is not None else ""
    return f"{image.path} ({image.width}x{image.height} {image.format.upper()}, {size}{seed})"


def _result(content: list[ContentBlock], structured: BaseModel, *, is_error: bool) -> CallToolResult:
    return CallToolResult(
        content=content, structured_content=structured.model_dump(mode="json"), is_error=is_error
    )
