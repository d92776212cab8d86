"""Input safety: local reference files only from the allowed folders, whatever the path looks like."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from core.emulator import EmulatorState
from mcp_server.paths import allowed_roots, is_inside


def picture(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (320, 240), (10, 120, 60)).save(path)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    return picture(tmp_path / "elsewhere" / "private.png")


async def edit(connect, reference: str):
    async with connect() as client:
        return await client.call_tool(
            "edit_image", {"images": [reference], "prompt": "recolour", "size": "1K"}
        )


async def test_a_file_outside_the_allowed_folders_is_refused_before_any_provider_call(
    connect, outside, emulator: EmulatorState
):
    result = await edit(connect, str(outside))
    assert result.is_error and "outside the allowed folders" in result.content[0].text
    assert result.structured_content["error_kind"] == "invalid_request"
    assert emulator.requests.total() == 0


async def test_dot_dot_cannot_climb_out_of_an_allowed_folder(connect, home, outside):
    sneaky = f"{home}{os.sep}..{os.sep}elsewhere{os.sep}private.png"
    result = await edit(connect, sneaky)
    assert result.is_error and "outside the allowed folders" in result.content[0].text


async def test_a_symlink_inside_an_allowed_folder_pointing_outside_is_refused(connect, home, outside):
    link = home / "innocent.png"
    link.symlink_to(outside)
    result = await edit(connect, str(link))
    assert result.is_error and "outside the allowed folders" in result.content[0].text


async def test_a_symlinked_folder_pointing_outside_is_refused(connect, home, outside):
    (home / "photos").symlink_to(outside.parent, target_is_directory=True)
    result = await edit(connect, str(home / "photos" / "private.png"))
    assert result.is_error and "outside the allowed folders" in result.content[0].text


async def test_file_uris_follow_the_same_rule(connect, home, outside):
    assert (await edit(connect, outside.as_uri())).is_error
    allowed = picture(home / "ok.png")
    result = await edit(connect, allowed.as_uri())
    assert not result.is_error, result.content[0].text


@pytest.mark.parametrize(
    "reference",
    ["photo.png", "~/photo.png", "ftp://example.com/a.png", "file://server/a.png", "javascript:alert(1)"],
)
async def test_relative_paths_and_other_schemes_are_refused(
    connect, home, reference, emulator: EmulatorState
):
    picture(home / "photo.png")
    result = await edit(connect, reference)
    assert result.is_error and emulator.requests.total() == 0


async def test_a_file_that_is_not_an_image_is_refused_without_echoing_its_content(connect, home):
    secret = home / "notes.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    result = await edit(connect, str(secret))
    assert result.is_error and "TOP-SECRET-CONTENT" not in result.model_dump_json()


def test_the_default_roots_are_the_home_and_output_folders(tmp_path):
    home, out = tmp_path / "h", tmp_path / "o"
    assert allowed_roots(None, output_dir=out, home=home) == (home.resolve(), out.resolve())
    assert allowed_roots("  ", output_dir=out, home=home) == (home.resolve(), out.resolve())


def test_allowed_dirs_are_separated_by_the_path_separator_and_relative_entries_ignored(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    roots = allowed_roots(os.pathsep.join([str(a), "relative/dir", str(b), ""]), output_dir=tmp_path / "o")
    assert roots == (a.resolve(), b.resolve())


def test_is_inside_resolves_symlinks_and_refuses_missing_files(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    target = picture(tmp_path / "outside.png")
    (root / "link.png").symlink_to(target)
    assert not is_inside(root / "link.png", [root.resolve()])
    assert is_inside(picture(root / "in.png"), [root.resolve()])
    assert not is_inside(root / "missing.png", [root.resolve()])


def test_the_settings_come_from_seedream_mcp_environment_variables(monkeypatch, tmp_path):
    from mcp_server.settings import McpSettings

    monkeypatch.setenv(
        "SEEDREAM_MCP_ALLOWED_DIRS", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    )
    monkeypatch.setenv("SEEDREAM_MCP_INLINE_BUDGET", "123456")
    monkeypatch.setenv("SEEDREAM_MCP_TOKEN", "t0ken")
    settings = McpSettings(_env_file=None)
    assert settings.inline_budget == 123456 and settings.token.get_secret_value() == "t0ken"
    assert "t0ken" not in repr(settings)
    roots = allowed_roots(settings.allowed_dirs, output_dir=tmp_path / "out")
    assert roots == ((tmp_path / "a").resolve(), (tmp_path / "b").resolve())
