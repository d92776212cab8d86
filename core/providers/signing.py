"""Volcengine OpenAPI V4 request signing (HMAC-SHA256), as in ``shared/reference/providers.md`` §2.1.

Stdlib only: the official SDK that holds the same ~40 lines pulls protobuf and requests. The published test
vector in ``tests/providers/test_signing.py`` pins this implementation to the SDKs' output.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlsplit

ALGORITHM = "HMAC-SHA256"
_UNRESERVED = "-_.~"  # RFC 3986 characters kept as they are (letters and digits always are)


def sign_request(*, method: str, url: str, headers: Mapping[str, str], body: bytes, access_key: str,
                 secret_key: str, region: str, service: str, now: datetime) -> dict[str, str]:
    """The headers to add to a request so Volcengine accepts it: ``X-Date``, ``X-Content-Sha256`` and
    ``Authorization``. ``headers`` are those that will be sent (``Host`` is taken from ``url`` if absent);
    ``body`` must be the exact bytes sent."""
    x_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    short_date = x_date[:8]
    body_hash = hashlib.sha256(body).hexdigest()
    added = {"X-Date": x_date, "X-Content-Sha256": body_hash}  # set before choosing the signed headers
    request, names = canonical_request(method=method, url=url, headers={**headers, **added},
                                       body_hash=body_hash)
    scope = f"{short_date}/{region}/{service}/request"
    string_to_sign = "\n".join([ALGORITHM, x_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = secret_key.encode()
    for part in (short_date, region, service, "request"):  # no "AWS4" prefix, unlike AWS SigV4
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    added["Authorization"] = (f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={names}, "
                              f"Signature={signature}")
    return added


def canonical_request(*, method: str, url: str, headers: Mapping[str, str], body_hash: str) -> tuple[str, str]:
    """The canonical request (§2.1 step 5) and its ``SignedHeaders`` list."""
    parts = urlsplit(url)
    signed = _signed_headers(headers, default_host=parts.netloc)
    names = ";".join(signed)
    request = "\n".join([
        method.upper(),
        quote(parts.path or "/", safe="/" + _UNRESERVED),
        canonical_query(parts.query),
        "".join(f"{name}:{value}\n" for name, value in signed.items()),  # so a blank line follows
        names,
        body_hash,
    ])
    return request, names


def canonical_query(query: str) -> str:
    """Query pairs sorted by key (stable for repeated keys), each side RFC 3986-encoded, space as ``%20``."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True), key=lambda pair: pair[0])
    return "&".join(f"{quote(k, safe=_UNRESERVED)}={quote(v, safe=_UNRESERVED)}" for k, v in pairs)


def _signed_headers(headers: Mapping[str, str], *, default_host: str) -> dict[str, str]:
    """``content-type``, ``content-md5``, ``host`` and every ``x-*`` header, lower-cased and sorted."""
    chosen = {name.lower(): value.strip() for name, value in headers.items()
              if name.lower() in ("content-type", "content-md5", "host") or name.lower().startswith("x-")}
    host = chosen.get("host") or default_host.rpartition("@")[2].lower()
    name, _, port = host.rpartition(":")
    chosen["host"] = name if port in ("80", "443") and name else host
    return dict(sorted(chosen.items()))


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()
