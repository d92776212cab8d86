"""Who is calling: the named bearer tokens of the HTTP transport, and which jobs a caller may see.

``SEEDREAM_MCP_TOKENS_FILE`` names a JSON file mapping each bearer token to a user name::

    {"3f9c…long random token…": "alice", "b71e…another…": "bob"}

A person may hold several tokens (one per machine); a token names exactly one person. The HTTP transport
(``mcp_server.http``) accepts these tokens beside ``SEEDREAM_MCP_TOKEN`` and hands the SDK an authenticated user
for each request, so the SDK binds every session to its person and ``current_user()`` reads the name inside any
handler. A named user's jobs are recorded with that name (``Requester.user_id``): listings, resources, tasks and
``get_job`` show each person only their own, and a job id of someone else's answers as an unknown job.

Requests with ``SEEDREAM_MCP_TOKEN`` (and every request over stdio) carry no name: that is the operator's
access, which sees every MCP job, as before named tokens existed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from core.errors import ConfigurationError
from core.jobs import JobRecord, Requester

ADAPTER = "mcp"
VARIABLE = "SEEDREAM_MCP_TOKENS_FILE"
FORMAT = '{"<token>": "<user name>", …}'
MAX_NAME = 64


def current_user() -> str | None:
    """The named user of the request being handled, or None (the operator's token, or stdio)."""
    token = get_access_token()
    return token.subject if token is not None else None


def requester() -> Requester:
    """Who asks for a job started now."""
    user = current_user()
    return Requester(adapter=ADAPTER, user_id=user, display_name=user)


def may_see(record: JobRecord) -> bool:
    """Whether the caller may read ``record``: an MCP job, and the caller's own unless they are the operator."""
    if record.requester.adapter != ADAPTER:
        return False
    user = current_user()
    return user is None or record.requester.user_id == user


def authenticated(name: str) -> AuthenticatedUser:
    """The SDK's user for a named token (the SDK keys session ownership on it)."""
    return AuthenticatedUser(AccessToken(token="", client_id=name, subject=name, scopes=[]))


class TokenBook:
    """Bearer tokens and whose they are, kept as SHA-256 digests and compared in constant time."""

    def __init__(self, named: Mapping[str, str | None]) -> None:
        """``named``: token → user name (None: the operator's token)."""
        self._entries = [(_digest(token), name) for token, name in named.items()]
        if not self._entries:
            raise ValueError("a token book without tokens would let no one in")

    def owner(self, given: str) -> tuple[bool, str | None]:
        """(whether ``given`` is one of the tokens, its user name). Every entry is compared, match or not,
        so the time taken says nothing about which token or how much of it matched."""
        digest = _digest(given)
        found, owner = False, None
        for expected, name in self._entries:
            if hmac.compare_digest(digest, expected):
                found, owner = True, name
        return found, owner


def load_tokens(path: Path, *, operator_token: str | None = None) -> dict[str, str]:
    """The token → user name map of a tokens file (see the module docstring).

    Raises:
        ConfigurationError: the file cannot be read, is not such a JSON object, lists a token twice, gives a
            token or a name that is empty, or repeats ``SEEDREAM_MCP_TOKEN``. The message never shows a token.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, f"cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        pairs = json.loads(text, object_pairs_hook=list)
    except json.JSONDecodeError as exc:
        raise _bad(path, f"is not JSON (line {exc.lineno}: {exc.msg}); expected {FORMAT}") from None
    if not isinstance(pairs, list) or not all(isinstance(p, tuple) for p in pairs):
        raise _bad(path, f"must hold one JSON object mapping each token to a user name: {FORMAT}")
    return _checked(path, pairs, operator_token)


def _checked(path: Path, pairs: Iterable[tuple[str, object]], operator_token: str | None) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for number, (token, name) in enumerate(pairs, start=1):
        where = f"entry {number}"
        if not isinstance(name, str) or not name.strip():
            raise _bad(path, f"{where}: the user name must be a non-empty string, not {name!r}")
        name = name.strip()
        if len(name) > MAX_NAME or not name.isprintable():
            raise _bad(path, f"{where}: the user name {name[:MAX_NAME]!r} must be printable and at most "
                             f"{MAX_NAME} characters")
        if not token.strip() or token != token.strip():
            raise _bad(path, f"{where} (user {name!r}): the token is empty or has spaces around it")
        if token in tokens:
            raise _bad(path, f"{where} (user {name!r}): the same token is already given to {tokens[token]!r}; "
                             "each token must name one person")
        if operator_token is not None and hmac.compare_digest(token.encode(), operator_token.encode()):
            raise _bad(path, f"{where} (user {name!r}): the token is also SEEDREAM_MCP_TOKEN; give each its own")
        tokens[token] = name
    if not tokens:
        raise _bad(path, f"lists no tokens; expected {FORMAT}")
    return tokens


def _bad(path: Path, what: str) -> ConfigurationError:
    return ConfigurationError(f"{VARIABLE}={path}: the file {what}.", variables=(VARIABLE,))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
