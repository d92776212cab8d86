"""The suite is hermetic: a test never sees the developer's keys and never reaches beyond loopback
(``tests/hermetic.py``, installed by ``tests/conftest.py``)."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import make_settings
from tests.hermetic import GUARD, NonLoopbackNetworkError, is_loopback, provider_variables

ROOT = Path(__file__).parents[1]


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    """A TCP listener on 127.0.0.1 (never accepted from: the kernel completes the handshake itself)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[:2]


def test_a_connection_to_a_private_address_is_refused_before_the_kernel_sees_it(listener):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        with sock.dup() as same_kernel_socket:
            with pytest.raises(NonLoopbackNetworkError, match=r"connect '10\.0\.0\.1:443'"):
                sock.connect(("10.0.0.1", 443))
            # Had the kernel been asked, this non-blocking socket would be mid-handshake (SYN sent) and another
            # connect would answer EALREADY; it is still fresh, so it connects to loopback at once.
            assert sock.fileno() == -1  # the refused handle is closed (no ResourceWarning later)
            assert same_kernel_socket.connect_ex(listener) in (0, errno.EINPROGRESS)
    assert GUARD.take_refused() == ["connect 10.0.0.1:443"]


async def test_a_request_to_a_provider_host_fails_at_name_resolution_naming_the_host():
    async with httpx2.AsyncClient() as client:
        with pytest.raises(Exception, match=r"resolve 'ark\.cn-beijing\.volces\.com'") as info:
            await client.post("https://ark.cn-beijing.volces.com/api/v3/images/generations", json={})
    assert isinstance(info.value, NonLoopbackNetworkError) or isinstance(
        info.value.__cause__ or info.value.__context__, NonLoopbackNetworkError
    )
    # The name was never handed to the resolver (no DNS query) and nothing was connected after it.
    assert GUARD.take_refused() == ["resolve ark.cn-beijing.volces.com"]


def test_datagrams_to_other_hosts_are_refused_too():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(NonLoopbackNetworkError):
        sock.sendto(b"query", ("8.8.8.8", 53))
    assert GUARD.take_refused() == ["send a datagram 8.8.8.8:53"]


async def test_loopback_unix_sockets_and_the_event_loops_self_pipe_still_work(listener, tmp_path: Path):
    reader, writer = await asyncio.open_connection(*listener)
    writer.close()
    await writer.wait_closed()
    for host in ("localhost", "::1"):
        assert socket.getaddrinfo(host, 80)  # resolving loopback names is local
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(str(tmp_path / "s"))
        server.listen()
        client.connect(str(tmp_path / "s"))
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"x")
        assert right.recv(1) == b"x"
    assert GUARD.take_refused() == []


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True), ("localhost", True),
    (b"127.0.0.1", True), ("10.0.0.1", False), ("0.0.0.0", False), ("::ffff:10.0.0.1", False),
    ("ark.cn-beijing.volces.com", False), ("localhost.example", False), (None, False),
])
def test_only_loopback_addresses_and_localhost_count_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_every_project_and_provider_variable_is_cleared_but_the_suites_own_switches():
    names = ["ARK_API_KEY", "VOLC_ACCESSKEY", "VOLC_SECRETKEY", "CHANJING_APP_ID", "CHANJING_SECRET_KEY",
             "SEEDREAM_GATEWAY_API_KEY", "SEEDREAM_ARK_BASE_URL", "DISCORD_TOKEN", "SEEDREAM_TEST_POSTGRES",
             "PATH", "HOME", "ARKADE"]
    assert provider_variables(names) == sorted(names[:8])


def test_make_settings_ignores_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ARK_API_KEY", "canary-from-the-environment")
    monkeypatch.setenv("SEEDREAM_ARK_BASE_URL", "http://127.0.0.1:9/api/v3")
    monkeypatch.setenv("SEEDREAM_PROVIDER", "ark")
    (tmp_path / ".env").write_text("ARK_API_KEY=canary-from-a-dotenv\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path)
    assert settings.ark_api_key is None and settings.provider == "sandbox"
    assert settings.ark_base_url == "https://ark.cn-beijing.volces.com/api/v3"


SWALLOWS = """
import os, socket

def test_sees_no_keys_but_its_own_switches():
    assert "ARK_API_KEY" not in os.environ and "SEEDREAM_ARK_BASE_URL" not in os.environ
    assert os.environ["SEEDREAM_TEST_SWITCH"] == "kept"

def test_swallows_the_refusal():
    try:
        socket.create_connection(("10.0.0.1", 443))
    except Exception:
        pass
"""


def test_a_test_that_swallows_a_refused_connection_still_fails_and_keys_never_reach_a_test(tmp_path: Path):
    (tmp_path / "test_inner.py").write_text(SWALLOWS, encoding="utf-8")
    env = os.environ | {"ARK_API_KEY": "canary", "SEEDREAM_ARK_BASE_URL": "http://127.0.0.1:9",
                        "SEEDREAM_TEST_SWITCH": "kept", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "-c", str(ROOT / "pyproject.toml"), str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 passed, 1 error" in done.stdout, done.stdout  # the error is the swallowing test's teardown
    assert "ERROR at teardown of test_swallows_the_refusal" in done.stdout
    assert "tried to reach beyond loopback: ['connect 10.0.0.1:443']" in done.stdout
