"""Every real provider adapter, configured only through its environment variables, against ``seedream emulator``
running as its own process on 127.0.0.1 — and the same through the in-process sandbox."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from PIL import Image

from tests.core.test_cli import SEEDREAM, run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([SEEDREAM, "emulator", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30  # start-up of a real process: bounded readiness probe
        while True:
            try:
                httpx2.get(base + "/emulator/files/none.jpeg", timeout=1)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


PROVIDER_ENV = {
    "ark": lambda base: {"ARK_API_KEY": "ark-key", "SEEDREAM_ARK_BASE_URL": base + "/api/v3"},
    "visual": lambda base: {"VOLC_ACCESSKEY": "AKLTlocal", "VOLC_SECRETKEY": "sandbox-secret",
                            "SEEDREAM_VISUAL_BASE_URL": base},
    "chanjing": lambda base: {"CHANJING_APP_ID": "app", "CHANJING_SECRET_KEY": "secret",
                              "SEEDREAM_CHANJING_BASE_URL": base, "SEEDREAM_CHANJING_POLL_INTERVAL": "0.05"},
    "gateway": lambda base: {"SEEDREAM_GATEWAY_API_KEY": "gw-key", "SEEDREAM_GATEWAY_BASE_URL": base},
}
EXPECTED_SIZE = {"ark": (2048, 2048), "visual": (1472, 1104), "chanjing": (2304, 1728), "gateway": (2048, 2048)}
SIZE_ARGS = {"ark": ["--size", "2048x2048"], "visual": ["--size", "4:3"], "chanjing": ["--size", "4:3"],
             "gateway": ["--size", "2048x2048"]}


@pytest.mark.slow
@pytest.mark.parametrize("provider", list(PROVIDER_ENV))
def test_each_provider_generates_real_images_against_the_emulator_process(provider, emulator_url, tmp_path):
    done = run("generate", "a lighthouse at dusk", "--provider", provider, *SIZE_ARGS[provider], "--json",
               tmp_path=tmp_path, **PROVIDER_ENV[provider](emulator_url))
    assert done.returncode == 0, done.stderr
    (image,) = json.loads(done.stdout)["images"]
    with Image.open(image["path"]) as img:
        assert img.size == EXPECTED_SIZE[provider] and image["provider"] == provider


@pytest.mark.slow
def test_a_wrong_visual_secret_is_refused_by_the_emulators_signature_check(emulator_url, tmp_path):
    env = PROVIDER_ENV["visual"](emulator_url) | {"VOLC_SECRETKEY": "not-the-secret"}
    done = run("generate", "a lighthouse", "--provider", "visual", "--json", tmp_path=tmp_path, **env)
    assert done.returncode == 1
    assert "VOLC_SECRETKEY" in json.loads(done.stdout)["error"] and "not-the-secret" not in done.stdout


@pytest.mark.parametrize("provider", ["sandbox-visual", "sandbox-chanjing", "sandbox-gateway"])
def test_each_provider_runs_in_the_in_process_sandbox(provider, tmp_path: Path):
    done = run("generate", "a lighthouse", "--provider", provider, "--json", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    (image,) = json.loads(done.stdout)["images"]
    assert Path(image["path"]).exists() and image["provider"] == provider
