"""The one place that sends HTTP: a pooled client, explicit timeouts, the retry policy, and the translation
of transport failures into ``core.errors``.

Retries: a request is sent again only when the error says it is retryable *and* repeating it cannot bill
twice. A POST that may have reached the provider (read timeout, connection reset mid-answer) is never
repeated; one that never left (connection refused) is. ``Retry-After`` is honoured; otherwise full-jitter
exponential backoff. ``sleep`` is injected so tests never wait.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from core.clocks import Sleep
from core.errors import (
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    SeedreamError,
)

log = logging.getLogger(__name__)

#: Looks at a response (any status) and returns the error it means, or ``None`` when it is a success.
#: Errors with ``retryable = True`` are retried; others (content rejections, quotas) are raised at once.
Classifier = Callable[[httpx2.Response], SeedreamError | None]
HeadersArg = Mapping[str, str] | Callable[[bytes], Mapping[str, str]] | None

_SAFE_TO_RESEND = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a retryable error."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, error: SeedreamError) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 180.0  # per image: Ark sends headers only when the first image is done (~30 s)
    write: float = 60.0

    def to_httpx(self) -> httpx2.Timeout:
        return httpx2.Timeout(connect=self.connect, read=self.read, write=self.write, pool=None)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class HttpClient:
    """Shared by every provider and by storage downloads. Build one per process; close it at the end."""

    def __init__(self, client: httpx2.AsyncClient, *, retry: RetryPolicy | None = None,
                 sleep: Sleep = asyncio.sleep) -> None:
        self._client = client
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    @classmethod
    def create(cls, *, timeouts: Timeouts | None = None, retry: RetryPolicy | None = None,
               mounts: Mapping[str, httpx2.AsyncBaseTransport] | None = None,
               transport: httpx2.AsyncBaseTransport | None = None, sleep: Sleep = asyncio.sleep) -> HttpClient:
        """A pooled client. ``mounts`` route some origins elsewhere (the in-process sandbox)."""
        client = httpx2.AsyncClient(
            timeout=(timeouts or Timeouts()).to_httpx(),
            limits=httpx2.Limits(max_connections=200, max_keepalive_connections=50),
            mounts=dict(mounts or {}), transport=transport, follow_redirects=False, trust_env=False,
        )
        return cls(client, retry=retry, sleep=sleep)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, method: str, url: str, *, provider: str, classify: Classifier,
                   json: Any = None, content: bytes | None = None, headers: HeadersArg = None,
                   params: Mapping[str, str] | None = None, idempotent: bool = False) -> httpx2.Response:
        """Send with retries; the response body is read. Raises the classified error when retries run out.

        ``headers`` may be a function of the body bytes, called for every attempt (for signatures).
        """
        async with self.stream(method, url, provider=provider, classify=classify, json=json, content=content,
                               headers=headers, params=params, idempotent=idempotent) as response:
            try:
                await response.aread()
            except httpx2.HTTPError as exc:
                raise translate_transport_error(exc, provider) from None
        return response

    @asynccontextmanager
    async def stream(self, method: str, url: str, *, provider: str, classify: Classifier, json: Any = None,
                     content: bytes | None = None, headers: HeadersArg = None,
                     params: Mapping[str, str] | None = None,
                     idempotent: bool = False) -> AsyncIterator[httpx2.Response]:
        """Like ``send`` but yields the response with its body unread (for SSE and downloads).

        A response is classified with its body read only when it is an error (status ≥ 400 or not a stream).
        """
        body = content if content is not None else (_json_bytes(json) if json is not None else b"")
        attempt = 0
        while True:
            attempt += 1
            sent_headers = dict(headers(body) if callable(headers) else headers or {})
            if json is not None:
                sent_headers.setdefault("Content-Type", "application/json")
            request = self._client.build_request(method, url, content=body or None, headers=sent_headers,
                                                 params=params)
            try:
                response = await self._client.send(request, stream=True)
            except httpx2.HTTPError as exc:
                error = translate_transport_error(exc, provider)
                resendable = idempotent or isinstance(exc, _SAFE_TO_RESEND)
                if resendable and await self._backoff(attempt, error, url):
                    continue
                raise error from None
            try:
                error = await _classified(response, classify)
            except httpx2.HTTPError as exc:  # the answer broke off while we read it
                await response.aclose()
                error = translate_transport_error(exc, provider)
                # Only an idempotent request may go again: a POST's effect may already exist.
                if idempotent and await self._backoff(attempt, error, url):
                    continue
                raise error from None
            if error is None:
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            await response.aclose()
            if not (getattr(error, "retryable", False) and await self._backoff(attempt, error, url)):
                raise error

    async def download(self, url: str, dest: Path, *, provider: str, classify: Classifier,
                       max_bytes: int) -> int:
        """Stream ``url`` into ``dest`` (a temp file the caller renames); returns the byte count. A download
        cut short is started again (a GET cannot bill twice).

        Raises:
            ProviderResponseError: larger than ``max_bytes``, or cut short every time.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._download_once(url, dest, provider=provider, classify=classify,
                                                 max_bytes=max_bytes)
            except httpx2.HTTPError as exc:
                error = translate_transport_error(exc, provider)
                if not await self._backoff(attempt, error, url):
                    raise error from None

    async def _download_once(self, url: str, dest: Path, *, provider: str, classify: Classifier,
                             max_bytes: int) -> int:
        async with self.stream("GET", url, provider=provider, classify=classify, idempotent=True) as response:
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise ProviderResponseError(f"{provider}: the result image is {declared:,} bytes, over the "
                                            f"{max_bytes:,}-byte limit; raise SEEDREAM_MAX_DOWNLOAD_BYTES",
                                            provider=provider)
            written = 0
            with dest.open("wb") as out:
                async for chunk in response.aiter_bytes(256 * 1024):
                    written += len(chunk)
                    if written > max_bytes:
                        raise ProviderResponseError(
                            f"{provider}: the result image is over the {max_bytes:,}-byte limit; raise "
                            "SEEDREAM_MAX_DOWNLOAD_BYTES", provider=provider)
                    out.write(chunk)
            return written

    async def _backoff(self, attempt: int, error: SeedreamError, url: str) -> bool:
        if attempt > self.retry.max_retries:
            return False
        delay = self.retry.delay(attempt, error)
        log.info("%s: %s; retry %d/%d in %.2fs (%s)", getattr(error, "provider", "?"),
                 getattr(error, "code", None) or error.kind, attempt,
                 self.retry.max_retries, delay, _origin(url))
        await self._sleep(delay)
        return True


async def _classified(response: httpx2.Response, classify: Classifier) -> SeedreamError | None:
    """The error the answer means (its body read first unless it is a success that streams).

    Raises:
        httpx2.HTTPError: the body could not be read.
    """
    streaming = response.headers.get("content-type", "").startswith(("text/event-stream", "image/",
                                                                       "application/octet-stream"))
    if response.status_code < 400 and streaming:
        return None
    await response.aread()
    return classify(response)


def translate_transport_error(exc: httpx2.HTTPError, provider: str) -> ProviderError:
    """A transport failure as a ``ProviderError`` that says what happened and what to do."""
    if isinstance(exc, httpx2.TimeoutException) and not isinstance(exc, httpx2.ConnectTimeout):
        return ProviderTimeoutError(f"{provider} did not answer in time; try again later, or raise "
                                    "SEEDREAM_IMAGE_TIMEOUT", provider=provider, retryable=False)
    if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout):
        return ProviderUnavailableError(f"could not connect to {provider}; check the base URL and your network",
                                        provider=provider)
    return ProviderResponseError(f"the connection to {provider} broke mid-answer ({type(exc).__name__}); "
                                 "try again", provider=provider, retryable=False)


def rate_limited(provider: str, response: httpx2.Response, message: str, **kwargs: Any) -> RateLimitedError:
    """A ``RateLimitedError`` carrying the response's ``Retry-After``."""
    return RateLimitedError(message, provider=provider, status=response.status_code,
                            retry_after=parse_retry_after(response.headers.get("retry-after")), **kwargs)


def _json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _origin(url: str) -> str:
    parsed = httpx2.URL(url)
    return f"{parsed.scheme}://{parsed.host}{parsed.path}"
