"""The Claude Desktop extension. ``seedream bundle`` builds an MCP Bundle that the official ``mcpb`` CLI accepts;
unpacked and started with ``uv run`` exactly as a host starts a ``uv`` bundle (the manifest's ``mcp_config`` with
``${__dirname}`` and the form's ``${user_config.*}`` substituted, see ``mcpb_host.py``), it serves the tools it
declares, saves images in the folder chosen in the form and never shows a secret typed into the form.

The end-to-end tests need Node.js with npm (the official CLI), uv (a test extra) and uv's cache holding the
server's dependencies (``.ci/warm-uv-cache`` fills it; ``.ci/run`` does so): without them they skip, but under
CI=true they fail. The bundle is built and launched once per session, with uv offline: a test never reaches
the network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult, Tool
from PIL import Image

from core.settings import Settings
from mcp_server.bundle import build_manifest, ensure_cli
from mcp_server.bundle_form import ENV, FORM, MAX_PREVIEW_BUDGET
from mcp_server.settings import DEFAULT_INLINE_BUDGET, McpSettings
from tests.mcp_server.mcpb_host import LaunchConfig, launch_config
from tests.reliability.harness import emulator_accounts, emulator_server
from tests.security.test_secrets import CANARY, assert_no_secret, files_under

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(sys.executable).parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: What a user types into the form's secret fields.
SECRETS = {
    "ark_api_key": "sk-LEAKCANARY-form-ark-31c7",
    "volc_accesskey": "AKLTLEAKCANARYform8e02",
    "volc_secretkey": "LEAKCANARY-form-volc-secret-5d1a",
    "chanjing_app_id": "LEAKCANARY-form-chanjing-app-90",
    "chanjing_secret_key": "LEAKCANARY-form-chanjing-secret-c4",
    "gateway_api_key": "sk-LEAKCANARY-form-gateway-77e9",
}
#: Long enough for uv to install the dependencies (from its cache) before the server answers ``initialize``.
FIRST_ANSWER_SECONDS = 240


def tool_path() -> str:
    """PATH with this environment's scripts first (uv is a test extra installed beside pytest)."""
    return os.pathsep.join([str(SCRIPTS), os.environ.get("PATH", "")])


def require(*tools: str) -> None:
    """Skip when a tool is missing, or fail under CI=true, where every tool must be installed."""
    missing = [tool for tool in tools if shutil.which(tool, path=tool_path()) is None]
    if missing:
        unavailable(f"needs {' and '.join(missing)} (the official mcpb CLI runs on Node.js; uv starts the bundle)")


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def install_offline(unpacked: Path, env: dict[str, str]) -> None:
    """Let uv install the bundle's environment from its cache alone, as the host's first launch would."""
    done = subprocess.run([str(shutil.which("uv", path=tool_path())), "run", "--directory", str(unpacked),
                           "python", "-c", "import mcp_server"], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=FIRST_ANSWER_SECONDS)
    if done.returncode != 0:
        unavailable("uv's cache lacks the bundle's dependencies and tests stay offline: run .ci/warm-uv-cache "
                    f"({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'uv failed'})")


def manifest_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``seedream bundle --out dist`` run as a user runs it; the bundle it printed."""
    require("node", "npm")
    workdir = tmp_path_factory.mktemp("build")
    done = subprocess.run([str(SCRIPTS / "seedream"), "bundle", "--out", "dist"], cwd=workdir,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


@pytest.fixture(scope="module")
def unpacked(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle unpacked where a host keeps installed extensions."""
    folder = tmp_path_factory.mktemp("Claude Extensions") / "seedream-studio"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(folder)
    return folder


@dataclass(frozen=True)
class Session:
    """One launch of the unpacked bundle: what the form said, what the client saw, what the server logged."""

    launch: LaunchConfig
    home: Path
    output: Path
    references: Path
    outside: Path
    tools: list[Tool]
    results: dict[str, CallToolResult]
    stderr: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> Session:
    """Install the bundle with provider = sandbox, an output folder, a reference folder, every secret and a
    gateway URL (the emulator on loopback, accepting exactly the form's keys) filled in; start it as a host
    would; list the tools and call them through the official MCP client."""
    require("uv")
    user = tmp_path_factory.mktemp("user")
    home, output, references, outside = (user / name for name in ("home", "Pictures", "References", "Private"))
    for folder in (home, output, references, outside):
        folder.mkdir()
    Image.new("RGB", (320, 240), "teal").save(references / "boat.png")
    Image.new("RGB", (320, 240), "red").save(outside / "private.png")
    uv_cache = subprocess.run([str(shutil.which("uv", path=tool_path())), "cache", "dir"], capture_output=True,
                              text=True, check=True).stdout.strip()
    # The host's own environment: its PATH (where it finds uv), the user's home and uv's shared cache; uv is
    # kept offline so the test never reaches the network (the cache was filled at install time).
    host_env = {"PATH": tool_path(), "HOME": str(home), "UV_CACHE_DIR": uv_cache, "UV_OFFLINE": "1"}
    install_offline(unpacked, host_env)
    calls = {
        "generate": ("generate_image", {"prompt": "a paper boat", "size": "1K"}),
        "edit": ("edit_image", {"images": [str(references / "boat.png")], "prompt": "paint it red", "size": "1K"}),
        "edit_outside": ("edit_image", {"images": [str(outside / "private.png")], "prompt": "paint it blue"}),
        "gateway": ("generate_image", {"prompt": "a lighthouse", "provider": "gateway", "size": "1K"}),
        "models": ("list_models", {"provider": "ark"}),
        "jobs": ("list_jobs", {}),
    }
    errlog = user / "stderr.log"
    async with emulator_server(**emulator_accounts(SECRETS)) as gateway:
        form = {"provider": "sandbox", "output_dir": str(output), "allowed_dirs": [str(references)],
                "gateway_base_url": gateway.base, **SECRETS}
        launch = launch_config(manifest_of(unpacked), bundle_dir=unpacked, home=home, user_config=form)
        params = StdioServerParameters(command=str(shutil.which(launch.command, path=tool_path())),
                                       args=launch.args, env=host_env | launch.env, cwd=home)
        with errlog.open("w", encoding="utf-8") as stderr:
            async with Client(stdio_client(params, errlog=stderr), mode="legacy",
                              read_timeout_seconds=FIRST_ANSWER_SECONDS) as client:
                tools = (await client.list_tools()).tools
                results = {key: await client.call_tool(name, arguments) for key, (name, arguments) in calls.items()}
    return Session(launch=launch, home=home, output=output, references=references, outside=outside, tools=tools,
                   results=results, stderr=errlog.read_text(encoding="utf-8"))


def saved_paths(result: CallToolResult) -> list[Path]:
    assert not result.is_error, result.content[0].text
    return [Path(image["path"]) for image in result.structured_content["images"]]


def test_seedream_bundle_makes_a_bundle_under_one_megabyte_that_the_official_cli_validates(
        bundle: Path, unpacked: Path):
    assert bundle.name == f"seedream-studio-{PROJECT['version']}.mcpb"
    assert bundle.parent.name == "dist" and bundle.stat().st_size < 1_000_000
    validated = subprocess.run([*ensure_cli(), "validate", str(unpacked)], capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "Manifest schema validation passes!" in validated.stdout
    manifest = manifest_of(unpacked)
    assert (manifest["manifest_version"], manifest["server"]["type"]) == ("0.4", "uv")
    assert manifest["compatibility"]["runtimes"]["python"] == PROJECT["requires-python"] == ">=3.11"
    assert (unpacked / manifest["icon"]).read_bytes().startswith(b"\x89PNG")
    # Dependencies come from pyproject.toml, installed by the host: nothing vendored, no build debris.
    assert (unpacked / "pyproject.toml").read_bytes() == (ROOT / "pyproject.toml").read_bytes()
    names = {path.name for path in unpacked.rglob("*")}
    assert not names & {"node_modules", "__pycache__", ".venv", "lib", "site-packages", ".env"}


def test_the_manifest_declares_exactly_the_tools_the_bundled_server_lists(unpacked: Path, session: Session):
    listed = [{"name": tool.name, "description": tool.description} for tool in session.tools]
    assert manifest_of(unpacked)["tools"] == listed
    assert {tool["name"] for tool in listed} == {"generate_image", "edit_image", "list_models", "get_job",
                                                 "list_jobs"}


def test_the_bundle_started_as_a_host_starts_it_saves_sandbox_images_in_the_output_folder_of_the_form(
        session: Session):
    (path,) = saved_paths(session.results["generate"])
    assert path.is_file() and path.is_relative_to(session.output)
    with Image.open(path) as image:
        assert image.size == (1024, 1024)
    assert "Default provider: sandbox." in session.results["models"].content[0].text
    assert session.launch.args[-1] == str(session.references)  # the folder list arrived as arguments


def test_reference_images_are_read_only_from_the_folders_chosen_in_the_form(session: Session):
    (edited,) = saved_paths(session.results["edit"])
    assert edited.is_file() and edited.is_relative_to(session.output)
    refused = session.results["edit_outside"]
    assert refused.is_error and "private.png" in refused.content[0].text


def test_secrets_typed_into_the_form_never_reach_the_log_results_or_files(session: Session, unpacked: Path):
    assert {name: session.launch.env[ENV[name]] for name in SECRETS} == SECRETS  # they really were passed
    (path,) = saved_paths(session.results["gateway"])  # and the gateway, accepting only its key, was used
    assert path.is_relative_to(session.output)
    results = [(f"result {key}", json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
               for key, result in session.results.items()]
    written = [*files_under(session.home), *files_under(session.output)]
    bundle_files = [(where, data) for where, data in files_under(unpacked) if "/.venv/" not in where]
    assert any(where.endswith(".json") for where, _ in files_under(session.output))  # sidecars were written
    assert_no_secret([("stderr", session.stderr), *results, *written, *bundle_files], extra=SECRETS.values())
    assert CANARY not in session.stderr


def form_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                  user_config: dict[str, Any]) -> tuple[LaunchConfig, Settings, McpSettings]:
    """The settings the server reads once a host has turned the filled-in form into its environment."""
    manifest = build_manifest(project=PROJECT, tools=[])
    launch = launch_config(manifest, bundle_dir=tmp_path / "bundle", home=tmp_path, user_config=user_config)
    for name, value in launch.env.items():
        monkeypatch.setenv(name, value)
    return launch, Settings(_env_file=None), McpSettings(_env_file=None)


def clear_form_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*ENV.values(), "SEEDREAM_MCP_ALLOWED_DIRS"]:
        monkeypatch.delenv(name, raising=False)


def test_fields_left_empty_in_the_form_leave_the_server_on_its_own_defaults(monkeypatch, tmp_path):
    clear_form_variables(monkeypatch)
    defaults = (Settings(_env_file=None), McpSettings(_env_file=None))
    launch, settings, mcp_settings = form_settings(monkeypatch, tmp_path, {})
    assert launch.args == ["run", "--directory", str(tmp_path / "bundle"), f"{tmp_path / 'bundle'}/seedream_mcp.py"]
    assert {name for name, value in launch.env.items() if value == ""} == set(ENV.values()) - {
        "SEEDREAM_MCP_INLINE_BUDGET"}
    assert (settings, mcp_settings) == defaults
    assert settings.provider is None and settings.gateway_base_url.startswith("https://")


def test_each_field_of_the_form_sets_the_server_setting_it_stands_for(monkeypatch, tmp_path):
    clear_form_variables(monkeypatch)
    form = {"provider": "gateway", "gateway_base_url": "http://127.0.0.1:9/gw", "output_dir": str(tmp_path / "out"),
            "allowed_dirs": [str(tmp_path / "a"), str(tmp_path / "b")], "preview_budget": 123456, **SECRETS}
    launch, settings, mcp_settings = form_settings(monkeypatch, tmp_path, form)
    secrets = {name: getattr(settings, name).get_secret_value() for name in SECRETS}
    assert secrets == SECRETS
    assert (settings.provider, settings.gateway_base_url) == ("gateway", "http://127.0.0.1:9/gw")
    assert settings.images_dir == tmp_path / "out" and mcp_settings.inline_budget == 123456
    assert launch.args[-2:] == form["allowed_dirs"]  # the launcher joins them into SEEDREAM_MCP_ALLOWED_DIRS


def test_an_empty_variable_in_the_environment_or_a_dotenv_file_counts_as_unset(monkeypatch, tmp_path):
    clear_form_variables(monkeypatch)
    (tmp_path / ".env").write_text("ARK_API_KEY=\nSEEDREAM_MCP_INLINE_BUDGET=\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("SEEDREAM_PROVIDER", "SEEDREAM_GATEWAY_BASE_URL", "SEEDREAM_OUTPUT_DIR", "SEEDREAM_MCP_ALLOWED_DIRS"):
        monkeypatch.setenv(name, "")
    settings, mcp_settings = Settings(), McpSettings()
    assert (settings.provider, settings.ark_api_key, settings.output_dir) == (None, None, None)
    assert settings.gateway_base_url == Settings.model_fields["gateway_base_url"].default
    assert (mcp_settings.inline_budget, mcp_settings.allowed_dirs) == (DEFAULT_INLINE_BUDGET, None)


def test_the_form_keeps_every_key_secret_and_states_the_server_defaults():
    user_config = build_manifest(project=PROJECT, tools=[])["user_config"]
    assert [key for key, option in user_config.items() if option.get("sensitive")] == list(SECRETS)
    assert not any(option.get("required") for option in user_config.values())
    assert Settings.model_fields["gateway_base_url"].default in FORM["gateway_base_url"]["description"]
    budget = user_config["preview_budget"]
    assert budget["default"] == DEFAULT_INLINE_BUDGET and budget["max"] == MAX_PREVIEW_BUDGET < 1_048_576
    assert (user_config["output_dir"]["type"], user_config["allowed_dirs"]["multiple"]) == ("directory", True)


def test_seedream_bundle_says_it_needs_node_and_npm_when_they_are_missing(tmp_path):
    done = subprocess.run([str(SCRIPTS / "seedream"), "bundle", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=60, env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert done.returncode == 1 and done.stdout == ""
    assert "needs Node.js and npm" in done.stderr and "@anthropic-ai/mcpb" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_seedream_mcp_names_the_form_fields_when_no_provider_is_configured(tmp_path):
    done = subprocess.run([str(SCRIPTS / "seedream-mcp")], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path,
                          env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)})
    assert done.returncode == 0 and done.stdout == ""
    assert "ARK_API_KEY" in done.stderr and "SEEDREAM_PROVIDER=sandbox" in done.stderr
    assert '"Ark API key"' in done.stderr and '"Visual access key ID" + "Visual secret access key"' in done.stderr
    assert 'set "Provider" to sandbox' in done.stderr
