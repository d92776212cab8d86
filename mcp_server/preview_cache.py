"""The previews of this server's images, each made once.

While a job runs, each image's preview is made the moment the image is saved — in a worker thread, while the
next image is still on its way — so a result waits only for the last image's preview. A job's previews are
made one after another, each within an equal share of what is left of the result's budget. Previews of
finished jobs (after a restart, or beyond the cache) are made on demand. The cache also remembers which
previews a result already carried, so ``get_job`` need not send them again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from core.events import Event, EventSink, ImageReady
from core.results import GeneratedImage, Generation
from mcp_server.paths import is_inside
from mcp_server.previews import Preview, PreviewLimits, make_preview, make_previews

log = logging.getLogger(__name__)

#: Which previews a result carries: every image's, only those no earlier result carried, or none.
Which = Literal["all", "new", "none"]
Shown = list[tuple[GeneratedImage, Preview]]


class PreviewCache:
    """Previews by (job id, image index), newest ``capacity`` kept; only of files inside ``readable_roots``."""

    def __init__(self, limits: PreviewLimits, readable_roots: tuple[Path, ...], *, capacity: int = 48) -> None:
        self.limits = limits
        self.readable_roots = readable_roots
        self._capacity = capacity
        self._previews: OrderedDict[tuple[str, int], asyncio.Future[Preview | None]] = OrderedDict()
        self._sent: OrderedDict[str, set[int]] = OrderedDict()

    def pipeline(self, images: int) -> EventSink:
        """An event sink that makes one job's previews as its images are saved (up to ``images`` of them)."""
        return _Pipeline(self, images).on_event

    def readable(self, image: GeneratedImage) -> bool:
        return is_inside(image.path, self.readable_roots)

    async def for_result(self, generation: Generation, *, which: Which, remember: bool = True) -> Shown:
        """The previews a result of ``generation`` carries (together within the budget), in image order.

        ``remember``: count them as sent, so a later ``which="new"`` leaves them out.
        """
        if which == "none":
            return []
        sent = self._sent.get(generation.job_id, set())
        wanted = [i for i in generation.images if (which == "all" or i.index not in sent) and self.readable(i)]
        wanted = wanted[: self.limits.slots(len(wanted))]
        made = {i.index: await self._cached(generation.job_id, i.index) for i in wanted}
        if sum(len(p.data) for p in made.values() if p) > self.limits.budget:
            made = {}  # cached under another division of the budget: make this result's set afresh
        missing = [i for i in wanted if made.get(i.index) is None]
        if missing:
            made |= await self._make(generation.job_id, missing, spent=sum(len(p.data) for p in made.values() if p))
        shown = [(i, p) for i in wanted if (p := made.get(i.index)) is not None]
        if remember and shown:
            self._sent.setdefault(generation.job_id, set()).update(i.index for i, _ in shown)
            self._sent.move_to_end(generation.job_id)
            while len(self._sent) > self._capacity * 4:
                self._sent.popitem(last=False)
        return shown

    def sent_before(self, job_id: str) -> set[int]:
        """The image indexes whose previews an earlier result carried."""
        return set(self._sent.get(job_id, ()))

    async def single(self, job_id: str, image: GeneratedImage) -> Preview | None:
        """One image's preview (within the whole budget when it must be made now), or None."""
        cached = await self._cached(job_id, image.index)
        if cached is not None or not self.readable(image):
            return cached
        preview = await asyncio.to_thread(make_preview, image.path, budget=self.limits.budget, limits=self.limits)
        self._store(job_id, image.index, _done(preview))
        return preview

    async def _make(self, job_id: str, images: Sequence[GeneratedImage], *, spent: int) -> dict[int, Preview]:
        limits = dataclasses.replace(self.limits, budget=max(0, self.limits.budget - spent))
        previews = await asyncio.to_thread(make_previews, [i.path for i in images], limits)
        made: dict[int, Preview] = {}
        for image, preview in zip(images, previews, strict=True):
            if preview is not None:
                made[image.index] = preview
                self._store(job_id, image.index, _done(preview))
        return made

    async def _cached(self, job_id: str, index: int) -> Preview | None:
        future = self._previews.get((job_id, index))
        if future is None:
            return None
        return await asyncio.shield(future)

    def _store(self, job_id: str, index: int, future: asyncio.Future[Preview | None]) -> None:
        self._previews[(job_id, index)] = future
        self._previews.move_to_end((job_id, index))
        while len(self._previews) > self._capacity:
            self._previews.popitem(last=False)


class _Pipeline:
    """One job's previews, made in order as its images are saved."""

    def __init__(self, cache: PreviewCache, images: int) -> None:
        self._cache = cache
        self._slots = cache.limits.slots(images)
        self._remaining = cache.limits.budget
        self._started = 0
        self._last: asyncio.Task[Preview | None] | None = None

    async def on_event(self, event: Event) -> None:
        """Start the preview of a saved image and return at once (the job's saver is waiting)."""
        if not isinstance(event, ImageReady) or self._started >= self._slots or not self._cache.readable(event.image):
            return
        position, self._started = self._started, self._started + 1
        task = asyncio.create_task(self._make(event.image, position, self._last))
        self._last = task
        self._cache._store(event.job_id, event.image.index, task)

    async def _make(self, image: GeneratedImage, position: int,
                    previous: asyncio.Task[Preview | None] | None) -> Preview | None:
        if previous is not None:
            await asyncio.wait({previous})  # its size decides what is left for this one
        share = self._remaining // (self._slots - position)
        try:
            preview = await asyncio.to_thread(make_preview, image.path, budget=share, limits=self._cache.limits)
        except Exception:  # a bug of ours: the result goes without this preview
            log.exception("could not make a preview of %s", image.path)
            return None
        if preview is not None:
            self._remaining -= len(preview.data)
        return preview


def _done(preview: Preview | None) -> asyncio.Future[Preview | None]:
    future: asyncio.Future[Preview | None] = asyncio.get_running_loop().create_future()
    future.set_result(preview)
    return future
