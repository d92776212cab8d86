"""Secrets never leak. Every provider path runs with recognisable fake keys ("LEAKCANARY") — successes,
refusals, outages, broken answers, a revoked Chanjing token, refused keys — against the emulator on
127.0.0.1, which accepts exactly those keys. Then every place a key could end up is searched: the logs at
DEBUG (ours, httpx's, uvicorn's), stdout and stderr, the results and error messages, the sidecars and
image files, the raw bytes of the job store (database, WAL and shared-memory files), the CLI's output with
``--verbose``, and the MCP tools' results. The Chanjing access tokens the emulator issued are secrets too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client

from core.emulator import Fault
from core.jobs import Requester
from core.requests import GenerateRequest
from core.results import Generation
from mcp_server.server import build_server
from mcp_server.settings import McpSettings
from tests.reliability.harness import Emulator, Rig, closed_port_url, emulator_accounts, emulator_server, rig

pytestmark = pytest.mark.asyncio(loop_scope="module")

CANARY = "LEAKCANARY"
KEYS = {
    "ark_api_key": "sk-LEAKCANARY-ark-7f3a9c",
    "gateway_api_key": "sk-LEAKCANARY-gateway-51be02",
    "volc_accesskey": "AKLTLEAKCANARYaccess9d1e",
    "volc_secretkey": "LEAKCANARY-volc-secret-4c8b",
    "chanjing_app_id": "LEAKCANARY-chanjing-app-77",
    "chanjing_secret_key": "LEAKCANARY-chanjing-secret-a02f",
}
WRONG_KEYS = {name: value.replace(CANARY, CANARY + "-WRONG") for name, value in KEYS.items()}
DISCORD_TOKEN = "LEAKCANARY.discord-token.0b7e"
MCP_TOKEN = "LEAKCANARY-mcp-token-66d1"
ENV_NAMES = {"ark_api_key": "ARK_API_KEY", "gateway_api_key": "SEEDREAM_GATEWAY_API_KEY",
             "volc_accesskey": "VOLC_ACCESSKEY", "volc_secretkey": "VOLC_SECRETKEY",
             "chanjing_app_id": "CHANJING_APP_ID", "chanjing_secret_key": "CHANJING_SECRET_KEY"}
PROVIDERS = ("ark", "gateway", "visual", "chanjing")
#: The keys each provider really sends (Visual signs with its secret key and never sends it).
SENT = {"ark": {"ark_api_key"}, "gateway": {"gateway_api_key"}, "visual": {"volc_accesskey"},
        "chanjing": {"chanjing_app_id", "chanjing_secret_key"}}
SIZE = {"ark": "1K", "gateway": "1K", "visual": "512x512", "chanjing": "1K"}
ME = Requester(adapter="test", user_id="secrets")

#: Faults that make error messages (the likeliest place for a key to slip into), per provider.
FAULTS: dict[str, list[Fault]] = {
    "ark": [Fault("ark", status=500, times=9), Fault("ark", kind="malformed"), Fault("ark", status=401)],
    "gateway": [Fault("gateway", status=429, code="QuotaExceeded"), Fault("gateway", kind="reset")],
    "visual": [Fault("visual", code=50500, times=9), Fault("visual", code="SignatureDoesNotMatch"),
               Fault("visual", kind="malformed")],
    "chanjing": [Fault("chanjing", route="submit", code=40000, message="secret_key 错误"),
                 Fault("chanjing", route="query", code=10400), Fault("chanjing", route="token", status=503)],
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[Emulator]:
    async with emulator_server(**emulator_accounts(KEYS)) as emulator:
        yield emulator


def issued_tokens(r: Rig) -> set[str]:
    """Every Chanjing access token that went over the wire."""
    return {req.headers["access_token"] for req in r.network.sent if "access_token" in req.headers}


def keys_sent(r: Rig) -> set[str]:
    """The canary keys that really went to the emulator (so their absence elsewhere means something)."""
    wire = b" ".join(b"%s %s" % (request.headers.get("authorization", "").encode(), request.content)
                     for request in r.network.sent)
    return {name for name, value in KEYS.items() if value.encode() in wire}


def files_under(folder: Path) -> Iterable[tuple[str, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield str(path), path.read_bytes()


def assert_no_secret(texts: Iterable[tuple[str, str | bytes]], extra: Iterable[str] = ()) -> None:
    needles = [CANARY, *extra]
    for where, text in texts:
        data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        for needle in needles:
            assert needle.encode() not in data, f"{needle[:14]}… found in {where}"


async def run(r: Rig, provider: str, **fields: Any) -> Generation:
    request = GenerateRequest.create(**({"prompt": "a lighthouse", "provider": provider,
                                         "size": SIZE[provider]} | fields))
    return await r.service.generate(request, requester=ME)


async def every_path(r: Rig, provider: str) -> list[Generation]:
    """A success, a moderation refusal, then each scripted fault, for one provider."""
    count = 1 if provider == "visual" else 2
    results = [await run(r, provider, count=count), await run(r, provider, prompt="something forbidden")]
    for fault in FAULTS[provider]:
        r.state.faults.clear()
        r.state.add_fault(Fault(**{**fault.__dict__}))
        results.append(await run(r, provider))
    return results


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    return caplog


def log_texts(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    texts = [("log text", caplog.text)]
    texts += [(f"log record {r.name}", f"{r.getMessage()} {r.args!r} {r.exc_text or ''}")
              for r in caplog.records]
    return texts


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_key_or_token_appears_in_logs_results_sidecars_or_the_job_store(
        provider: str, tmp_path: Path, server: Emulator, logs: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]):
    async with rig(tmp_path, server, keys=KEYS) as r:
        generations = await every_path(r, provider)
        records = [await r.service.get_job(g.job_id) for g in generations]
        tokens = issued_tokens(r)
    assert generations[0].images and any(g.error for g in generations)  # both kinds of path were taken
    assert keys_sent(r) == SENT[provider]  # the canaries were really used, and nothing else went out
    assert any(record.name.startswith(("httpx", "httpcore")) for record in logs.records)  # DEBUG was on
    if provider == "chanjing":
        assert len(tokens) >= 2  # the revoked token and its replacement
    out, err = capfd.readouterr()
    results = [(f"generation {g.job_id}", json.dumps(g.to_dict(), ensure_ascii=False)) for g in generations]
    stored = [(f"record {x.id}", json.dumps(x.to_generation().to_dict(), ensure_ascii=False))
              for x in records]
    assert_no_secret([*log_texts(logs), ("stdout", out), ("stderr", err), *results, *stored,
                      *files_under(tmp_path / "data")], extra=tokens)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_refused_and_unreachable_keys_do_not_leak_either(
        provider: str, tmp_path: Path, server: Emulator, logs: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]):
    async with rig(tmp_path / "wrong", server, keys=KEYS, settings=lambda base: WRONG_KEYS) as r:
        refused = await run(r, provider)
    dead = closed_port_url()
    offline = {"ark_base_url": dead + "/api/v3", "gateway_base_url": dead, "visual_base_url": dead,
               "chanjing_base_url": dead}
    async with rig(tmp_path / "offline", server, keys=KEYS, settings=lambda base: offline) as r:
        unreachable = await run(r, provider)
    assert refused.error_kind == "authentication" and unreachable.error_kind == "unavailable"
    out, err = capfd.readouterr()
    results = [("refused", json.dumps(refused.to_dict())), ("unreachable", json.dumps(unreachable.to_dict()))]
    assert_no_secret([*log_texts(logs), ("stdout", out), ("stderr", err), *results, *files_under(tmp_path)])


async def test_mcp_results_never_show_a_key(tmp_path: Path, server: Emulator,
                                            logs: pytest.LogCaptureFixture):
    async with rig(tmp_path, server, keys=KEYS) as r:
        mcp = McpSettings(_env_file=None, token=MCP_TOKEN, allowed_dirs=str(tmp_path), inline_budget=0,
                          heartbeat_seconds=3600.0)
        results = []
        async with Client(build_server(mcp_settings=mcp, service=r.service), mode="legacy") as client:
            for provider in PROVIDERS:
                arguments = {"prompt": "a lighthouse", "provider": provider, "size": SIZE[provider]}
                results.append(await client.call_tool("generate_image", arguments))
                r.state.add_fault(Fault(provider, status=500, times=9) if provider != "chanjing"
                                  else Fault("chanjing", route="submit", status=500))
                results.append(await client.call_tool("generate_image", arguments))
            results.append(await client.call_tool("list_jobs", {"limit": 50}))
        tokens = issued_tokens(r)
    assert not results[0].is_error and results[1].is_error
    texts = [(f"mcp result {i}", json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
             for i, result in enumerate(results)]
    assert_no_secret([*texts, *log_texts(logs)], extra=[MCP_TOKEN, *tokens])


@pytest.mark.slow
async def test_the_cli_never_prints_a_key_even_when_verbose(tmp_path: Path, server: Emulator):
    server.reset(**emulator_accounts(KEYS))
    ours = ("SEEDREAM_", "ARK_", "VOLC_", "CHANJING_", "DISCORD_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env |= {ENV_NAMES[name]: value for name, value in KEYS.items()} | {
        "HOME": str(tmp_path), "SEEDREAM_DATA_DIR": str(tmp_path / "data"), "DISCORD_TOKEN": DISCORD_TOKEN,
        "SEEDREAM_MCP_TOKEN": MCP_TOKEN, "SEEDREAM_ARK_BASE_URL": server.base + "/api/v3",
        "SEEDREAM_GATEWAY_BASE_URL": server.base, "SEEDREAM_VISUAL_BASE_URL": server.base,
        "SEEDREAM_CHANJING_BASE_URL": server.base, "SEEDREAM_CHANJING_POLL_INTERVAL": "0.01"}
    runs = [["generate", "a lighthouse", "--provider", p, "--size", SIZE[p], "--json"] for p in PROVIDERS]
    runs += [["generate", "a lighthouse", "--provider", "ark", "--json"], ["jobs", "--json"], ["models"]]
    outputs = []
    for index, args in enumerate(runs):
        if index == len(PROVIDERS):  # one refused key too
            env["ARK_API_KEY"] = WRONG_KEYS["ark_api_key"]
        process = await asyncio.create_subprocess_exec(
            Path(sys.executable).parent / "seedream", "--verbose", *args, env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        outputs.append((" ".join(args), out + err))
    assert b'"images": [{' in outputs[0][1] and b"ARK_API_KEY" in outputs[len(PROVIDERS)][1]
    assert_no_secret([*outputs, *files_under(tmp_path / "data")], extra=[DISCORD_TOKEN, MCP_TOKEN])
