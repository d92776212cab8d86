"""Three ``seedream-mcp --transport http`` processes share PostgreSQL, Redis, one output folder and one Ark
account capped at 2 requests in flight (issue 16's acceptance, on loopback)."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.reliability.harness import emulator_server
from tests.scaleout.harness import ARK_KEY, TcpProxy, generate, replica, replicas, shared_env, until
from tests.services import POSTGRES_URL, RedisNamespace, eventually

pytestmark = pytest.mark.slow


@pytest.fixture
async def ark():
    """The emulated Ark account: 2 requests in flight at most (a third gets 429 InflightBatchsizeExceeded)."""
    async with emulator_server(ark_api_keys=frozenset({ARK_KEY}), ark_concurrency=2, latency=0.02) as emulator:
        yield emulator


def deployment(tmp_path: Path, postgres_url: str, redis_namespace: RedisNamespace, ark, **extra) -> dict[str, str]:
    return shared_env(tmp_path, database_url=postgres_url, redis_url=redis_namespace.url,
                      redis_prefix=redis_namespace.prefix, ark_base=ark.base, **extra)


async def test_thirty_jobs_over_three_replicas_keep_the_account_cap_with_no_rejection(
    tmp_path: Path, postgres_url: str, redis_namespace: RedisNamespace, ark
) -> None:
    env = deployment(tmp_path, postgres_url, redis_namespace, ark)
    async with replicas(env, 3) as running:
        results = await asyncio.gather(*(generate(running[i % 3], size="1024x1024") for i in range(30)))

    assert all(r["status"] == "succeeded" for r in results)
    assert len({r["job_id"] for r in results}) == 30
    assert ark.state.generated["ark"] == 30
    assert ark.state.peak_in_flight["ark"] == 2  # the cap was used to the full, and never exceeded
    assert ark.state.rejected["ark"] == 0
    shared = tmp_path / "shared-images"
    assert all(Path(r["images"][0]["path"]).is_relative_to(shared) for r in results)


async def test_any_replica_answers_for_a_job_another_runs(
    tmp_path: Path, postgres_url: str, redis_namespace: RedisNamespace, ark
) -> None:
    env = deployment(tmp_path, postgres_url, redis_namespace, ark)
    hold = ark.state.hold = asyncio.Event()
    # B answers at once (no wait for the job to move), so the test sees the job while A runs it.
    async with replica(env) as a, replica(env | {"SEEDREAM_MCP_WAIT_SECONDS": "0"}) as b:
        running = asyncio.create_task(generate(a, size="1024x1024", series=2))
        await eventually(lambda: ark.state.in_flight["ark"] == 1, what="the job to reach the provider")
        async with b.client() as client:
            listed = (await client.call_tool("list_jobs", {})).structured_content["jobs"]
            job_id = listed[0]["job_id"]
            during = (await client.call_tool("get_job", {"job_id": job_id})).structured_content
            hold.set()
            finished = await running
            after = (await client.call_tool("get_job", {"job_id": job_id, "previews": False})).structured_content
            blob = (await client.read_resource(after["images"][1]["resource_uri"])).contents[0].blob

    assert finished["job_id"] == job_id
    assert during["status"] == "running" and during["pending"] is True and during["images"] == []
    assert after["status"] == "succeeded" and len(after["images"]) == 2
    assert base64.b64decode(blob) == Path(after["images"][1]["path"]).read_bytes()


async def test_a_killed_replica_frees_its_slots_within_the_lease_and_a_survivor_closes_its_jobs(
    tmp_path: Path, postgres_url: str, redis_namespace: RedisNamespace, ark
) -> None:
    env = deployment(tmp_path, postgres_url, redis_namespace, ark, SEEDREAM_LEASE_SECONDS="2")
    ark.state.config = replace(ark.state.config, latency=0.5)  # long enough to kill a replica mid-job
    async with replica(env) as doomed, replica(env) as survivor, survivor.client() as client:
        # Four takes on the doomed replica: two in flight, two in line behind them.
        doomed_call = asyncio.create_task(generate(doomed, size="1024x1024", count=4))
        job_id = (await until(lambda: jobs_of(client), bool, what="the doomed job"))[0]["job_id"]

        async def doomed_job() -> dict:  # the job's JSON resource answers at once (get_job would follow it)
            return json.loads((await client.read_resource(f"seedream://jobs/{job_id}")).contents[0].text)

        saved = await until(doomed_job, lambda j: len(j["images"]) >= 1, what="the doomed job's first image")
        doomed.kill()  # mid-burst: its next takes are at the provider, holding both slots
        await doomed.process.wait()
        doomed_call.cancel()
        await asyncio.gather(doomed_call, return_exceptions=True)
        others = await asyncio.gather(*(generate(survivor, size="1024x1024") for _ in range(3)))
        # The survivor looks for dead processes every lease (2 s here).
        job = await until(doomed_job, lambda j: j["status"] == "interrupted", what="the survivor's recovery")
        blobs = [(await client.read_resource(i["resource_uri"])).contents[0].blob for i in job["images"]]

    assert all(o["status"] == "succeeded" for o in others)  # the dead replica's slots came back
    assert len(job["images"]) >= len(saved["images"])  # every image it saved is still listed…
    assert [base64.b64decode(b) for b in blobs] == [Path(i["path"]).read_bytes() for i in job["images"]]  # …and read
    assert ark.state.rejected["ark"] == 0 and ark.state.peak_in_flight["ark"] <= 2


async def jobs_of(client) -> list[dict]:
    return (await client.call_tool("list_jobs", {"limit": 10})).structured_content["jobs"]


@pytest.mark.parametrize("backend", ["Redis", "PostgreSQL"])
async def test_a_backend_that_stops_fails_new_jobs_clearly_and_the_service_resumes_when_it_is_back(
    tmp_path: Path, postgres_url: str, redis_namespace: RedisNamespace, ark, backend: str
) -> None:
    real = urlsplit(redis_namespace.url if backend == "Redis" else POSTGRES_URL)
    proxy = TcpProxy(real.hostname, real.port)
    await proxy.start()
    env = deployment(tmp_path, postgres_url, redis_namespace, ark)
    proxied = f"127.0.0.1:{proxy.port}"
    if backend == "Redis":
        env["SEEDREAM_REDIS_URL"] = redis_namespace.url.replace(real.netloc, proxied)
    else:
        env["SEEDREAM_DATABASE_URL"] = postgres_url.replace(real.netloc, proxied)
    async with replica(env) as server, server.client() as client:
        before = await client.call_tool("generate_image", {"prompt": "a fox", "size": "1024x1024"})
        await proxy.stop()
        down = await client.call_tool("generate_image", {"prompt": "a fox", "size": "1024x1024"})
        await proxy.start()
        back = await client.call_tool("generate_image", {"prompt": "a fox", "size": "1024x1024"})
    await proxy.stop()

    assert not before.is_error and not back.is_error  # back without restarting the replica
    assert down.is_error
    variable = "SEEDREAM_REDIS_URL" if backend == "Redis" else "SEEDREAM_DATABASE_URL"
    text = down.content[0].text
    assert "does not answer" in text and variable in text, text
    assert ark.state.generated["ark"] == 2  # nothing was sent to the provider while it was down
