"""ImageService end to end on the sandbox (the Ark adapter against the emulator, in-process)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from core.emulator import EmulatorState, Fault
from core.errors import ConfigurationError
from core.events import Event, Finished, ImageFailed, ImageReady, Queued, Started
from core.factory import open_service
from core.http import HttpClient
from core.jobs import Requester
from core.requests import GenerateRequest
from core.results import JobStatus
from tests.conftest import RecordingSleep, make_settings

ME = Requester(adapter="test", user_id="u1")


def request(**fields) -> GenerateRequest:
    return GenerateRequest.create(**({"prompt": "a red fox in snow"} | fields))


def opened(path: Path) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        return img


async def test_a_sandbox_generation_writes_a_real_image_of_the_asked_size_with_its_sidecar(service):
    generation = await service.generate(request(size="2048x2048"), requester=ME)
    assert generation.status is JobStatus.SUCCEEDED
    (image,) = generation.images
    img = opened(image.path)
    assert (img.format, img.size) == ("JPEG", (2048, 2048))
    assert image.path.is_absolute() and image.path.parent.parent == service.settings.images_dir
    sidecar = json.loads(image.sidecar_path.read_text())
    assert sidecar["prompt"] == "a red fox in snow" and sidecar["model_id"] == "doubao-seedream-4-0-250828"
    assert sidecar["usage"]["generated_images"] == 1 and sidecar["source_url_expires_at"]


async def test_the_job_store_records_the_request_outputs_and_usage(service):
    generation = await service.generate(request(size="1K", count=1), requester=ME)
    record = await service.get_job(generation.job_id)
    assert record.status is JobStatus.SUCCEEDED and record.requester == ME
    assert [i.path for i in record.images] == [i.path for i in generation.images]
    assert record.usage.generated_images == 1 and record.parameters["size"] == "1K"
    assert record.request["prompt"] == "a red fox in snow"


async def test_a_group_streams_each_image_to_disk_and_reports_events_in_order(service):
    events: list[Event] = []

    async def sink(event: Event) -> None:
        events.append(event)

    generation = await service.generate(request(size="1K", series=4), requester=ME, on_event=sink)
    assert generation.status is JobStatus.SUCCEEDED and len(generation.images) == 4
    assert [i.index for i in generation.images] == [0, 1, 2, 3]
    kinds = [type(e) for e in events]
    assert kinds[0] is Started and kinds[-1] is Finished and kinds.count(ImageReady) == 4
    assert all(e.image.path.exists() for e in events if isinstance(e, ImageReady))


@pytest.mark.parametrize("stream", [True, False])
async def test_a_group_where_one_image_is_refused_keeps_the_others(service, stream):
    generation = await service.generate(request(prompt="four foxes [refuse:1]", size="1K", series=4,
                                                stream=stream), requester=ME)
    assert generation.status is JobStatus.PARTIAL
    assert [i.index for i in generation.images] == [0, 2, 3]
    (failure,) = generation.failures
    assert failure.index == 1 and failure.code == "OutputImageSensitiveContentDetected"
    record = await service.get_job(generation.job_id)
    assert [f.index for f in record.failures] == [1] and len(record.images) == 3


async def test_base64_results_are_decoded_to_files(service):
    generation = await service.generate(request(size="1K", response_format="b64_json", count=2), requester=ME)
    assert len(generation.images) == 2
    assert all(i.source_url is None and opened(i.path).format == "JPEG" for i in generation.images)


async def test_image_to_image_and_multi_reference_fusion(service, tmp_path: Path):
    refs = []
    for n, colour in enumerate(("red", "blue")):
        path = tmp_path / f"ref{n}.png"
        Image.new("RGB", (300, 200), colour).save(path)
        refs.append(str(path))
    one = await service.generate(request(prompt="make it night", images=(refs[0],), size="1K"), requester=ME)
    two = await service.generate(request(prompt="combine", images=tuple(refs), size="1K"), requester=ME)
    assert one.status is JobStatus.SUCCEEDED and two.status is JobStatus.SUCCEEDED
    edit = await service.generate(request(prompt="add a hat", model="seededit-3.0", images=(refs[0],)),
                                  requester=ME)
    assert opened(edit.images[0].path).size == (300, 200)  # adaptive: follows the reference
    assert edit.images[0].seed is not None  # a seed is chosen so the edit can be reproduced


async def test_a_429_is_retried_after_the_time_the_provider_asked_for(service, emulator: EmulatorState,
                                                                       sleep: RecordingSleep):
    emulator.add_fault(Fault(provider="ark", status=429, code="ModelAccountRpmRateLimitExceeded", retry_after=7))
    generation = await service.generate(request(size="1K"), requester=ME)
    assert generation.status is JobStatus.SUCCEEDED
    assert sleep.delays == [7.0] and emulator.requests["ark"] == 2


@pytest.mark.parametrize("status, code, kind", [
    (400, "InputTextSensitiveContentDetected", "content_rejected"),
    (429, "QuotaExceeded", "quota_exceeded"),
    (401, "AuthenticationError", "authentication"),
])
async def test_errors_that_retrying_cannot_fix_are_not_retried(service, emulator, sleep, status, code, kind):
    emulator.add_fault(Fault(provider="ark", status=status, code=code, times=5))
    generation = await service.generate(request(size="1K"), requester=ME)
    assert generation.status is JobStatus.FAILED and generation.error_kind == kind
    assert emulator.requests["ark"] == 1 and sleep.delays == []
    assert "ark" in generation.error.lower() or "Ark" in generation.error


async def test_server_errors_are_retried_until_the_budget_runs_out(service, emulator, sleep):
    emulator.add_fault(Fault(provider="ark", status=500, code="InternalServiceError", times=10))
    generation = await service.generate(request(size="1K"), requester=ME)
    assert generation.status is JobStatus.FAILED and generation.error_kind == "unavailable"
    assert emulator.requests["ark"] == 4 and len(sleep.delays) == 3


async def test_a_moderated_prompt_is_reported_as_content_rejected(service, emulator):
    generation = await service.generate(request(prompt="something forbidden"), requester=ME)
    assert generation.error_kind == "content_rejected" and "Rephrase" in generation.error
    assert emulator.requests["ark"] == 1


async def test_a_stream_cut_short_keeps_the_images_already_saved(service, emulator):
    emulator.add_fault(Fault(provider="ark", kind="truncate", after_images=2))
    generation = await service.generate(request(size="1K", series=4), requester=ME)
    assert generation.status is JobStatus.PARTIAL and len(generation.images) == 2
    assert all(i.path.exists() for i in generation.images)
    assert emulator.requests["ark"] == 1  # never resent: the first two images were billed


async def test_an_expired_result_url_fails_clearly_without_resending_the_generation(tmp_path, sleep):
    from core.emulator import EmulatorConfig
    from core.sandbox import SANDBOX_ORIGIN, sandbox_mount

    state = EmulatorState(EmulatorConfig(public_base_url=SANDBOX_ORIGIN, url_ttl=-1))
    http = HttpClient.create(mounts=sandbox_mount(state), sleep=sleep)
    try:
        async with open_service(make_settings(tmp_path), http=http) as svc:
            generation = await svc.generate(request(size="1K"), requester=ME)
    finally:
        await http.aclose()
    assert generation.status is JobStatus.FAILED and "expired" in generation.error
    assert state.requests["ark"] == 1


async def test_requests_over_the_account_cap_wait_in_line_in_order(tmp_path, http, emulator):
    emulator.hold = asyncio.Event()
    async with open_service(make_settings(tmp_path, ark_concurrency=1), http=http) as svc:
        positions: dict[int, list[int]] = {0: [], 1: [], 2: []}
        started: list[int] = []
        in_line_or_started = [asyncio.Event() for _ in range(3)]  # the job has met the admission's answer

        def sink_for(n: int):
            async def sink(event: Event) -> None:
                if isinstance(event, Queued):
                    positions[n].append(event.position)
                elif isinstance(event, Started):
                    started.append(n)
                else:
                    return
                in_line_or_started[n].set()
            return sink

        handles = []
        for n in range(3):  # each one arrives only after the one before was admitted or queued
            handles.append(await svc.start(request(prompt=f"fox {n}", size="1K"), requester=ME,
                                           on_event=sink_for(n)))
            await in_line_or_started[n].wait()
        # Asserted after the release: a job left held would keep the service's shutdown waiting.
        while_held = list(started), {n: list(p) for n, p in positions.items()}
        emulator.hold.set()
        results = [await h.wait() for h in handles]
    # The first holds the only slot (the provider holds its answer); the others wait in line.
    assert while_held == ([0], {0: [], 1: [1], 2: [2]})
    assert [r.status for r in results] == [JobStatus.SUCCEEDED] * 3
    assert started == [0, 1, 2]  # in the order they came
    assert positions == {0: [], 1: [1], 2: [2, 1]}  # the last moved up when the first finished


async def test_no_provider_configured_is_a_configuration_error_naming_the_variables(tmp_path):
    async with open_service(make_settings(tmp_path, provider=None)) as svc:
        with pytest.raises(ConfigurationError) as info:
            await svc.plan(request())
    assert "ARK_API_KEY" in info.value.variables and "sandbox" in info.value.message


async def test_a_real_provider_without_its_key_is_refused_before_any_job(tmp_path):
    async with open_service(make_settings(tmp_path, provider="visual")) as svc:
        with pytest.raises(ConfigurationError, match="VOLC_ACCESSKEY"):
            await svc.start(request(), requester=ME)
        assert await svc.list_jobs() == []


async def test_image_failed_events_carry_the_index_and_reason(service):
    failed: list[ImageFailed] = []

    async def sink(event: Event) -> None:
        if isinstance(event, ImageFailed):
            failed.append(event)

    await service.generate(request(prompt="two [refuse:0]", size="1K", series=2), requester=ME, on_event=sink)
    assert [e.failure.index for e in failed] == [0]


def test_images_are_real_jpegs_not_placeholders():
    from core.emulator.images import render_image

    a, b = render_image("fox", 1, 64, 48), render_image("fox", 2, 64, 48)
    assert a != b and Image.open(io.BytesIO(a)).size == (64, 48)


async def test_cancel_stops_a_waiting_job_which_ends_interrupted_as_cancelled_and_says_so(service, emulator):
    emulator.hold = asyncio.Event()  # the provider takes the requests and says nothing yet
    events: list[Event] = []
    started = asyncio.Event()

    async def sink(event: Event) -> None:
        events.append(event)
        if isinstance(event, Started):
            started.set()

    handle = await service.start(request(size="1K", count=2), requester=ME, on_event=sink)
    await started.wait()
    assert service.cancel(handle.job_id) is True
    with pytest.raises(asyncio.CancelledError):
        await handle.wait()
    emulator.hold.set()

    record = await service.get_job(handle.job_id)
    assert record.status is JobStatus.INTERRUPTED and record.error_kind == "cancelled" and not record.images
    [finished] = [e for e in events if isinstance(e, Finished)]
    assert finished.generation.error_kind == "cancelled"
    assert service.cancel(handle.job_id) is False  # it runs no more


async def test_a_job_cancelled_the_moment_it_started_still_ends_recorded_as_cancelled(service):
    events: list[Event] = []

    async def sink(event: Event) -> None:
        events.append(event)

    handle = await service.start(request(size="1K"), requester=ME, on_event=sink)
    assert service.cancel(handle.job_id) is True  # before the job's task ran a single step
    with pytest.raises(asyncio.CancelledError):
        await handle.wait()

    record = await service.get_job(handle.job_id)
    assert record.status is JobStatus.INTERRUPTED and record.error_kind == "cancelled"
    assert isinstance(events[-1], Finished)


async def test_cancel_of_an_unknown_or_finished_job_does_nothing(service):
    generation = await service.generate(request(size="1K"), requester=ME)

    assert service.cancel(generation.job_id) is False and service.cancel("nosuchjob") is False
    assert (await service.get_job(generation.job_id)).status is JobStatus.SUCCEEDED


async def test_a_cancel_asked_for_in_another_process_stops_the_job_where_it_runs(tmp_path, http, emulator):
    emulator.hold = asyncio.Event()
    settings = make_settings(tmp_path, cancel_poll_seconds=0.01)
    # Two services over one job store, as two processes sharing it (the same file, or the same database).
    async with open_service(settings, http=http) as runner, open_service(settings, http=http) as other:
        started = asyncio.Event()

        async def sink(event: Event) -> None:
            if isinstance(event, Started):
                started.set()

        handle = await runner.start(request(size="1K"), requester=ME, on_event=sink)
        await started.wait()
        assert other.cancel(handle.job_id) is False  # not its job to stop itself…
        assert await other.request_cancel(handle.job_id, by="u2") is True  # …but it can ask
        with pytest.raises(asyncio.CancelledError):
            await handle.wait()  # the runner's next look stopped it
        emulator.hold.set()
        record = await other.get_job(handle.job_id)
        assert await other.request_cancel(handle.job_id) is False  # it has ended

    assert record.status is JobStatus.INTERRUPTED and record.error_kind == "cancelled"
    assert record.extra["cancel_requested"]["by"] == "u2"
