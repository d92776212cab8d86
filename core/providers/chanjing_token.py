"""Chanjing access tokens, and the response-envelope helpers every Chanjing call shares.

Chanjing issues an ``access_token`` for an ``app_id`` / ``secret_key`` pair, and **issuing a new one revokes
the previous one**. So every caller in the process must share one token per credential pair, refresh it
once (under a lock) a little before it expires, and after a "token invalid" answer refresh only if the
token that failed is still the current one — otherwise concurrent callers would revoke each other's fresh
tokens in a storm.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import httpx2
from pydantic import SecretStr

from core.clocks import SecondsClock
from core.errors import (
    AuthenticationError,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailableError,
    RateLimitedError,
)
from core.http import HttpClient, parse_retry_after, rate_limited

log = logging.getLogger(__name__)

PROVIDER = "chanjing"
TOKEN_PATH = "/open/v1/access_token"
#: Refresh this long before ``expire_in`` (capped at half the token's lifetime, so a short-lived token is
#: not refreshed on every call — each refresh would revoke the token other callers are using).
REFRESH_MARGIN = 300.0
CREDENTIAL_VARIABLES = ("CHANJING_APP_ID", "CHANJING_SECRET_KEY")
TOKEN_INVALID_CODES = frozenset({10400, 10401})
QPS_LIMIT_CODE = 40001
QPS_WINDOW = 1.0
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")



def parse_envelope(response: httpx2.Response) -> dict[str, Any] | None:
    """The ``{"trace_id","code","msg","data"}`` envelope, or ``None`` when the body is not one."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("code"), int) or isinstance(body["code"], bool):
        return None
    return body


def provider_message(body: dict[str, Any], *, limit: int = 160) -> str:
    """Chanjing's ``msg``, trimmed to one safe line (it is shown to users)."""
    text = _CONTROL.sub(" ", str(body.get("msg") or "")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def http_status_error(response: httpx2.Response, *, resendable: bool) -> ProviderError | None:
    """The error an HTTP-level failure (a proxy or gateway in front of Chanjing) means, or ``None``.

    ``resendable``: the request may be sent again even if it reached the server (GETs, token requests).
    """
    status = response.status_code
    if status < 400:
        return None
    if status == 429:
        return rate_limited(PROVIDER, response, "Chanjing is rate limiting this account (HTTP 429); try again "
                            "in a moment, or send fewer requests at once")
    if status == 503:
        return ProviderUnavailableError("Chanjing is temporarily unavailable (HTTP 503); try again shortly",
                                        provider=PROVIDER, status=status)
    if status >= 500:
        hint = "try again shortly" if resendable else \
            "a task may have been created (and billed): check the Chanjing console before trying again"
        return ProviderUnavailableError(f"Chanjing failed with HTTP {status}; {hint}",
                                        provider=PROVIDER, status=status, retryable=resendable)
    if status in (401, 403):
        return AuthenticationError(f"Chanjing refused the request (HTTP {status}); check CHANJING_APP_ID, "
                                   "CHANJING_SECRET_KEY and SEEDREAM_CHANJING_BASE_URL",
                                   provider=PROVIDER, status=status)
    return ProviderError(f"Chanjing answered HTTP {status}; check SEEDREAM_CHANJING_BASE_URL "
                         "(default https://open-api.chanjing.cc)", provider=PROVIDER, status=status)


def qps_limited(response: httpx2.Response, *, code: int, request_id: str | None) -> RateLimitedError:
    """Code 40001. The limit is per second, so without a ``Retry-After`` one second is the right wait."""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return RateLimitedError("Chanjing's request-rate (QPS) limit was hit (code 40001); try again in a moment, "
                            "or send fewer requests at once", provider=PROVIDER,
                            status=429, code=str(code), request_id=request_id,
                            retry_after=QPS_WINDOW if retry_after is None else retry_after)


def classify_token_response(response: httpx2.Response) -> ProviderError | None:
    """Classifier for ``POST /open/v1/access_token`` (safe to resend: nothing is billed)."""
    if error := http_status_error(response, resendable=True):
        return error
    body = parse_envelope(response)
    if body is None:
        return ProviderResponseError("Chanjing's token endpoint answered something that is not its JSON "
                                     "envelope; check SEEDREAM_CHANJING_BASE_URL", provider=PROVIDER,
                                     status=response.status_code, retryable=True)
    code = body["code"]
    if code == 0:
        return None
    if code == QPS_LIMIT_CODE:
        return qps_limited(response, code=code, request_id=None)
    if code == 50000:
        return ProviderUnavailableError(f"Chanjing could not issue an access token (code 50000: "
                                        f"{provider_message(body)}); try again shortly",
                                        provider=PROVIDER, status=500, code=str(code), retryable=True)
    return AuthenticationError(f"Chanjing refused the app id / secret key (code {code}: "
                               f"{provider_message(body)}); check CHANJING_APP_ID and CHANJING_SECRET_KEY",
                               provider=PROVIDER, status=401, code=str(code))


@dataclass(frozen=True)
class AccessToken:
    """An issued token; ``expires_at`` is the absolute Unix time Chanjing gave as ``expire_in``."""

    value: str = field(repr=False)
    issued_at: float
    expires_at: float

    def usable(self, now: float, margin: float) -> bool:
        lifetime = max(self.expires_at - self.issued_at, 0.0)
        return now < self.expires_at - min(margin, lifetime / 2)


class ChanjingTokenManager:
    """The one access token of one (base_url, app_id) pair, shared by every caller.

    Get one with ``shared_token_manager`` so that every provider on the same ``HttpClient`` shares it.
    """

    def __init__(self, http: HttpClient, *, base_url: str, app_id: str, secret_key: str | SecretStr,
                 clock: SecondsClock = time.time, refresh_margin: float = REFRESH_MARGIN) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + TOKEN_PATH
        self.app_id = app_id
        self._secret = secret_key if isinstance(secret_key, SecretStr) else SecretStr(secret_key)
        self._clock = clock
        self._margin = refresh_margin
        self._lock = asyncio.Lock()
        self._current: AccessToken | None = None
        self.issued = 0  # tokens fetched so far (diagnostics)

    def same_secret(self, secret_key: str | SecretStr) -> bool:
        value = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
        return value == self._secret.get_secret_value()

    async def token(self) -> str:
        """A usable token, fetching a new one (once, for every concurrent caller) when needed.

        Raises:
            AuthenticationError: the credentials were refused.
            ProviderError: the token endpoint failed.
        """
        current = self._current
        if current is not None and current.usable(self._clock(), self._margin):
            return current.value
        async with self._lock:
            # Another caller may have refreshed while we waited for the lock.
            current = self._current
            if current is not None and current.usable(self._clock(), self._margin):
                return current.value
            self._current = await self._issue()
            return self._current.value

    def invalidate(self, rejected: str) -> bool:
        """Forget ``rejected`` if it is still the current token; returns whether it was.

        A token that was already replaced is ignored: refreshing again would revoke the replacement.
        """
        if self._current is not None and self._current.value == rejected:
            self._current = None
            return True
        return False

    async def _issue(self) -> AccessToken:
        payload = {"app_id": self.app_id, "secret_key": self._secret.get_secret_value()}
        response = await self._http.send("POST", self._url, provider=PROVIDER,
                                         classify=classify_token_response, json=payload, idempotent=True)
        data = (parse_envelope(response) or {}).get("data")
        value = data.get("access_token") if isinstance(data, dict) else None
        expire_in = data.get("expire_in") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value or not isinstance(expire_in, int | float):
            raise ProviderResponseError("Chanjing's token answer had no access_token / expire_in",
                                        provider=PROVIDER, retryable=False)
        now = self._clock()
        # expire_in is an absolute Unix time; a small number can only be a duration (some proxies send one).
        expires_at = float(expire_in) if expire_in > 1_000_000_000 else now + float(expire_in)
        self.issued += 1
        log.info("chanjing: new access token for app %s…, expires in %.0f s", self.app_id[:4],
                 expires_at - now)
        return AccessToken(value=value, issued_at=now, expires_at=expires_at)


_SHARED: weakref.WeakKeyDictionary[HttpClient, dict[tuple[str, str], ChanjingTokenManager]] = (
    weakref.WeakKeyDictionary()
)


def shared_token_manager(http: HttpClient, *, base_url: str, app_id: str, secret_key: str | SecretStr,
                         clock: SecondsClock = time.time) -> ChanjingTokenManager:
    """The token manager for (``base_url``, ``app_id``) on ``http`` — created on first use, then shared.

    Keyed on the ``HttpClient`` too (one per process by design), so separate clients (separate tests,
    separate emulators) never see each other's tokens. A changed secret key replaces the manager.
    """
    managers = _SHARED.setdefault(http, {})
    key = (base_url.rstrip("/"), app_id)
    manager = managers.get(key)
    if manager is None or not manager.same_secret(secret_key):
        manager = ChanjingTokenManager(http, base_url=base_url, app_id=app_id, secret_key=secret_key,
                                       clock=clock)
        managers[key] = manager
    return manager
