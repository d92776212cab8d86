"""The structured results of the tools (their ``outputSchema``s)."""

from __future__ import annotations

from pydantic import BaseModel

from core.jobs import JobRecord
from core.results import GeneratedImage, Generation, ImageFailure, Usage

#: The resources of a job (``resources/read``): its state as JSON, each full-size image, each image's preview.
JOB_URI = "seedream://jobs/{job_id}"
IMAGE_URI = JOB_URI + "/images/{index}"
PREVIEW_URI = IMAGE_URI + "/preview"


def image_uri(job_id: str, index: int) -> str:
    """The resource URI of a saved image (``index`` as in the results)."""
    return IMAGE_URI.format(job_id=job_id, index=index)


class _Compact(BaseModel):
    # No docstrings on these models: a docstring becomes a description in every tools/list.
    pass


class ImageInfo(_Compact):
    # One saved image, full size, on the server's disk.
    index: int
    path: str
    file_uri: str
    resource_uri: str  # resources/read gives the file's bytes; + "/preview" a downscaled JPEG
    width: int
    height: int
    bytes: int
    model: str
    provider: str
    seed: int | None = None
    source_url: str | None = None  # the provider's URL, until url_expires_at
    url_expires_at: str | None = None

    @classmethod
    def of(cls, image: GeneratedImage, *, job_id: str) -> ImageInfo:
        return cls(
            index=image.index,
            path=str(image.path),
            file_uri=image.file_uri,
            resource_uri=image_uri(job_id, image.index),
            width=image.width,
            height=image.height,
            bytes=image.bytes,
            model=image.model,
            provider=image.provider,
            seed=image.seed,
            source_url=image.source_url,
            url_expires_at=image.url_expires_at.isoformat() if image.url_expires_at else None,
        )


class FailureInfo(_Compact):
    index: int
    code: str
    kind: str
    message: str

    @classmethod
    def of(cls, failure: ImageFailure) -> FailureInfo:
        return cls(index=failure.index, code=failure.code, kind=failure.kind, message=failure.message)


class UsageInfo(_Compact):
    generated_images: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def of(cls, usage: Usage) -> UsageInfo:
        return cls(**usage.to_dict())


class JobResult(_Compact):
    # A job's outcome so far; pending: still running, get_job(job_id) returns the rest.
    job_id: str | None
    status: str
    pending: bool = False
    provider: str | None = None
    model: str | None = None
    images: list[ImageInfo] = []
    failures: list[FailureInfo] = []
    usage: UsageInfo = UsageInfo()
    error: str | None = None
    error_kind: str | None = None


class ModelInfo(_Compact):
    model: str
    provider: str
    title: str
    sizes: str
    default_size: str
    max_images: int
    references: str
    seed: bool
    guidance: str | None
    formats: list[str]
    notes: str


class ModelList(_Compact):
    models: list[ModelInfo]


class JobSummary(_Compact):
    job_id: str
    status: str
    created_at: str
    prompt: str
    model: str
    provider: str
    paths: list[str]
    failures: int
    error: str | None = None

    @classmethod
    def of(cls, record: JobRecord) -> JobSummary:
        prompt = record.prompt if len(record.prompt) <= 120 else record.prompt[:119] + "…"
        return cls(
            job_id=record.id,
            status=str(record.status),
            created_at=record.created_at.isoformat(),
            prompt=prompt,
            model=record.model,
            provider=record.provider,
            paths=[str(i.path) for i in record.images],
            failures=len(record.failures),
            error=record.error,
        )


class JobList(_Compact):
    jobs: list[JobSummary]


def job_result(generation: Generation, *, pending: bool) -> JobResult:
    """The structured form of a (possibly unfinished) generation."""
    return JobResult(
        job_id=generation.job_id,
        status=str(generation.status),
        pending=pending,
        provider=generation.provider,
        model=generation.model,
        images=[ImageInfo.of(i, job_id=generation.job_id) for i in generation.images],
        failures=[FailureInfo.of(f) for f in generation.failures],
        usage=UsageInfo.of(generation.usage),
        error=generation.error,
        error_kind=generation.error_kind,
    )
