"""The one error tree that leaves ``core``.

::

    SeedreamError
    ├── InvalidRequestError        bad input, caught before any provider call (field, value, allowed)
    ├── ConfigurationError         missing key or setting (names the variables to set)
    ├── ContentRejectedError       moderation refused the prompt, a reference or an output; never retried
    ├── QuotaExceededError         our own per-user/guild quota, or the provider account's balance/quota
    ├── JobNotFoundError           an unknown job id
    ├── BackendUnavailableError    the shared database or Redis cannot be reached (names the variable)
    └── ProviderError              the provider failed (provider, status, code, request_id, retryable)
        ├── AuthenticationError    bad key, signature or token; account not allowed
        ├── RateLimitedError       transient rate or concurrency limit (retry_after)
        ├── ProviderUnavailableError  5xx, connection refused, overloaded
        ├── ProviderTimeoutError   no answer in time
        └── ProviderResponseError  an answer we could not understand (malformed, truncated)

Messages are safe to show a user or a model: they never hold a key or a raw response body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SeedreamError(Exception):
    """Base of every error raised by ``core``."""

    #: A short machine-readable kind, e.g. for MCP structured errors.
    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(SeedreamError):
    """The request cannot be sent: ``field`` has ``value``, which is not in ``allowed``."""

    kind = "invalid_request"

    def __init__(self, field: str, value: Any, allowed: str, *, reason: str | None = None) -> None:
        shown = _short(value)
        why = f" ({reason})" if reason else ""
        super().__init__(f"Invalid {field}: {shown}{why}. Allowed: {allowed}.")
        self.field = field
        self.value = value
        self.allowed = allowed


class ConfigurationError(SeedreamError):
    """Something must be configured first; ``variables`` names the environment variables to set."""

    kind = "configuration"

    def __init__(self, message: str, *, variables: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.variables = tuple(variables)


class JobNotFoundError(SeedreamError):
    """No job with that id (or not one the caller may see)."""

    kind = "job_not_found"


class BackendUnavailableError(SeedreamError):
    """A configured shared backend (the job database or Redis) does not answer; new jobs cannot start.

    ``variable`` names the setting that points at it (``SEEDREAM_DATABASE_URL``, ``SEEDREAM_REDIS_URL``).
    """

    kind = "backend_unavailable"

    def __init__(self, message: str, *, backend: str, variable: str) -> None:
        super().__init__(message)
        self.backend = backend
        self.variable = variable


class QuotaExceededError(SeedreamError):
    """A quota is used up: ours (per user / guild) or the provider account's."""

    kind = "quota_exceeded"

    def __init__(self, message: str, *, provider: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.retry_after = retry_after


class ContentRejectedError(SeedreamError):
    """The provider's moderation refused the request; retrying the same input will not help."""

    kind = "content_rejected"

    def __init__(self, message: str, *, provider: str, code: str | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.code = code
        self.request_id = request_id


class ProviderError(SeedreamError):
    """The provider failed. ``retryable`` says whether sending the same request again is safe and useful."""

    kind = "provider_error"
    default_retryable = False

    def __init__(self, message: str, *, provider: str, status: int | None = None, code: str | None = None,
                 request_id: str | None = None, retryable: bool | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the provider asked us to wait (Retry-After), if any
        self.provider = provider
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retryable = self.default_retryable if retryable is None else retryable


class AuthenticationError(ProviderError):
    """The provider refused our credentials or the account may not use this model."""

    kind = "authentication"


class RateLimitedError(ProviderError):
    """A transient rate or concurrency limit; ``retry_after`` seconds if the provider said."""

    kind = "rate_limited"
    default_retryable = True


class ProviderUnavailableError(ProviderError):
    """The provider is down or overloaded (5xx, connection refused)."""

    kind = "unavailable"
    default_retryable = True


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time."""

    kind = "timeout"


class ProviderResponseError(ProviderError):
    """The provider answered with something we could not understand."""

    kind = "bad_response"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
