"""The one error tree that leaves ``core``, ordered by where a failure comes from.

::

    SeedreamError
    ├── InvalidRequestError        bad input, caught before any provider call (field, value, allowed)
    ├── ConfigurationError         a missing or invalid setting (names the variables to set)
    ├── JobNotFoundError           an unknown job id (or one the caller may not see)
    ├── QuotaExceededError         one of our own quotas (per user / per server) is used up
    ├── BackendUnavailableError    the shared database or Redis cannot be reached (names the variable)
    └── ProviderError              the provider failed (provider, status, code, request_id, retryable)
        ├── ContentRejectedError       moderation refused the prompt, a reference or an output; never retried
        ├── ProviderQuotaError         the account's balance, quota or spending limit is used up
        ├── AuthenticationError        the key, signature or token was refused (401)
        ├── PermissionDeniedError      the account may not do this: overdue, service or model not enabled (403)
        ├── RequestRejectedError       the provider refused the parameters (400); retrying will not help
        ├── RateLimitedError           a transient rate or concurrency limit (retry_after)
        ├── ProviderUnavailableError   5xx, connection refused, overloaded
        ├── ProviderTimeoutError       no answer in time
        └── ProviderResponseError      an answer we could not understand (malformed, truncated)

Every error has a ``kind`` (a ``FailureKind`` value). The provider adapters decide it, once; the same kinds
label per-image failures (``ImageFailure.kind``) and a job's ``error_kind``, and adapters only map kinds to
words. Messages are safe to show a user or a model: they never hold a key or a raw response body.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any


class FailureKind(StrEnum):
    """What kind of failure something was: one vocabulary for errors, per-image failures and jobs."""

    INVALID_REQUEST = "invalid_request"  # refused here, before any provider call (nothing billed)
    CONFIGURATION = "configuration"
    JOB_NOT_FOUND = "job_not_found"
    QUOTA_EXCEEDED = "quota_exceeded"
    CONTENT_REJECTED = "content_rejected"
    REQUEST_REJECTED = "request_rejected"  # the provider refused the parameters
    AUTHENTICATION = "authentication"
    PERMISSION_DENIED = "permission_denied"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    BAD_RESPONSE = "bad_response"
    PROVIDER_ERROR = "provider_error"  # the provider failed in a way none of the above describes
    SAVE_FAILED = "save_failed"  # produced by the provider but not saved here (disk full, unwritable folder)
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the process running the job stopped
    BACKEND_UNAVAILABLE = "backend_unavailable"  # the shared database or Redis does not answer
    INTERNAL = "internal"  # a bug of ours


class SeedreamError(Exception):
    """Base of every error raised by ``core``."""

    kind: str = FailureKind.PROVIDER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(SeedreamError):
    """The request cannot be sent: ``field`` has ``value``, which is not in ``allowed``."""

    kind = FailureKind.INVALID_REQUEST

    def __init__(self, field: str, value: Any, allowed: str, *, reason: str | None = None) -> None:
        shown = _short(value)
        why = f" ({reason})" if reason else ""
        super().__init__(f"Invalid {field}: {shown}{why}. Allowed: {allowed}.")
        self.field = field
        self.value = value
        self.allowed = allowed


class ConfigurationError(SeedreamError):
    """Something must be configured first; ``variables`` names the environment variables to set."""

    kind = FailureKind.CONFIGURATION

    def __init__(self, message: str, *, variables: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.variables = tuple(variables)


class JobNotFoundError(SeedreamError):
    """No job with that id (or not one the caller may see)."""

    kind = FailureKind.JOB_NOT_FOUND


class BackendUnavailableError(SeedreamError):
    """A configured shared backend (the job database or Redis) does not answer; new jobs cannot start.

    ``variable`` names the setting that points at it (``SEEDREAM_DATABASE_URL``, ``SEEDREAM_REDIS_URL``).
    """

    kind = FailureKind.BACKEND_UNAVAILABLE

    def __init__(self, message: str, *, backend: str, variable: str) -> None:
        super().__init__(message)
        self.backend = backend
        self.variable = variable


class QuotaExceededError(SeedreamError):
    """One of our own quotas (per user or per server) is used up; ``retry_after`` seconds until it resets."""

    kind = FailureKind.QUOTA_EXCEEDED

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderError(SeedreamError):
    """The provider failed. ``retryable`` says whether sending the same request again is safe and useful."""

    kind = FailureKind.PROVIDER_ERROR
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


class ContentRejectedError(ProviderError):
    """The provider's moderation refused the request; retrying the same input will not help."""

    kind = FailureKind.CONTENT_REJECTED


class ProviderQuotaError(ProviderError):
    """The provider account's balance, quota or spending limit is used up (not transient)."""

    kind = FailureKind.QUOTA_EXCEEDED


class AuthenticationError(ProviderError):
    """The provider refused our credentials (key, signature or token)."""

    kind = FailureKind.AUTHENTICATION


class PermissionDeniedError(ProviderError):
    """The credentials are fine but the account may not do this (overdue, service or model not enabled)."""

    kind = FailureKind.PERMISSION_DENIED


class RequestRejectedError(ProviderError):
    """The provider refused the request's parameters; sending it again unchanged will not help."""

    kind = FailureKind.REQUEST_REJECTED


class RateLimitedError(ProviderError):
    """A transient rate or concurrency limit; ``retry_after`` seconds if the provider said."""

    kind = FailureKind.RATE_LIMITED
    default_retryable = True


class ProviderUnavailableError(ProviderError):
    """The provider is down or overloaded (5xx, connection refused)."""

    kind = FailureKind.UNAVAILABLE
    default_retryable = True


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time."""

    kind = FailureKind.TIMEOUT


class ProviderResponseError(ProviderError):
    """The provider answered with something we could not understand."""

    kind = FailureKind.BAD_RESPONSE


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
