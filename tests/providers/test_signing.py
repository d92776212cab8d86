"""The Volcengine V4 signer against the published test vector and the canonicalisation rules."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.providers.signing import canonical_query, canonical_request, sign_request

# Published in Volcengine's signing docs; both official SDKs reproduce it.
VECTOR = {
    "method": "GET",
    "url": "https://iam.volcengineapi.com/?Action=ListUsers&Limit=10&Offset=0&Version=2018-01-01",
    "headers": {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    "body": b"",
    "access_key": "AKLTMjI2ODVlYzI3ZGY1NGU4ZjhjYWRjMTlmNTM5OTZkYzE",
    "secret_key": "TnpCak5XWXpZV1U0WkRaaE5ERmxaR0ZpTmpjeVkyUXlZek0wTWpJMU1qWQ==",
    "region": "cn-north-1",
    "service": "iam",
    "now": datetime(2020, 12, 30, 8, 18, 5, tzinfo=UTC),
}
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _signature(headers: dict[str, str]) -> str:
    return headers["Authorization"].rsplit("Signature=", 1)[1]


def _signed_names(headers: dict[str, str]) -> str:
    match = re.search(r"SignedHeaders=([^,]+),", headers["Authorization"])
    assert match
    return match.group(1)


def test_the_published_vector_gives_the_published_signature() -> None:
    added = sign_request(**VECTOR)
    assert added["X-Date"] == "20201230T081805Z"
    assert added["X-Content-Sha256"] == EMPTY_SHA256
    assert added["Authorization"] == (
        "HMAC-SHA256 Credential=AKLTMjI2ODVlYzI3ZGY1NGU4ZjhjYWRjMTlmNTM5OTZkYzE/20201230/cn-north-1/iam/request, "
        "SignedHeaders=content-type;host;x-content-sha256;x-date, "
        "Signature=28eeabbbd726b87002e0fe58ad8c1c768e619b06e2646f35b6ad7ed029a6d8a7")


def test_the_published_vector_gives_the_published_canonical_request_hash() -> None:
    headers = {**VECTOR["headers"], "X-Date": "20201230T081805Z", "X-Content-Sha256": EMPTY_SHA256}
    request, names = canonical_request(method="GET", url=VECTOR["url"], headers=headers, body_hash=EMPTY_SHA256)
    assert names == "content-type;host;x-content-sha256;x-date"
    assert "\nx-date:20201230T081805Z\n\ncontent-type;host" in request  # the blank line after the headers
    assert hashlib.sha256(request.encode()).hexdigest() == (
        "3a4d4dee07c3308a52da01bc12d7a83c3705bfa543f51648f46de880bb2a7447")


def test_a_non_utc_clock_is_converted_to_utc_for_x_date() -> None:
    beijing = timezone(timedelta(hours=8))
    added = sign_request(**{**VECTOR, "now": datetime(2020, 12, 30, 16, 18, 5, tzinfo=beijing)})
    assert added["X-Date"] == "20201230T081805Z"
    assert _signature(added) == "28eeabbbd726b87002e0fe58ad8c1c768e619b06e2646f35b6ad7ed029a6d8a7"


def test_the_body_hash_covers_the_exact_bytes_and_changes_the_signature() -> None:
    one = sign_request(**{**VECTOR, "method": "POST", "body": b'{"a":1}'})
    two = sign_request(**{**VECTOR, "method": "POST", "body": b'{"a": 1}'})
    assert one["X-Content-Sha256"] == hashlib.sha256(b'{"a":1}').hexdigest()
    assert _signature(one) != _signature(two)


@pytest.mark.parametrize(("query", "expected"), [
    ("Version=2018-01-01&Action=ListUsers", "Action=ListUsers&Version=2018-01-01"),
    ("q=a b", "q=a%20b"),
    ("q=a+b", "q=a%20b"),
    ("q=a%20b", "q=a%20b"),
    ("q=%E7%8C%AB", "q=%E7%8C%AB"),
    ("q=猫", "q=%E7%8C%AB"),
    ("k=%2F%3F%3D%26%2A%21%27%28%29", "k=%2F%3F%3D%26%2A%21%27%28%29"),
    ("k=a-b_c.d~e", "k=a-b_c.d~e"),
    ("flag=&a=1", "a=1&flag="),
    ("b=2&a=z&a=y", "a=z&a=y&b=2"),  # sorted by key; repeated keys keep their order
    ("", ""),
])
def test_query_parameters_are_sorted_and_rfc3986_encoded(query: str, expected: str) -> None:
    assert canonical_query(query) == expected


def test_only_content_type_content_md5_host_and_x_headers_are_signed() -> None:
    headers = {"User-Agent": "seedream/1", "Accept": "application/json", "Content-Md5": "abc==",
               "X-Custom-Thing": " v ", "Content-Type": "application/json", "Authorization": "old"}
    added = sign_request(**{**VECTOR, "headers": headers})
    assert _signed_names(added) == "content-md5;content-type;host;x-content-sha256;x-custom-thing;x-date"
    request, _ = canonical_request(method="GET", url=VECTOR["url"], headers={**headers, **added},
                                   body_hash=EMPTY_SHA256)
    assert "x-custom-thing:v\n" in request
    assert "user-agent" not in request and "accept:" not in request


def test_an_unsigned_header_does_not_change_the_signature_but_a_signed_one_does() -> None:
    base = _signature(sign_request(**VECTOR))
    with_agent = sign_request(**{**VECTOR, "headers": {**VECTOR["headers"], "User-Agent": "x"}})
    with_x = sign_request(**{**VECTOR, "headers": {**VECTOR["headers"], "X-Extra": "x"}})
    assert _signature(with_agent) == base
    assert _signature(with_x) != base


@pytest.mark.parametrize(("url", "host"), [
    ("https://iam.volcengineapi.com:443/?Action=ListUsers&Limit=10&Offset=0&Version=2018-01-01",
     "iam.volcengineapi.com"),
    ("http://iam.volcengineapi.com:80/?Action=ListUsers&Limit=10&Offset=0&Version=2018-01-01",
     "iam.volcengineapi.com"),
    ("http://127.0.0.1:8790/?Action=CVProcess", "127.0.0.1:8790"),
    ("http://IAM.Volcengineapi.com/", "iam.volcengineapi.com"),
])
def test_the_host_comes_from_the_url_and_loses_a_default_port(url: str, host: str) -> None:
    request, _ = canonical_request(method="GET", url=url, headers={}, body_hash=EMPTY_SHA256)
    assert f"\nhost:{host}\n" in request


def test_an_explicit_host_header_with_port_443_signs_like_the_bare_host() -> None:
    explicit = sign_request(**{**VECTOR, "headers": {**VECTOR["headers"], "Host": "iam.volcengineapi.com:443"}})
    assert _signature(explicit) == "28eeabbbd726b87002e0fe58ad8c1c768e619b06e2646f35b6ad7ed029a6d8a7"


def test_a_different_secret_region_or_service_changes_the_signature() -> None:
    base = _signature(sign_request(**VECTOR))
    for change in ({"secret_key": "other"}, {"region": "cn-beijing"}, {"service": "cv"}):
        assert _signature(sign_request(**{**VECTOR, **change})) != base
