"""Hostile input to the request model: whatever arrives, the answer is a valid plan or a clear
``InvalidRequestError`` (or ``ConfigurationError``) — never a crash, never a job, never a provider call.

Property tests run thousands of generated requests through the real ``ImageService.plan`` / ``start`` on the
sandbox; the named cases below them are the specific attacks of issue 7 (path escapes, fake and giant
images, decompression bombs, URL schemes, huge or control-character prompts).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.catalog import MODELS
from core.emulator import EmulatorConfig, EmulatorState
from core.errors import ConfigurationError, InvalidRequestError
from core.factory import open_service
from core.http import HttpClient
from core.jobs import Requester
from core.references import ReferencePolicy
from core.requests import MAX_COUNT, MAX_PROMPT_CHARS, GenerateRequest, Plan
from core.results import JobStatus
from core.sandbox import SANDBOX_ORIGIN, sandbox_mount
from core.service import ImageService
from tests.conftest import make_settings
from tests.security.files import HostileFiles, make_hostile_files

ME = Requester(adapter="test", user_id="hostile")
EXAMPLES = 2000


@dataclass
class Planner:
    """A sandbox service in its own event loop, shared by every example of the module."""

    loop: asyncio.AbstractEventLoop
    service: ImageService
    emulator: EmulatorState
    files: HostileFiles

    def run(self, coroutine: Any) -> Any:
        # A bare loop, not asyncio.Runner: Runner.run inspects the SIGINT handler on every call, and a
        # handler left behind by another test can make that inspection slow.
        return self.loop.run_until_complete(coroutine)


@pytest.fixture(scope="module")
def planner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planner]:
    root = tmp_path_factory.mktemp("hostile")
    files = make_hostile_files(root)
    emulator = EmulatorState(EmulatorConfig(public_base_url=SANDBOX_ORIGIN))
    loop = asyncio.new_event_loop()
    http = HttpClient.create(mounts=sandbox_mount(emulator))
    opened = open_service(
        make_settings(root), http=http, reference_policy=ReferencePolicy(allowed_roots=(files.allowed,))
    )
    planner = Planner(loop, loop.run_until_complete(opened.__aenter__()), emulator, files)
    try:
        yield planner
    finally:
        planner.run(opened.__aexit__(None, None, None))
        planner.run(http.aclose())
        planner.run(loop.shutdown_default_executor())
        loop.close()


# -- strategies ---------------------------------------------------------------------------------------------

TEXT = st.text(max_size=24)
# Values of every wrong type, drawn from a list: cheap to generate, so the examples go to the code under test.
JUNK = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            -1,
            2**63,
            10**100,
            1e308,
            float("nan"),
            float("inf"),
            b"\x00",
            b"bytes",
            [],
            {},
            ["a", 1],
            {"a": 1},
            (),
            "",
            "\x00",
            object(),
        ]
    ),
    st.integers(),
    TEXT,
)
NAMES = sorted(
    {m.key for m in MODELS} | {a for m in MODELS for a in m.aliases} | {m.wire_name for m in MODELS}
)
PROMPTS = st.one_of(
    st.sampled_from(
        [
            "a fox in snow",
            "狐狸 🦊 in snow",
            "x" * MAX_PROMPT_CHARS,
            "x" * (MAX_PROMPT_CHARS + 1),
            "x" * 100_000,
            "a\x00b",
            "\x1b[31mred",
            "\ud800 lone surrogate",
            " \n\t ",
            "line\nbreak",
            "right-to-left \u202e override",
            "[refuse:0] [fail:1]",
        ]
    ),
    st.text(max_size=80),
    JUNK,
)
SIZES = st.one_of(
    st.sampled_from(
        [
            "1K",
            "1.5K",
            "2K",
            "3K",
            "4K",
            "1k",
            "adaptive",
            "1024x1024",
            "2048*2048",
            "4096×4096",
            "16:9",
            "9:16",
            "21:9",
            "1:0",
            "0:1",
            "0x0",
            "1x99999",
            "99999x1",
            " 2K ",
            "2K; DROP TABLE",
        ]
    ),
    st.builds(lambda w, h: f"{w}x{h}", st.integers(0, 10**7), st.integers(0, 10**7)),
    TEXT,
    JUNK,
)


def reference_strategy(files: HostileFiles) -> st.SearchStrategy[Any]:
    allowed = str(files.allowed)
    good = base64.b64encode(files.good_png.read_bytes()).decode()
    return st.one_of(
        st.sampled_from(
            [
                str(files.good_png),
                str(files.good_jpeg),
                f"file://{files.good_png}",
                str(files.secret),
                f"{allowed}/../outside/secret.png",
                f"{allowed}/escape.png",
                f"{allowed}/escape-dir/secret.png",
                f"file://{files.secret}",
                "file://evil.example/share/x.png",
                f"{allowed}/not-an-image.png",
                f"{allowed}/bomb.png",
                f"{allowed}/giant.png",
                f"{allowed}/sixty-megabytes.png",
                f"{allowed}/missing.png",
                "relative/path.png",
                "~/x.png",
                "/dev/zero",
                "/etc/passwd",
                "/proc/self/environ",
                allowed,
                "https://example.com/a.png",
                "http://10.0.0.1/a.png",
                "http://[::1]/a.png",
                "https://",
                "http://",
                "ftp://example.com/a.png",
                "gopher://example.com/",
                "javascript:alert(1)",
                "smb://host/share/a.png",
                f"data:image/png;base64,{good}",
                f"data:image/PNG;base64,{good}",
                "data:image/png;base64,!!!",
                "data:text/html;base64,PGgxPmhpPC9oMT4=",
                "data:,",
                "\x00",
                "/tmp/\x00.png",
                "x" * 5000,
                "/" + "a" * 300 + ".png",
                "",
            ]
        ),
        TEXT,
    )


def request_fields(files: HostileFiles) -> st.SearchStrategy[dict[str, Any]]:
    """Half plausible requests (valid values, maybe in invalid combinations), half anything at all."""
    plausible: dict[str, st.SearchStrategy[Any]] = {
        "provider": st.sampled_from(["sandbox", "sandbox-visual", "sandbox-chanjing", "sandbox-gateway"]),
        "model": st.sampled_from(NAMES),
        "size": st.sampled_from(["1K", "2K", "4K", "1024x1024", "2048x2048", "16:9", "adaptive", "512x512"]),
        "count": st.integers(1, 16),
        "seed": st.integers(-1, 2**31),
        "guidance": st.floats(1, 10),
        "watermark": st.booleans(),
        "images": st.lists(
            st.sampled_from([str(files.good_png), str(files.good_jpeg), "https://example.com/a.png"]),
            max_size=3,
        ).map(tuple),
        "output_format": st.sampled_from(["jpeg", "png"]),
        "stream": st.booleans(),
    }
    hostile: dict[str, st.SearchStrategy[Any]] = {
        "provider": st.one_of(
            st.sampled_from(["sandbox", "SANDBOX", " sandbox ", "ark", "visual", "nope", ""]), JUNK
        ),
        "model": st.one_of(st.sampled_from([*NAMES, "", "../x", "seedream-9"]), JUNK),
        "size": SIZES,
        "aspect_ratio": st.one_of(st.sampled_from(["16:9", "1:1", "4:3", "7:5", "0:0", "16 : 9"]), JUNK),
        "count": st.one_of(st.integers(-3, 20), JUNK),
        "seed": st.one_of(st.integers(-(2**40), 2**40), JUNK),
        "guidance": st.one_of(st.floats(), JUNK),
        "watermark": st.one_of(st.booleans(), JUNK),
        "images": st.one_of(st.lists(reference_strategy(files), max_size=16).map(tuple), JUNK),
        "output_format": st.one_of(st.sampled_from(["jpeg", "png", "webp"]), JUNK),
        "response_format": st.one_of(st.sampled_from(["url", "b64_json", "file"]), JUNK),
        "stream": st.one_of(st.booleans(), JUNK),
        "web_search": st.one_of(st.booleans(), JUNK),
        "prompt_mode": st.one_of(st.sampled_from(["standard", "fast", "slow"]), JUNK),
        "__class__": JUNK,
        "bogus": JUNK,
    }
    return st.one_of(
        st.fixed_dictionaries({"prompt": st.sampled_from(["a fox", "狐狸 in snow"])}, optional=plausible),
        st.fixed_dictionaries({"prompt": PROMPTS}, optional=hostile),
    )


# -- the property -------------------------------------------------------------------------------------------


async def plan_or_refusal(service: ImageService, fields: dict[str, Any]) -> Plan | Exception:
    """The plan, or the clear refusal; a refused request is refused by ``start`` too, and no job is made."""
    try:
        request = GenerateRequest.create(**fields)
    except InvalidRequestError as exc:
        return exc
    try:
        return await service.plan(request)
    except (InvalidRequestError, ConfigurationError) as exc:
        with pytest.raises(type(exc)):
            await service.start(request, requester=ME)
        return exc


def assert_sound(plan: Plan) -> None:
    """A plan only holds what its model accepts."""
    model = plan.model
    assert 1 <= plan.count <= MAX_COUNT and 0 <= plan.series <= model.max_outputs
    assert plan.series == 0 or (plan.count == 1 and plan.series >= 2 and model.series)
    assert model.min_references <= len(plan.references) <= model.max_references
    assert all(r.wire.startswith(("data:image/", "http://", "https://")) for r in plan.references)
    assert 0 < len(plan.request.prompt) <= MAX_PROMPT_CHARS
    if plan.size.wxh:
        assert model.sizes.min_pixels <= plan.size.width * plan.size.height <= model.sizes.max_pixels


def assert_clear(error: Exception) -> None:
    message = str(error)
    assert message and len(message) < 600 and "Traceback" not in message
    if isinstance(error, InvalidRequestError):
        assert error.field and error.allowed and f"Invalid {error.field}" in message


def test_any_request_is_a_sound_plan_or_a_clear_refusal_that_reaches_no_provider(planner: Planner):
    seen: dict[str, int] = {"plan": 0, "refused": 0}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(fields=request_fields(planner.files))
    def check(fields: dict[str, Any]) -> None:
        outcome = planner.run(plan_or_refusal(planner.service, fields))
        if isinstance(outcome, Plan):
            assert_sound(outcome)
            seen["plan"] += 1
        else:
            assert isinstance(outcome, InvalidRequestError | ConfigurationError), repr(outcome)
            assert_clear(outcome)
            seen["refused"] += 1
        assert planner.emulator.requests.total() == 0

    check()
    assert planner.run(planner.service.list_jobs()) == []  # nothing refused ever became a job
    assert seen["plan"] > EXAMPLES // 20 and seen["refused"] > EXAMPLES // 2  # both sides were exercised


def test_any_reference_in_an_otherwise_valid_request_is_loaded_or_refused_clearly(planner: Planner):
    """Most hostile requests fail before their references are read: here only the reference varies."""
    paths = st.text(st.sampled_from("/.\x00~ab%:"), max_size=12).map(
        lambda tail: str(planner.files.allowed) + tail
    )

    @settings(
        max_examples=EXAMPLES // 2,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(reference=st.one_of(reference_strategy(planner.files), paths, st.text(max_size=60)))
    def check(reference: str) -> None:
        outcome = planner.run(
            plan_or_refusal(
                planner.service, {"prompt": "edit", "provider": "sandbox", "images": (reference,)}
            )
        )
        if isinstance(outcome, Plan):
            (loaded,) = outcome.references
            local = not (loaded.is_url or reference.strip().startswith("data:"))
            assert not local or Path(loaded.source).resolve().is_relative_to(planner.files.allowed)
        else:
            assert isinstance(outcome, InvalidRequestError) and outcome.field == "images[0]", repr(outcome)
            assert_clear(outcome)
        assert planner.emulator.requests.total() == 0

    check()


# -- the named attacks --------------------------------------------------------------------------------------

#: (case, reference, what the refusal must say) — every one refused before a byte of it goes anywhere.
REFERENCE_ATTACKS = [
    ("dot-dot escape", "{allowed}/../outside/secret.png", "outside the allowed folders"),
    ("symlinked file escape", "{allowed}/escape.png", "outside the allowed folders"),
    ("symlinked folder escape", "{allowed}/escape-dir/secret.png", "outside the allowed folders"),
    ("file:// outside the roots", "file://{outside}/secret.png", "outside the allowed folders"),
    ("file:// dot-dot escape", "file://{allowed}/../outside/secret.png", "outside the allowed folders"),
    ("file:// on another host", "file://evil.example/share/secret.png", "file:// URIs on this machine"),
    ("a device", "/dev/zero", "outside the allowed folders"),
    ("relative path", "../outside/secret.png", "relative paths are ambiguous"),
    ("NUL in a path", "{allowed}/good.png\x00.txt", "not a usable path"),
    ("a path too long for the OS", "{allowed}/" + "a" * 5000 + ".png", "it cannot be read"),
    ("non-image renamed .png", "{allowed}/not-an-image.png", "not a readable image"),
    ("decompression bomb", "{allowed}/bomb.png", "a decompression bomb"),
    ("10000x10000 PNG", "{allowed}/giant.png", "at most 36,000,000 pixels"),
    ("60 MB file", "{allowed}/sixty-megabytes.png", "the file is 60 MiB"),
    ("ftp URL", "ftp://example.com/a.png", "unsupported scheme 'ftp'"),
    ("gopher URL", "gopher://example.com/1", "unsupported scheme 'gopher'"),
    ("smb URL", "smb://fileserver/share/a.png", "unsupported scheme 'smb'"),
    ("javascript: URL", "javascript:alert(1)", "unsupported scheme 'javascript'"),
    ("data: URI that is not an image", "data:text/html;base64,PGgxPmhpPC9oMT4=", "data:image/<format>"),
    ("data: URI of a non-image", "data:image/png;base64,SGVsbG8gd29ybGQ=", "not a readable image"),
    ("http URL without a host", "http:///etc/passwd", "a well-formed http(s) URL"),
]


@pytest.mark.parametrize("case, reference, says", REFERENCE_ATTACKS, ids=[c[0] for c in REFERENCE_ATTACKS])
def test_a_hostile_reference_is_refused_clearly_before_any_job_or_provider_call(
    planner: Planner, case: str, reference: str, says: str
):
    source = reference.format(allowed=planner.files.allowed, outside=planner.files.outside)
    request = GenerateRequest.create(prompt="edit this", provider="sandbox", images=(source,))
    with pytest.raises(InvalidRequestError) as refused:
        planner.run(planner.service.start(request, requester=ME))
    assert refused.value.field == "images[0]" and says in refused.value.message
    assert_clear(refused.value)
    assert planner.emulator.requests.total() == 0 and planner.run(planner.service.list_jobs()) == []


def test_a_decompression_bomb_in_a_data_uri_is_refused_from_its_header(planner: Planner):
    bomb = base64.b64encode((planner.files.allowed / "bomb.png").read_bytes()).decode()
    request = GenerateRequest.create(
        prompt="edit this", provider="sandbox", images=(f"data:image/png;base64,{bomb}",)
    )
    with pytest.raises(InvalidRequestError, match="a decompression bomb"):
        planner.run(planner.service.plan(request))


@pytest.mark.parametrize("provider", ["sandbox", "sandbox-visual", "sandbox-chanjing", "sandbox-gateway"])
@pytest.mark.parametrize(
    "prompt, says",
    [
        ("x" * 100_000, "at most 4000 characters"),
        ("a red fox\x00; rm -rf /", "contains U+0000"),
        ("\x1b[2J\x1b[31mred", "contains U+001B"),
        ("a fox\x7f", "contains U+007F"),
        ("\ud800 half a character", "contains U+D800"),
        ("   \n\t  ", "a non-empty description"),
    ],
)
def test_an_unusable_prompt_is_refused_with_a_short_message_on_every_provider(
    planner: Planner, provider: str, prompt: str, says: str
):
    request = GenerateRequest.create(prompt=prompt, provider=provider)
    with pytest.raises(InvalidRequestError) as refused:
        planner.run(planner.service.start(request, requester=ME))
    assert refused.value.field == "prompt" and says in refused.value.message
    assert len(refused.value.message) < 300  # the 100 000 characters are not echoed back
    assert planner.emulator.requests.total() == 0


@pytest.mark.parametrize("provider", ["sandbox", "sandbox-visual", "sandbox-gateway"])
def test_emoji_and_other_scripts_in_a_prompt_are_fine_where_the_provider_takes_them(
    planner: Planner, provider
):
    prompt = "狐狸 🦊 im Schnee, «ночь»"
    plan = planner.run(planner.service.plan(GenerateRequest.create(prompt=prompt, provider=provider)))
    assert plan.request.prompt == prompt


def test_emoji_reach_chanjing_whose_own_refusal_is_reported_as_what_to_change(planner: Planner):
    before = planner.emulator.requests["chanjing"]
    request = GenerateRequest.create(prompt="a fox 🦊", provider="sandbox-chanjing")
    generation = planner.run(planner.service.generate(request, requester=ME))
    assert generation.status is JobStatus.FAILED and generation.images == []
    assert generation.error is not None and "emoji" in generation.error and "rephrase" in generation.error
    assert planner.emulator.requests["chanjing"] > before
