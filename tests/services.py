"""PostgreSQL and Redis for the tests: availability, isolation, and the switch that runs the suite on them.

* ``--backends=embedded`` (default) or ``--backends=services`` (or ``SEEDREAM_TEST_BACKENDS=services``):
  ``backends`` says which set the shared fixtures build the service on — the embedded SQLite file and
  in-process admission, or PostgreSQL + Redis. With ``services`` every test runs on a database schema and a
  Redis prefix of its own: ``backend_settings()`` gives the settings the shared helpers add, and the
  ``SEEDREAM_DATABASE_URL``/``SEEDREAM_REDIS_URL``/``SEEDREAM_REDIS_PREFIX`` variables are set for entry points
  run in-process or as subprocesses. A test about the embedded SQLite file itself is marked ``embedded``.
* ``postgres_url`` gives each test its own schema in the ``test`` database (``search_path`` in the URL), and
  ``redis_namespace`` its own key prefix, so tests (and test runs) never see each other's state.
* A test that needs a service which is not running skips with a one-line reason, except under ``CI=true``
  where it fails: CI must never pass by skipping.

The servers default to the loopback ones every machine of this project runs; ``SEEDREAM_TEST_POSTGRES_URL``
and ``SEEDREAM_TEST_REDIS_URL`` point elsewhere (loopback only: the tests are hermetic).
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
import pytest
import redis

from core.redis_coord import RedisCoordinator

POSTGRES_URL = os.environ.get("SEEDREAM_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SEEDREAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_HINTS = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backends", choices=("embedded", "services"),
                     default=os.environ.get("SEEDREAM_TEST_BACKENDS", "embedded"),
                     help="run the suite on the embedded defaults or on PostgreSQL + Redis")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "embedded: about the embedded SQLite job file; runs on it under any --backends")


def pytest_report_header(config: pytest.Config) -> str:
    return f"backends: {config.getoption('--backends')}"


@dataclass(frozen=True)
class Backends:
    """Where the shared fixtures keep state: None means the embedded default."""

    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str | None = None

    @property
    def shared(self) -> bool:
        return self.database_url is not None

    def settings(self) -> dict[str, str]:
        """The ``Settings`` values that put a service on these backends (none for the embedded ones)."""
        values = {"database_url": self.database_url, "redis_url": self.redis_url, "redis_prefix": self.redis_prefix}
        return {name: value for name, value in values.items() if value is not None}


#: The backends of the test that is running (set by ``backends_in_use``).
_current = Backends()


def backend_settings() -> dict[str, str]:
    """The settings the shared helpers (``make_settings``, the bot's ``open_backends``) add for this test."""
    return _current.settings()


@dataclass(frozen=True)
class RedisNamespace:
    url: str
    prefix: str


@functools.cache
def _postgres_problem() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__})"


@functools.cache
def _redis_problem() -> str | None:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3) as client:
            client.ping()
            return None
    except (redis.RedisError, OSError) as exc:
        return f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__})"


def require(service: str) -> None:
    """Skip the test when ``service`` is not running; fail instead under CI=true."""
    problem = _postgres_problem() if service == "PostgreSQL" else _redis_problem()
    if problem is None:
        return
    message = f"{problem}; start it with: {START_HINTS[service]}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL whose connections use a fresh schema of their own (dropped afterwards)."""
    require("PostgreSQL")
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def redis_namespace() -> Iterator[RedisNamespace]:
    """The test Redis and a key prefix of this test's own (its keys are deleted afterwards)."""
    require("Redis")
    prefix = f"test:{secrets.token_hex(6)}"
    yield RedisNamespace(REDIS_URL, prefix)
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)


@pytest.fixture
async def coordinator(redis_namespace: RedisNamespace) -> AsyncIterator[RedisCoordinator]:
    """A connected ``RedisCoordinator`` in the test's namespace, polling often (a test never waits long)."""
    opened = await RedisCoordinator.connect(redis_namespace.url, prefix=redis_namespace.prefix,
                                            poll_interval=0.05)
    yield opened
    await opened.close()


@pytest.fixture
def backends(request: pytest.FixtureRequest) -> Backends:
    """The backends the shared fixtures use: embedded, or (``--backends=services``) PostgreSQL + Redis."""
    if request.config.getoption("--backends") == "embedded":
        return Backends()
    database_url = request.getfixturevalue("postgres_url")
    namespace: RedisNamespace = request.getfixturevalue("redis_namespace")
    return Backends(database_url=database_url, redis_url=namespace.url, redis_prefix=namespace.prefix)


@pytest.fixture(autouse=True)
def backends_in_use(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backends]:
    """Every test runs on the chosen backends (``embedded`` tests on the SQLite file whatever the choice)."""
    global _current
    if "hermetic" in request.fixturenames:
        request.getfixturevalue("hermetic")  # it clears SEEDREAM_* first: the variables set here must stay
    chosen = Backends() if request.node.get_closest_marker("embedded") else request.getfixturevalue("backends")
    for name, value in chosen.settings().items():
        monkeypatch.setenv(f"SEEDREAM_{name.upper()}", value)
    _current = chosen
    yield chosen
    _current = Backends()


async def eventually(condition: Callable[[], bool], *, timeout: float = 30.0, what: str = "the condition") -> None:
    """Wait until ``condition()`` holds (checked every few milliseconds); fail after a generous ``timeout``.

    For state another process or a server changes, where there is no event to await."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
