"""The board that lets a gallery find the job of a call before the call returns, and follow it."""

from __future__ import annotations

import asyncio

from core.events import Queued, Started
from core.requests import GenerateRequest
from mcp_server.app.board import JobBoard
from mcp_server.progress import JobWatch


async def watch_of(service) -> JobWatch:
    return JobWatch(await service.plan(GenerateRequest.create(prompt="a kite", size="1K")))


async def test_a_request_ticket_is_found_only_within_its_own_session_and_an_apps_ticket_anywhere(service):
    board = JobBoard()
    board.follow(await watch_of(service), "job1", tickets=("request:7", "app:abc"), scope="session-a")
    assert await board.job_for("request:7", scope="session-a", timeout=0) == "job1"
    assert await board.job_for("request:7", scope="session-b", timeout=0) is None
    assert await board.job_for("app:abc", scope="session-b", timeout=0) == "job1"


async def test_a_ticket_asked_for_before_its_call_starts_its_job_is_answered_when_it_does(service):
    board = JobBoard()
    waiting = asyncio.create_task(board.job_for("app:early", timeout=60))
    await asyncio.sleep(0)  # let it start waiting
    assert not waiting.done()
    board.follow(await watch_of(service), "job2", tickets=("app:early",))
    assert await waiting == "job2"


async def test_following_counts_the_jobs_events_and_wakes_who_waits_for_the_next(service):
    board, watch = JobBoard(), await watch_of(service)
    board.follow(watch, "job3")
    await watch.on_event(Queued("job3", 2))
    live = board.live("job3")
    assert (live.version, live.queue_position) == (1, 2)
    waiting = asyncio.create_task(board.wait_for_change("job3", after=1, timeout=60))
    await asyncio.sleep(0)
    assert not waiting.done()
    await watch.on_event(Started("job3"))
    await waiting
    assert (board.live("job3").version, board.live("job3").queue_position) == (2, None)


async def test_a_job_the_board_does_not_follow_never_changes(service):
    board = JobBoard()
    assert board.live("unknown").version == 0 and not board.is_followed("unknown")
    await board.wait_for_change("unknown", after=-1, timeout=60)  # at once: version 0 is above -1
