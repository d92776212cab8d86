"""The rig of the fault and security suites: the emulator on a real uvicorn server at 127.0.0.1, the real
provider adapters (built from ``Settings`` by the registry) pointed at it, and a network that only reaches
loopback, records every request and can make an answer stall.

A real socket is used instead of an in-process transport because the faults live at the transport: a
connection that breaks mid-answer, a stalled body, a refused connection behave there exactly as they would
between this process and the real provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from PIL import Image
from starlette.types import ASGIApp

from core.emulator import EmulatorConfig, EmulatorState, create_app
from core.http import HttpClient, RetryPolicy
from core.jobs_sql import SqlJobStore
from core.limits import AdmissionRegistry
from core.providers.base import Provider
from core.providers.chanjing import ChanjingProvider
from core.providers.registry import ProviderRegistry
from core.results import GeneratedImage
from core.service import ImageService
from core.settings import Settings
from core.storage import ImageStorage

#: The four provider kinds and where each one's generation request goes.
GENERATION_PATHS = {
    "ark": "/api/v3/images/generations",
    "gateway": "/v1/images/generations",
    "visual": "/",
    "chanjing": "/open/v1/ai_creation/task/submit",
}
ROUTE_PATHS = GENERATION_PATHS | {
    "chanjing.token": "/open/v1/access_token",
    "chanjing.query": "/open/v1/ai_creation/task",
    "files": "/emulator/files/",
}


class FakeTime:
    """A clock that moves only when the code under test sleeps; remembers every sleep."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@dataclass
class Stall:
    """The answer to the next ``times`` requests to ``path`` stops coming (a read timeout) after
    ``after_frames`` SSE frames — at once when 0. The server has received the request (and billed it)."""

    path: str
    after_frames: int = 0
    times: int = 1
    mid_body: bool = False  # instead: the headers and half the body arrive, then nothing


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LoopbackNetwork(httpx2.AsyncBaseTransport):
    """The only network the tests have: loopback. Every request is recorded; one to any other host is
    refused as a connection error and recorded in ``refused`` (so a test can prove nothing tried)."""

    def __init__(self, *, stalls: list[Stall] | None = None) -> None:
        self._inner = httpx2.AsyncHTTPTransport(
            verify=False
        )  # plain http on loopback; skips loading CA certs
        self.sent: list[httpx2.Request] = []
        self.refused: list[str] = []
        self.stalls = stalls if stalls is not None else []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if not is_loopback(request.url.host):
            self.refused.append(str(request.url))
            raise httpx2.ConnectError(f"test network: {request.url.host} is not loopback", request=request)
        self.sent.append(request)
        response = await self._inner.handle_async_request(request)
        stall = self._take_stall(request)
        if stall is None:
            return response
        if stall.mid_body:
            body = await response.aread()
            return httpx2.Response(response.status_code, headers=response.headers, request=request,
                                   stream=_HalfBodyStream(body))
        if stall.after_frames == 0:
            await response.aclose()
            raise httpx2.ReadTimeout("test network: the answer stalled", request=request)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            request=request,
            stream=_StallingStream(response, stall.after_frames),
        )

    def count(self, path: str) -> int:
        """Requests sent to ``path`` (without the query), or under it when it is a folder (``…/``)."""
        folder = len(path) > 1 and path.endswith("/")
        return sum(1 for r in self.sent if r.url.path == path or (folder and r.url.path.startswith(path)))

    def _take_stall(self, request: httpx2.Request) -> Stall | None:
        for stall in self.stalls:
            if stall.times > 0 and request.url.path == stall.path:
                stall.times -= 1
                return stall
        return None

    async def aclose(self) -> None:
        await self._inner.aclose()


class _StallingStream(httpx2.AsyncByteStream):
    """Passes ``frames`` SSE frames through, then times out."""

    def __init__(self, response: httpx2.Response, frames: int) -> None:
        self._response = response
        self._frames = frames

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._response.stream:
            while chunk:
                end = chunk.find(b"\n\n")
                if end < 0:
                    yield chunk
                    break
                yield chunk[: end + 2]
                chunk = chunk[end + 2 :]
                seen += 1
                if seen >= self._frames:
                    raise httpx2.ReadTimeout("test network: the stream stalled")

    async def aclose(self) -> None:
        await self._response.aclose()


class _HalfBodyStream(httpx2.AsyncByteStream):
    """Half of ``body``, then a read timeout."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._body[: len(self._body) // 2]
        raise httpx2.ReadTimeout("test network: the answer stalled mid-body")


@dataclass
class Emulator:
    """A running emulator: ``base`` (``http://127.0.0.1:PORT``) and its state (faults, counters, hold)."""

    base: str
    state: EmulatorState
    initial: EmulatorConfig

    def reset(self, **config: Any) -> EmulatorState:
        """Forget every fault, count and hold; start again from the initial config changed by ``config``."""
        state = self.state
        state.faults.clear()
        state.requests.clear()
        state.generated.clear()
        state.peak_in_flight.clear()
        state.rejected.clear()
        state.hold = None
        state.config = replace(self.initial, **config)
        return state


class _LoopbackServer(uvicorn.Server):
    """uvicorn without its signal handling: the test runner owns SIGINT. (uvicorn would save the handler of
    the ``asyncio.Runner`` that started it and restore it when stopped from another ``run`` call, leaving a
    stale handler whose repr every later ``Runner.run`` computes — slowing later tests a hundredfold.)"""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """``app`` on uvicorn at 127.0.0.1 on a free port, in this event loop; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Accepted connections inherit this: without it, headers and body written apart meet the peer's delayed
    # ACK and every answer takes 40 ms longer.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections wait in the backlog until uvicorn accepts them: no start-up polling
    # log_config=None: uvicorn must not reconfigure logging (the secrets suite captures it).
    server = _LoopbackServer(uvicorn.Config(app, log_config=None, lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def emulator_server(**config: Any) -> AsyncIterator[Emulator]:
    """The emulator on uvicorn at 127.0.0.1; its result URLs point at itself."""
    state = EmulatorState(EmulatorConfig(**config))
    async with serve(create_app(state=state)) as base:
        state.config = replace(state.config, public_base_url=base)
        yield Emulator(base, state, state.config)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


#: Credentials of the emulated accounts (the emulator is configured to accept exactly these).
KEYS = {
    "ark_api_key": "ark-test-key",
    "gateway_api_key": "gateway-test-key",
    "volc_accesskey": "AKLTtestaccess",
    "volc_secretkey": "visual-test-secret",
    "chanjing_app_id": "app-test",
    "chanjing_secret_key": "cj-secret",
}


def emulator_accounts(keys: dict[str, str]) -> dict[str, Any]:
    """``EmulatorConfig`` fields that make the emulator accept exactly ``keys``."""
    return {
        "ark_api_keys": frozenset({keys["ark_api_key"]}),
        "gateway_api_keys": frozenset({keys["gateway_api_key"]}),
        "visual_access_key": keys["volc_accesskey"],
        "visual_secret_key": keys["volc_secretkey"],
        "chanjing_app_id": keys["chanjing_app_id"],
        "chanjing_secret_key": keys["chanjing_secret_key"],
    }


def provider_settings(
    tmp_path: Path, base: str, *, keys: dict[str, str] = KEYS, **overrides: Any
) -> Settings:
    """Settings for the real providers with every base URL pointed at ``base``."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "provider": None,
        "ark_base_url": base + "/api/v3",
        "gateway_base_url": base,
        "visual_base_url": base,
        "chanjing_base_url": base,
        **keys,
    }
    return Settings(_env_file=None, **(values | overrides))


class ChanjingOnTestTime:
    """The project's ``ProviderRegistry``, except that Chanjing's poll loop (its waits between polls and its
    deadline) runs on the test's clock, so a 300 s deadline passes in no real time."""

    def __init__(self, settings: Settings, http: HttpClient, time: FakeTime) -> None:
        self._registry = ProviderRegistry(settings, http)
        self._settings = settings
        self._http = http
        self._time = time
        self._chanjing: dict[str, Provider] = {}

    def get(self, provider: str) -> Provider:
        adapter = self._registry.get(provider)  # credentials and names checked exactly as in production
        if adapter.name != "chanjing":
            return adapter
        if provider not in self._chanjing:
            s = self._settings
            assert s.chanjing_app_id is not None and s.chanjing_secret_key is not None
            self._chanjing[provider] = ChanjingProvider(
                http=self._http,
                base_url=s.chanjing_base_url,
                app_id=s.chanjing_app_id.get_secret_value(),
                secret_key=s.chanjing_secret_key,
                poll_interval=s.chanjing_poll_interval,
                deadline=s.chanjing_deadline,
                sleep=self._time.sleep,
                clock=self._time,
            )
        return self._chanjing[provider]


@asynccontextmanager
async def open_service(settings: Settings, http: HttpClient, time: FakeTime) -> AsyncIterator[ImageService]:
    """``ImageService`` assembled as ``ImageService.open`` does, with Chanjing polling on test time."""
    async with SqlJobStore.open(settings.jobs_path, output_dir=settings.images_dir) as store:
        service = ImageService(
            settings=settings,
            http=http,
            store=store,
            storage=ImageStorage(settings.images_dir, http, max_download_bytes=settings.max_download_bytes),
            admission=AdmissionRegistry.from_settings(settings, clock=time, sleep=time.sleep),
            providers=ChanjingOnTestTime(settings, http, time),
        )  # type: ignore[arg-type]
        try:
            yield service
        finally:
            await service.drain()


@dataclass
class Rig:
    """Everything one test needs: the emulator, the network, test time and the service."""

    emulator: Emulator
    network: LoopbackNetwork
    time: FakeTime
    service: ImageService
    settings: Settings
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> EmulatorState:
        return self.emulator.state


@asynccontextmanager
async def rig(
    tmp_path: Path,
    emulator: Emulator,
    *,
    config: dict[str, Any] | None = None,
    keys: dict[str, str] = KEYS,
    settings: Callable[[str], dict[str, Any]] | None = None,
    stalls: list[Stall] | None = None,
    max_retries: int = 3,
) -> AsyncIterator[Rig]:
    """A service whose providers point at ``emulator`` (reset to accept ``keys``, changed by ``config``).

    ``settings(base)`` returns overrides of the provider settings (e.g. to point a provider elsewhere).
    """
    time = FakeTime()
    emulator.reset(**(emulator_accounts(keys) | (config or {})))
    network = LoopbackNetwork(stalls=stalls)
    http = HttpClient.create(transport=network, retry=RetryPolicy(max_retries=max_retries), sleep=time.sleep)
    try:
        values = provider_settings(
            tmp_path, emulator.base, keys=keys, **(settings(emulator.base) if settings else {})
        )
        async with open_service(values, http, time) as service:
            yield Rig(emulator, network, time, service, values)
    finally:
        if emulator.state.hold is not None:
            emulator.state.hold.set()  # nothing may stay waiting on the shared server
        await http.aclose()


def decodable(image: GeneratedImage) -> bool:
    """The saved file is a whole image of the reported size."""
    with Image.open(image.path) as opened:
        opened.load()
        return opened.size == (image.width, image.height)


def leftovers(folder: Path) -> list[Path]:
    """Temporary files left behind under ``folder``."""
    return sorted(p for p in folder.rglob("*") if p.name.endswith(".part"))
