"""Progress events a job reports to whoever asked for it, in order:

``Queued(position)`` (repeated as the line moves) → ``Started`` → ``Progress`` (provider status, e.g. an async
task's state) / ``ImageReady(i)`` / ``ImageFailed(i)`` … → ``Finished``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.results import GeneratedImage, Generation, ImageFailure


@dataclass(frozen=True)
class Queued:
    job_id: str
    position: int  # 1 = next in line


@dataclass(frozen=True)
class Started:
    job_id: str


@dataclass(frozen=True)
class Progress:
    job_id: str
    message: str  # e.g. "Generating"


@dataclass(frozen=True)
class ImageReady:
    job_id: str
    image: GeneratedImage


@dataclass(frozen=True)
class ImageFailed:
    job_id: str
    failure: ImageFailure


@dataclass(frozen=True)
class Finished:
    job_id: str
    generation: Generation


Event = Queued | Started | Progress | ImageReady | ImageFailed | Finished
EventSink = Callable[[Event], Awaitable[None]]


async def ignore_events(event: Event) -> None:
    """The default sink."""
