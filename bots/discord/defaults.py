"""Per-user defaults (``/settings``): model, size, aspect ratio, spoiler (layer 1, pure: no discord.py).

Stored with the counters' metadata (``CounterStore.get_meta`` / ``set_meta``, shared by every bot process on the
same store), one JSON object per user under the key ``discord:settings:<user id>``, so a backend that keeps the
quota counters needs nothing new for them. Unknown keys in a stored value are ignored (a newer bot may have
written them).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol

from core.catalog import SizeRules, find_model
from core.errors import InvalidRequestError
from core.requests import resolve_size

log = logging.getLogger(__name__)

KEY_PREFIX = "discord:settings:"


class MetaValues(Protocol):
    """The metadata part of core's ``CounterStore``."""

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class UserDefaults:
    """What a user's commands use when they leave an option out (``None``: the model's own default)."""

    model: str | None = None
    size: str | None = None
    aspect_ratio: str | None = None
    spoiler: bool = False

    @property
    def empty(self) -> bool:
        return self == UserDefaults()

    def updated(self, **changes: Any) -> UserDefaults:
        """A copy with the given fields changed (``None`` values are left as they were)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v not in (None, False)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> UserDefaults:
        """Parse a stored value; a damaged one counts as no defaults (and is logged)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in dict(data).items() if k in known})
        except (ValueError, TypeError):
            log.warning("ignoring damaged user settings: %.80r", text)
            return cls()


def defaults_key(user_id: int) -> str:
    return f"{KEY_PREFIX}{user_id}"


class DefaultsStore:
    """Reads and writes users' defaults in the counters' metadata."""

    def __init__(self, meta: MetaValues) -> None:
        self._meta = meta

    async def get(self, user_id: int) -> UserDefaults:
        return UserDefaults.from_json(await self._meta.get_meta(defaults_key(user_id)))

    async def set(self, user_id: int, defaults: UserDefaults) -> None:
        await self._meta.set_meta(defaults_key(user_id), defaults.to_json())


def apply_defaults(
    defaults: UserDefaults,
    provider: str,
    *,
    model: str | None,
    size: str | None,
    aspect_ratio: str | None,
    editing: bool = False,
) -> tuple[str | None, str | None, str | None]:
    """``(model, size, aspect_ratio)`` for a command: what the user gave, else their defaults where the model
    that will run accepts them (a default 4K is dropped for a model without 4K, not turned into an error)."""
    model = model_or_default(defaults, provider, model, editing=editing)
    if size is not None and aspect_ratio is not None:
        return model, size, aspect_ratio
    rules = find_model(provider, model, editing=editing).sizes
    for candidate in (
        (size or defaults.size, aspect_ratio or defaults.aspect_ratio),
        (size or defaults.size, aspect_ratio),
        (size, aspect_ratio or defaults.aspect_ratio),
    ):
        if candidate != (size, aspect_ratio) and _fits(rules, *candidate):
            return model, *candidate
    return model, size, aspect_ratio


def model_or_default(defaults: UserDefaults, provider: str, model: str | None, *, editing: bool) -> str | None:
    """The model the user gave, else their default one if the provider serves it for this command."""
    return model or (defaults.model if _serves(provider, defaults.model, editing=editing) else None)


def _serves(provider: str, model: str | None, *, editing: bool) -> bool:
    if not model:
        return False
    try:
        spec = find_model(provider, model)
    except InvalidRequestError:
        return False
    return spec.max_references >= 1 if editing else spec.text_to_image


def _fits(rules: SizeRules, size: str | None, aspect_ratio: str | None) -> bool:
    try:
        resolve_size(rules, size, aspect_ratio)
    except InvalidRequestError:
        return False
    return True
