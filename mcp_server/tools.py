"""The five tools. Parameters are typed from the catalog; every description is one line for a model.

Each tool returns a deliberately built ``CallToolResult`` (see ``content``). For the job tools the
``Annotated`` return type gives the SDK the ``outputSchema`` and makes it check ``structuredContent`` against
it; the listing tools return ``structuredContent`` without declaring a schema (it would cost context in every
conversation).
"""

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field, WithJsonSchema

from core.catalog import MODELS, PROVIDERS, RATIOS, SANDBOX_PREFIX, ModelSpec, models_for
from core.errors import FailureKind, JobNotFoundError, QuotaExceededError, SeedreamError
from core.requests import MAX_PROMPT_CHARS, SEED_RANGE, GenerateRequest, LogoOptions
from core.results import Generation
from core.service import JobHandle
from mcp_server import identity, quota
from mcp_server.content import error_result, unknown_job
from mcp_server.follow import follow, planned_images
from mcp_server.models import JobList, JobResult, JobSummary, ModelInfo, ModelList
from mcp_server.preview_cache import Which
from mcp_server.progress import JobWatch, ProgressReporter, wait_for
from mcp_server.state import AppState

MODEL_KEYS: tuple[str, ...] = tuple(dict.fromkeys(m.key for m in MODELS))
PROVIDER_NAMES: tuple[str, ...] = (
    *PROVIDERS,
    SANDBOX_PREFIX,
    *(f"{SANDBOX_PREFIX}-{p}" for p in PROVIDERS[1:]),
)
TIERS: tuple[str, ...] = tuple(
    sorted({t for m in MODELS for t in m.sizes.tiers}, key=lambda t: float(t[:-1]))
)
MAX_COUNT = max(m.max_outputs for m in MODELS)  # also the most independent images (core's MAX_COUNT)
MAX_REFERENCES = max(m.max_references for m in MODELS)

ProviderName = Literal[PROVIDER_NAMES]  # type: ignore[valid-type]
AspectRatio = Literal[RATIOS]  # type: ignore[valid-type]

GENERATES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
READS = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

Prompt = Annotated[str, Field(description=f"What to draw or change (≤ {MAX_PROMPT_CHARS} chars).")]
# A string the core validates: the catalog's keys, their aliases and Ark endpoint ids (ep-…) all work.
Model = Annotated[
    str | None,
    Field(description="seedream-4.0 (Ark default), -4.5, -5.0-lite, -5.0-pro, -3.0, seededit-3.0, alias, Ark ep-… "
          "id."),
]
PromptMode = Annotated[
    Literal["standard", "fast", "expand"] | None,
    Field(description="standard/fast: Ark 4.0; expand: visual."),
]
# Validated as LogoOptions; its schema written out by hand, so it costs no $defs in every tools/list.
Logo = Annotated[
    LogoOptions | None,
    WithJsonSchema({"type": "object", "description": "visual+watermark: position bottom-right/-left|top-left/"
                    "-right, language zh/en, opacity 0-1, text."}),
]
Size = Annotated[
    str | None,
    Field(description=f"Tier ({TIERS[0]}…{TIERS[-1]}, per model), WxH or aspect ratio (16:9)."),
]
Ratio = Annotated[AspectRatio | None, Field(description="With a tier: size=4K aspect_ratio=16:9.")]
Count = Annotated[
    int, Field(ge=1, le=MAX_COUNT, description="Takes: independent images to pick from.")
]
Series = Annotated[
    int | None,
    Field(ge=1, le=MAX_COUNT, description="Instead of takes: related images (story, set) in one request; "
          "may make fewer."),
]
Seed = Annotated[
    int | None, Field(ge=SEED_RANGE[0], le=SEED_RANGE[1], description="3.0 models only.")
]
Guidance = Annotated[
    float | None, Field(ge=1, le=10, description="Prompt adherence; 3.0 models only.")
]
Watermark = Annotated[bool, Field(description="Add the provider's 'AI generated' mark.")]
OutputFormat = Annotated[
    Literal["jpeg", "png"] | None, Field(description="png: Ark 5.0 models only.")
]
Provider = Annotated[
    ProviderName | None, Field(description="Default: the server's. sandbox*: free test images.")
]
References = Annotated[
    list[str],
    Field(
        min_length=1,
        max_length=MAX_REFERENCES,
        description=("Absolute paths or file:// URIs (allowed folders only), http(s) URLs, data:image URIs."),
    ),
]


async def generate_image(
    ctx: Context,
    prompt: Prompt,
    model: Model = None,
    size: Size = None,
    aspect_ratio: Ratio = None,
    count: Count = 1,
    series: Series = None,
    seed: Seed = None,
    guidance: Guidance = None,
    watermark: Watermark = False,
    output_format: OutputFormat = None,
    provider: Provider = None,
    prompt_mode: PromptMode = None,
    logo: Logo = None,
) -> Annotated[CallToolResult, JobResult]:
    """Generate images with ByteDance Seedream. Saves full-size files; returns their absolute paths, previews
    and metadata. Still running after ~45 s: returns pending=true and a job_id for get_job."""
    return await _generate(
        ctx,
        dict(
            prompt=prompt,
            model=model,
            size=size,
            aspect_ratio=aspect_ratio,
            count=count,
            series=series,
            seed=seed,
            guidance=guidance,
            watermark=watermark,
            output_format=output_format,
            provider=provider,
            prompt_mode=prompt_mode,
            logo=logo,
        ),
    )


async def edit_image(
    ctx: Context,
    images: References,
    prompt: Prompt,
    model: Model = None,
    size: Size = None,
    aspect_ratio: Ratio = None,
    count: Count = 1,
    series: Series = None,
    seed: Seed = None,
    guidance: Guidance = None,
    watermark: Watermark = False,
    output_format: OutputFormat = None,
    provider: Provider = None,
) -> Annotated[CallToolResult, JobResult]:
    """Edit one image, fuse several, or make a series from reference images. Result as generate_image."""
    return await _generate(
        ctx,
        dict(
            prompt=prompt,
            images=tuple(images),
            model=model,
            size=size,
            aspect_ratio=aspect_ratio,
            count=count,
            series=series,
            seed=seed,
            guidance=guidance,
            watermark=watermark,
            output_format=output_format,
            provider=provider,
        ),
    )


async def list_models(ctx: Context, provider: Provider = None) -> CallToolResult:
    """Models per provider: sizes, images per call, references, options."""
    state = AppState.of(ctx)
    kinds = [provider] if provider else list(PROVIDERS)
    infos = [_model_info(spec) for kind in kinds for spec in models_for(kind)]
    lines = [state.provider_line()]
    lines += [
        f"- {m.model} [{m.provider}]: sizes {m.sizes} (default {m.default_size}); up to {m.max_images} "
        f"image(s); references {m.references}"
        + (f"; guidance {m.guidance}" if m.guidance else "")
        + ("; seed" if m.seed else "")
        + f"; formats {'/'.join(m.formats)}"
        for m in infos
    ]
    return state.result("\n".join(lines), ModelList(models=infos))


async def get_job(
    ctx: Context,
    job_id: Annotated[str, Field(description="From a result or list_jobs.")],
    previews: Annotated[
        bool | None, Field(description="Default: only new ones; true: all; false: none.")
    ] = None,
) -> Annotated[CallToolResult, JobResult]:
    """A job's result, as generate_image; waits up to ~45 s more while it runs."""
    state = AppState.of(ctx)
    try:
        record = await state.service.get_job(job_id)
        if not identity.may_see(record):  # another adapter's or another person's job: as if it did not exist
            raise JobNotFoundError(job_id)
    except JobNotFoundError:
        return error_result(unknown_job(job_id), kind=FailureKind.JOB_NOT_FOUND)
    which: Which = "new" if previews is None else "all" if previews else "none"
    watch = state.watches.get(job_id)
    if not _running(watch) and record.resumable:  # its provider task outlived the run: poll it again
        try:
            watch = await state.watches.resume(state.service, job_id, previews=state.previews.pipeline)
        except SeedreamError as exc:
            return error_result(exc.message, kind=exc.kind, job_id=job_id)
    done = len(record.images) + len(record.failures)
    if watch is not None and _running(watch):
        generation = await _wait(ctx, state, watch, done=done)
        if generation is not None:
            pending = not generation.status.finished
            return await state.shaper.job(generation, pending=pending, previews=which)
        record = await state.service.get_job(job_id)
    elif not record.status.finished:  # another replica runs it: follow it in the job store
        reporter = ProgressReporter(ctx.report_progress, images=planned_images(record), done=done)
        record = await follow(state, record, reporter, wait_seconds=state.settings.wait_seconds)
    return await state.shaper.job(record.to_generation(), pending=not record.status.finished, previews=which)


async def list_jobs(
    ctx: Context,
    limit: Annotated[int, Field(ge=1, le=50, description="How many.")] = 10,
) -> CallToolResult:
    """Recent jobs of this server, newest first, with their files."""
    state = AppState.of(ctx)
    records = await state.service.list_jobs(adapter=identity.ADAPTER, user_id=identity.current_user(), limit=limit)
    jobs = [JobSummary.of(r) for r in records]
    lines = [
        f"- {j.job_id} {j.status} {j.created_at[:19]} {j.model}: {j.prompt!r}"
        + "".join(f"\n    {p}" for p in j.paths)
        for j in jobs
    ] or ["No jobs yet."]
    return state.result("\n".join(lines), JobList(jobs=jobs))


TOOLS = (
    (generate_image, GENERATES),
    (edit_image, GENERATES),
    (list_models, READS),
    (get_job, READS),
    (list_jobs, READS),
)


async def _generate(ctx: Context, fields: dict[str, object]) -> CallToolResult:
    state = AppState.of(ctx)
    try:
        request = GenerateRequest.create(**fields)
        plan = await state.service.plan(request)
        watch = JobWatch(plan, previews=state.previews.pipeline(plan.images))
        reporter = ProgressReporter(ctx.report_progress, images=plan.images)
        with watch.listening(reporter.on_event):
            handle = await _start(state, watch, request)
            state.board.follow_call(ctx, watch, handle.job_id)
            generation = await _wait_with(state, watch, reporter)
    except QuotaExceededError as exc:  # the user's own quota: the message says what to do
        return error_result(exc.message, kind=exc.kind, hint=False)
    except SeedreamError as exc:
        return error_result(exc.message, kind=exc.kind)
    if generation is None:
        record = await state.service.get_job(handle.job_id)
        return await state.shaper.job(record.to_generation(), pending=not record.status.finished)
    return await state.shaper.job(generation, pending=not generation.status.finished)


async def _start(state: AppState, watch: JobWatch, request: GenerateRequest) -> JobHandle:
    """Start the job as the caller, within the caller's daily quota when they have one."""
    who = identity.requester()
    limit = state.settings.user_daily_images
    if not (limit and who.user_id and state.counters):
        return await state.watches.start(watch, state.service, request, requester=who)
    reservation = await quota.reserve(state.counters, user=who.user_id, images=watch.images, limit=limit)
    try:
        handle = await state.watches.start(watch, state.service, request, requester=who)
    except BaseException:
        await quota.give_back(state.counters, reservation, reservation.images)
        raise
    quota.settle_when_done(state.counters, state.service.store, reservation, job_id=handle.job_id, task=handle.task)
    return handle


def _running(watch: JobWatch | None) -> bool:
    return watch is not None and watch.handle is not None and not watch.handle.task.done()


async def _wait(ctx: Context, state: AppState, watch: JobWatch, *, done: int) -> Generation | None:
    reporter = ProgressReporter(ctx.report_progress, images=watch.images, done=done)
    with watch.listening(reporter.on_event):
        return await _wait_with(state, watch, reporter)


async def _wait_with(state: AppState, watch: JobWatch, reporter: ProgressReporter) -> Generation | None:
    return await wait_for(
        watch,
        reporter,
        wait_seconds=state.settings.wait_seconds,
        heartbeat_seconds=state.settings.heartbeat_seconds,
    )


def _model_info(spec: ModelSpec) -> ModelInfo:
    if spec.max_references == 0:
        refs = "none"
    elif spec.min_references == spec.max_references:
        refs = f"exactly {spec.max_references}"
    else:
        refs = f"{spec.min_references}-{spec.max_references}"
    if spec.references.urls_only and spec.max_references:
        refs += " (http(s) URLs only)"
    guidance = (
        f"{spec.guidance[0]:g}-{spec.guidance[1]:g}, default {spec.guidance[2]:g}" if spec.guidance else None
    )
    return ModelInfo(
        model=spec.key,
        provider=spec.provider,
        title=spec.title,
        sizes=spec.sizes.describe(),
        default_size=spec.sizes.default,
        max_images=spec.max_outputs,
        references=refs,
        seed=spec.seed,
        guidance=guidance,
        formats=list(spec.output_formats),
        notes=spec.notes,
    )
