"""Jobs another replica runs: several ``seedream-mcp --transport http`` processes share one job store and output
folder, and any of them answers about any job.

A job this process runs is followed through its events (``mcp_server.progress``). A job another process runs is
followed in the job store, which records each image as it is saved: ``follow`` re-reads it every
``SEEDREAM_MCP_FOLLOW_POLL_SECONDS`` while a tool call waits, turning what changed into the same progress
notifications. A cancel for such a job is recorded in the job (``ImageService.request_cancel``); the process
running it stops it at its next look (every process does, see ``core.factory.running_service``).
"""

from __future__ import annotations

import asyncio

from core.events import Finished, ImageFailed, ImageReady
from core.jobs import JobRecord
from mcp_server.progress import ProgressReporter
from mcp_server.state import AppState


def planned_images(record: JobRecord) -> int:
    """The most images the job can make (a series may make fewer)."""
    return int(record.parameters.get("series") or record.parameters.get("count") or 1)


async def follow(state: AppState, record: JobRecord, reporter: ProgressReporter, *,
                 wait_seconds: float) -> JobRecord:
    """``record`` re-read until it finishes or ``wait_seconds`` pass; each image saved or failed meanwhile, and
    the end, reported to ``reporter`` (with heartbeats while nothing changes)."""
    loop = asyncio.get_running_loop()
    started = quiet_since = loop.time()
    deadline = started + wait_seconds
    settings = state.settings
    while not record.status.finished and (remaining := deadline - loop.time()) > 0:
        await asyncio.sleep(min(settings.follow_poll_seconds, remaining))
        newer = await state.service.get_job(record.id)
        if await _report_changes(record, newer, reporter):
            quiet_since = loop.time()
        elif loop.time() - quiet_since >= settings.heartbeat_seconds:
            quiet_since = loop.time()
            await reporter.heartbeat(loop.time() - started)
        record = newer
    return record


async def _report_changes(before: JobRecord, after: JobRecord, reporter: ProgressReporter) -> bool:
    """Report what ``after`` has that ``before`` had not; whether there was anything."""
    seen = {i.index for i in before.images}
    images = [ImageReady(after.id, image) for image in after.images if image.index not in seen]
    failed = {f.index for f in before.failures}
    failures = [ImageFailed(after.id, failure) for failure in after.failures if failure.index not in failed]
    events = [*images, *failures] + ([Finished(after.id, after.to_generation())] if after.status.finished else [])
    for event in events:
        await reporter.on_event(event)
    return bool(events)


async def request_cancel(state: AppState, record: JobRecord, *, user: str | None, wait_seconds: float) -> JobRecord:
    """Ask the replica running ``record`` to cancel it, and wait up to ``wait_seconds`` for the job to end."""
    await state.service.request_cancel(record.id, by=user)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while not record.status.finished and (remaining := deadline - loop.time()) > 0:
        await asyncio.sleep(min(state.settings.follow_poll_seconds, remaining))
        record = await state.service.get_job(record.id)
    return record
