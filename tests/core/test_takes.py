"""Takes and series: ``count`` is N independent images, one provider request each, admitted fairly beside
other jobs; ``series`` is one group request for up to N related images (the model decides how many)."""

from __future__ import annotations

import asyncio

from core.emulator import EmulatorState, Fault
from core.events import Event, Queued
from core.factory import open_service
from core.http import HttpClient
from core.jobs import Requester
from core.requests import GenerateRequest
from core.results import JobStatus
from tests.conftest import make_settings

ME = Requester(adapter="test", user_id="u1")
WAIT = 30.0  # a safety net for waits on events; nothing waits on time passing


def request(**fields) -> GenerateRequest:
    return GenerateRequest.create(**({"prompt": "a red fox in snow", "size": "1K"} | fields))


async def test_four_takes_are_four_requests_and_four_different_images(service, emulator: EmulatorState):
    generation = await service.generate(request(count=4), requester=ME)
    assert generation.status is JobStatus.SUCCEEDED
    assert [i.index for i in generation.images] == [0, 1, 2, 3]
    assert emulator.requests["ark"] == 4 and generation.usage.generated_images == 4
    assert len({i.path.read_bytes() for i in generation.images}) == 4  # each take is a new draw
    assert generation.parameters["count"] == 4 and generation.parameters["series"] is None


async def test_a_series_is_one_group_request(service, emulator: EmulatorState):
    generation = await service.generate(request(series=4), requester=ME)
    assert len(generation.images) == 4 and emulator.requests["ark"] == 1
    assert generation.parameters["series"] == 4


async def test_a_refused_take_is_that_images_failure_and_the_other_takes_are_kept(
        service, emulator: EmulatorState):
    emulator.add_fault(Fault(provider="ark", status=400, code="InputTextSensitiveContentDetected"))
    generation = await service.generate(request(count=3), requester=ME)
    assert generation.status is JobStatus.PARTIAL and len(generation.images) == 2
    (failure,) = generation.failures
    assert failure.kind == "content_rejected" and failure.code == "InputTextSensitiveContentDetected"
    assert sorted([i.index for i in generation.images] + [failure.index]) == [0, 1, 2]
    record = await service.get_job(generation.job_id)
    assert [f.kind for f in record.failures] == ["content_rejected"] and len(record.images) == 2


async def test_when_every_take_fails_the_job_fails_with_the_reason(service, emulator: EmulatorState):
    emulator.add_fault(Fault(provider="ark", status=400, code="InputTextSensitiveContentDetected", times=2))
    generation = await service.generate(request(count=2), requester=ME)
    assert generation.status is JobStatus.FAILED and generation.error_kind == "content_rejected"
    assert [f.index for f in generation.failures] == [0, 1]


async def test_a_later_job_is_not_queued_behind_every_take_of_an_earlier_one(tmp_path, http: HttpClient,
                                                                             emulator: EmulatorState):
    emulator.hold = asyncio.Event()
    queued = {"A": asyncio.Event(), "B": asyncio.Event()}
    positions: dict[str, list[int]] = {"A": [], "B": []}

    def sink_for(name: str):
        async def sink(event: Event) -> None:
            if isinstance(event, Queued):
                positions[name].append(event.position)
                queued[name].set()
        return sink

    async with open_service(make_settings(tmp_path, ark_concurrency=1), http=http) as svc:
        first = await svc.start(request(prompt="first", count=3), requester=ME, on_event=sink_for("A"))
        await asyncio.wait_for(queued["A"].wait(), WAIT)  # A's second take stands in line
        later = await svc.start(request(prompt="later"), requester=ME, on_event=sink_for("B"))
        await asyncio.wait_for(queued["B"].wait(), WAIT)
        # B stands behind one take of A (the one admitted next), not behind all of A's takes: A's third take
        # joins the line only once its second is admitted, so it ends up behind B.
        assert positions == {"A": [1], "B": [2]}
        emulator.hold.set()
        results = [await first.wait(), await later.wait()]
    assert [r.status for r in results] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]
    assert [len(r.images) for r in results] == [3, 1]


async def test_chanjing_takes_go_in_as_few_exact_tasks_as_it_allows(tmp_path, http: HttpClient,
                                                                    emulator: EmulatorState):
    async with open_service(make_settings(tmp_path, provider="sandbox-chanjing"), http=http) as svc:
        generation = await svc.generate(request(count=6, size="1K", aspect_ratio="1:1"), requester=ME)
    assert generation.status is JobStatus.SUCCEEDED and [i.index for i in generation.images] == list(range(6))
    assert emulator.requests["chanjing"] == 2  # submits: a task of 4 and a task of 2
