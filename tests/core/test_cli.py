"""The real ``seedream`` entry point, run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

SEEDREAM = str(Path(sys.executable).parent / "seedream")


def run(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SEEDREAM_", "ARK_", "VOLC_", "CHANJING_"))}
    clean |= {"SEEDREAM_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)} | env
    return subprocess.run([SEEDREAM, *args], capture_output=True, text=True, env=clean, cwd=tmp_path, timeout=120)


def test_generate_on_the_sandbox_prints_one_json_object_and_writes_the_jpeg(tmp_path: Path):
    done = run("generate", "a red fox in snow", "--provider", "sandbox", "--size", "2048x2048", "--json",
               tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= {"id", "images", "failures", "usage"}
    (image,) = result["images"]
    assert set(image) >= {"path", "width", "height", "model", "provider", "seed", "url"}
    assert (image["width"], image["height"], image["provider"]) == (2048, 2048, "sandbox")
    with Image.open(image["path"]) as img:
        assert (img.format, img.size) == ("JPEG", (2048, 2048))
    assert Path(image["path"]).is_relative_to(tmp_path / "data")


def test_invalid_input_exits_non_zero_with_one_clear_line(tmp_path: Path):
    done = run("generate", "fox", "--provider", "sandbox", "--size", "10x10", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Invalid size: '10x10'" in done.stderr


def test_without_any_key_the_error_names_the_variables_and_the_sandbox(tmp_path: Path):
    done = run("generate", "fox", tmp_path=tmp_path)
    assert done.returncode == 2 and "ARK_API_KEY" in done.stderr and "--provider sandbox" in done.stderr


def test_models_json_lists_every_provider(tmp_path: Path):
    done = run("models", "--json", tmp_path=tmp_path)
    providers = {m["provider"] for m in json.loads(done.stdout)}
    assert providers == {"ark", "visual", "chanjing", "gateway"}


def test_edit_takes_reference_files_and_jobs_lists_the_job(tmp_path: Path):
    ref = tmp_path / "ref.png"
    Image.new("RGB", (256, 256), "green").save(ref)
    done = run("edit", str(ref), "--prompt", "make it blue", "--provider", "sandbox", "--model", "seededit-3.0",
               "--json", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    job_id = json.loads(done.stdout)["id"]
    listing = run("jobs", "--json", tmp_path=tmp_path)
    assert [j["id"] for j in json.loads(listing.stdout)] == [job_id]


def test_seedream_mcp_forwards_its_options_to_the_mcp_server(tmp_path: Path):
    done = run("mcp", "--help", tmp_path=tmp_path)
    assert done.returncode == 0 and "--transport" in done.stdout


def test_models_names_chanjings_undocumented_codes_as_such(tmp_path: Path):
    listing = {(m["provider"], m["model"]): m for m in json.loads(run("models", "--json", tmp_path=tmp_path).stdout)}
    assert listing["chanjing", "seedream-3.0"]["documented"] is True
    for key in ("seedream-4.0", "seedream-4.5"):
        assert listing["chanjing", key]["documented"] is False and "undocumented" in listing["chanjing", key]["notes"]
    text = run("models", "--provider", "chanjing", tmp_path=tmp_path).stdout
    assert [line.split()[1] for line in text.splitlines() if "UNDOCUMENTED" in line] == ["seedream-4.0", "seedream-4.5"]
