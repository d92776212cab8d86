"""Every image goes to disk the moment it exists: downloaded (provider URLs expire in 24 h) or decoded,
written to a temporary file, checked, and renamed into place; then a JSON sidecar beside it.

One image at a time and streamed, so a 15-image 4K group never sits in memory. File names are safe on
Windows (no reserved characters or names, short). Sidecars never hold a key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import glob
import json
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2

from core.errors import FailureKind, InvalidRequestError, ProviderError, ProviderResponseError, SeedreamError
from core.filesystem import describe_os_error
from core.http import HttpClient
from core.providers.base import ImagePayload
from core.references import probe_image
from core.results import GeneratedImage, ImageFailure, Usage

URL_LIFETIME = timedelta(hours=24)
_UNSAFE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class JobContext:
    """What storage needs to know about the job an image belongs to."""

    job_id: str
    prompt: str
    provider: str
    model: str
    model_id: str
    parameters: dict[str, Any]
    created_at: datetime


class ImageStorage:
    """Saves images under ``root/YYYY-MM-DD/``."""

    def __init__(self, root: Path, http: HttpClient, *, max_download_bytes: int = 64 * 1024 * 1024,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.root = root.expanduser().absolute()
        self._http = http
        self._max_bytes = max_download_bytes
        self._now = now
        self._folders: set[Path] = set()  # dated folders known to exist

    async def save(self, payload: ImagePayload, job: JobContext) -> GeneratedImage:
        """Write one produced image and its sidecar; return where it is. A dated folder that vanished since
        it was made is made again.

        Raises:
            ProviderError: the download failed (expired URL, cut short, not an image).
            OSError: the image could not be written (disk full, read-only, permission): see ``unsaved``.
        """
        try:
            return await self._save(payload, job)
        except FileNotFoundError:
            self._folders.clear()
            return await self._save(payload, job)

    def unsaved(self, payload: ImagePayload, error: OSError) -> ImageFailure:
        """The failure of an image that was produced but could not be written: why, and where the provider
        still serves it (its link and until when) — the image is paid for, so the way to it must not be lost."""
        why = describe_os_error(error)
        code = errno.errorcode.get(error.errno or 0, "save_failed")
        if payload.url:
            expires = self._now() + URL_LIFETIME
            message = (f"produced (and billed) but not saved in {self.root}: {why}. Download it from "
                       f"{payload.url} before {expires:%Y-%m-%d %H:%M} UTC.")
            return ImageFailure(index=payload.index, code=code, message=message, kind=FailureKind.SAVE_FAILED,
                                source_url=payload.url, url_expires_at=expires)
        message = (f"produced (and billed) but not saved in {self.root}: {why}. It came inline, without a link "
                   "to fetch it again.")
        return ImageFailure(index=payload.index, code=code, message=message, kind=FailureKind.SAVE_FAILED)

    async def _save(self, payload: ImagePayload, job: JobContext) -> GeneratedImage:
        folder = await self._folder(job.created_at)
        stem = file_stem(job, payload.index)
        temp = folder / f".{stem}.part"
        try:
            size = await self._write_temp(payload, temp, job.provider)
        except BaseException:
            await asyncio.to_thread(temp.unlink, missing_ok=True)
            raise
        expires = self._now() + URL_LIFETIME if payload.url else None
        # One trip to a worker thread for the rest: probe, sidecar, rename (each hop costs ~0.5 ms).
        return await asyncio.to_thread(_place, temp, folder / stem, payload=payload, job=job, size=size,
                                       expires=expires)

    async def _folder(self, created_at: datetime) -> Path:
        folder = self.root / created_at.strftime("%Y-%m-%d")
        if folder not in self._folders:
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            self._folders.add(folder)
        return folder

    async def recover(self, job_id: str, created_at: datetime, *, root: Path | None = None) -> list[GeneratedImage]:
        """The images of an interrupted job that are on disk (found by their sidecars), in index order; its
        temporary files are removed. For crash recovery: a killed process may have saved an image without
        recording it in the job store. ``root`` is the output folder the job wrote to (default: this one's)."""
        return await asyncio.to_thread(self._recover, job_id, created_at, root or self.root)

    def _recover(self, job_id: str, created_at: datetime, root: Path) -> list[GeneratedImage]:
        folder = root / created_at.strftime("%Y-%m-%d")
        if not folder.is_dir():
            return []
        pattern = f"*-{glob.escape(job_id)}-*"
        for temp in folder.glob("." + pattern + ".part"):
            temp.unlink(missing_ok=True)
        found = [_image_from_sidecar(sidecar, job_id) for sidecar in folder.glob(pattern + ".json")]
        return sorted((i for i in found if i is not None and i.path.is_file()), key=lambda i: i.index)

    async def finalize(self, images: list[GeneratedImage], job: JobContext, usage: Usage) -> None:
        """Add the job's usage to every sidecar once it is known."""
        def write_all() -> None:
            for image in images:
                write_sidecar(image, job, usage)

        await asyncio.to_thread(write_all)

    async def _write_temp(self, payload: ImagePayload, temp: Path, provider: str) -> int:
        if payload.url:
            return await self._http.download(payload.url, temp, provider=provider,
                                             classify=download_classifier(provider), max_bytes=self._max_bytes)
        return await asyncio.to_thread(_decode_to, payload.b64 or "", temp, provider, self._max_bytes)


def _place(temp: Path, base: Path, *, payload: ImagePayload, job: JobContext, size: int,
           expires: datetime | None) -> GeneratedImage:
    """Check the temp file is an image, write its sidecar, then rename it into place (removing it on failure)."""
    try:
        fmt, width, height = _probe_file(temp, job.provider)
        final = base.with_name(f"{base.name}.{'jpg' if fmt == 'jpeg' else fmt}")
        image = GeneratedImage(index=payload.index, path=final, width=width, height=height, bytes=size,
                               format=fmt, model=job.model, provider=job.provider, seed=payload.seed,
                               source_url=payload.url, url_expires_at=expires,
                               sidecar_path=final.with_suffix(final.suffix + ".json"))
        # The sidecar first: every image file on disk then has one, so if the process dies before the job
        # store records the image, ``recover`` still finds it.
        write_sidecar(image, job, None)
        _fsync(temp)  # the image itself survives a power cut once it has its final name
        os.replace(temp, final)
        return image
    finally:
        temp.unlink(missing_ok=True)


def download_classifier(provider: str) -> Callable[[httpx2.Response], SeedreamError | None]:
    """Errors for result downloads: expired/missing links are final, server errors are retried."""

    def classify(response: httpx2.Response) -> SeedreamError | None:
        status = response.status_code
        if status < 300:
            return None
        if status < 400:  # redirects are never followed: a result link must not send us anywhere else
            return ProviderError(f"{provider}: the result link redirected elsewhere (HTTP {status}), which is not "
                                 "followed; generate again, or report it if it keeps happening", provider=provider,
                                 status=status, code="ResultRedirected", retryable=False)
        if status in (403, 404, 410):
            return ProviderError(f"{provider}: the result link has expired or is gone (HTTP {status}); result "
                                 "links live 24 h — generate again", provider=provider, status=status,
                                 code="ResultExpired", retryable=False)
        return ProviderError(f"{provider}: downloading the result failed (HTTP {status}); try again",
                             provider=provider, status=status, retryable=status >= 500 or status == 429)

    return classify


def file_stem(job: JobContext, index: int) -> str:
    """``HHMMSS-<job>-<index>-<slug>``: sortable, unique per job image, safe on every OS."""
    return f"{job.created_at.strftime('%H%M%S')}-{job.job_id}-{index:02d}-{slugify(job.prompt)}"


def slugify(text: str, limit: int = 40) -> str:
    """ASCII, lowercase, dash-separated, never empty; no Windows-reserved characters or names."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = _UNSAFE.sub("-", ascii_text).strip("-")[:limit].strip("-")
    return slug or "image"


def write_sidecar(image: GeneratedImage, job: JobContext, usage: Usage | None) -> None:
    """Atomically write the metadata JSON beside the image (not fsynced: the job store holds the same facts)."""
    assert image.sidecar_path is not None
    data = {
        "job_id": job.job_id, "index": image.index, "prompt": job.prompt, "provider": job.provider,
        "model": job.model, "model_id": job.model_id, "parameters": job.parameters, "seed": image.seed,
        "width": image.width, "height": image.height, "format": image.format, "bytes": image.bytes,
        "file": image.path.name, "source_url": image.source_url,
        "source_url_expires_at": image.url_expires_at.isoformat() if image.url_expires_at else None,
        "created_at": job.created_at.isoformat(), "saved_at": datetime.now(UTC).isoformat(),
        "usage": usage.to_dict() if usage else None,
    }
    temp = image.sidecar_path.with_name(f".{image.sidecar_path.name}.part")
    temp.write_bytes(json.dumps(data, ensure_ascii=False, indent=2).encode())
    os.replace(temp, image.sidecar_path)


def _image_from_sidecar(sidecar: Path, job_id: str) -> GeneratedImage | None:
    """The ``GeneratedImage`` a sidecar describes, or ``None`` when it is not a readable sidecar of ``job_id``."""
    try:
        data = json.loads(sidecar.read_bytes())
        name = str(data["file"])
        if data["job_id"] != job_id or Path(name).name != name:
            return None
        expires = data.get("source_url_expires_at")
        return GeneratedImage(index=int(data["index"]), path=sidecar.parent / name, width=int(data["width"]),
                              height=int(data["height"]), bytes=int(data["bytes"]), format=str(data["format"]),
                              model=str(data["model"]), provider=str(data["provider"]), seed=data.get("seed"),
                              source_url=data.get("source_url"),
                              url_expires_at=datetime.fromisoformat(expires) if expires else None,
                              sidecar_path=sidecar)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _fsync(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def _decode_to(b64: str, temp: Path, provider: str, max_bytes: int) -> int:
    if len(b64) > max_bytes * 4 // 3 + 8:
        raise ProviderResponseError(f"{provider}: the result image is over the {max_bytes:,}-byte limit; raise "
                                    "SEEDREAM_MAX_DOWNLOAD_BYTES", provider=provider)
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderResponseError(f"{provider} sent image data that is not valid base64; try again",
                                    provider=provider) from None
    temp.write_bytes(data)
    return len(data)


def _probe_file(path: Path, provider: str) -> tuple[str, int, int]:
    try:
        return probe_image(path, field="result", source=path.name)
    except InvalidRequestError:
        raise ProviderResponseError(f"{provider} sent a result that is not a readable image; try again",
                                    provider=provider) from None
