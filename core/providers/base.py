"""The contract between ``ImageService`` and a provider adapter.

A provider turns a ``Plan`` into wire requests and yields what it learns, in order, as soon as it learns it:
``ImagePayload`` (an image exists: a URL to download at once, or base64 bytes), ``ImageFailure`` (one image
of the group was refused or failed), ``StatusUpdate`` (an async task moved on) and finally ``Usage``.
A failure of the whole request is raised as a ``core.errors`` error; what was yielded before it is kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from core.results import ImageFailure, Usage

if TYPE_CHECKING:
    from core.requests import Plan


@dataclass(frozen=True)
class ImagePayload:
    """A produced image: exactly one of ``url`` / ``b64`` is set."""

    index: int
    url: str | None = None
    b64: str | None = None
    size: str | None = None  # "WxH" as the provider reported it
    seed: int | None = None


@dataclass(frozen=True)
class StatusUpdate:
    """Free-form provider progress (e.g. an async task's state)."""

    message: str


ProviderItem = ImagePayload | ImageFailure | StatusUpdate | Usage


class Provider(Protocol):
    """A provider adapter. ``name`` is its kind: ark, visual, chanjing or gateway."""

    name: str

    def generate(self, plan: Plan) -> AsyncIterator[ProviderItem]:
        """Yield items as they arrive (see module docstring).

        Raises:
            ProviderError (any subclass): the request as a whole failed.
        """
        ...
