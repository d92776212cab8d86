"""The gallery in headless Chromium, hosted by AppBridge, on a real seedream-mcp (see ``rig``)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.slow


async def held_four_image_job(studio, prompt: str):
    """The host renders a 4-image job whose provider requests all wait at the gate; its section."""
    studio.gate.close()
    await studio.open()
    await studio.render("generate_image", prompt=prompt, count=4, size="1K")
    await studio.gate.wait_until_held(4)
    return studio.job(0)


async def test_a_four_image_job_appears_in_the_gallery_image_by_image(open_studio):
    async with open_studio() as studio:
        job = await held_four_image_job(studio, "a lighthouse at dawn")
        await expect(job.locator("li.tile[data-state=pending]")).to_have_count(4)
        for saved in range(1, 5):
            studio.gate.release()
            await expect(job.locator("li.tile[data-state=ready]")).to_have_count(saved)
            if saved < 4:
                await expect(job.locator(".status")).to_have_text(f"Generating: {saved} of 4 saved")
                assert not await studio.result_delivered()  # the images come while the call still runs
            if saved == 2:
                await studio.screenshot("gallery-live.png")
        await expect(job).to_have_attribute("data-status", "succeeded")
        await expect(job.locator(".status")).to_have_text("4 images")
        job_id = (await studio.host_result())["structuredContent"]["job_id"]
        await expect(job).to_have_attribute("data-job-id", job_id)
        await expect(job.locator(".meta")).to_contain_text(job_id)
        shot = await studio.screenshot("gallery-4-images.png")
    assert shot.stat().st_size > 10_000


async def test_clicking_an_image_shows_the_full_size_original_read_with_resources_read(open_studio):
    async with open_studio() as studio:
        await studio.show_finished(prompt="a red fox in snow", count=2, size="1K")
        await studio.tile(0, 1).click()
        full = studio.gallery.locator("dialog.viewer img.full")
        await expect(full).to_have_attribute("data-loaded", "full")
        shown = base64.b64decode((await full.get_attribute("src")).split(",", 1)[1])
        result = (await studio.host_result())["structuredContent"]
        await expect(studio.gallery.locator(".viewer-title")).to_contain_text("Image 2 of 2 · 1024 × 1024")
        await studio.screenshot("gallery-viewer.png")
    original = result["images"][1]
    assert shown == Path(original["path"]).read_bytes()
    assert f"seedream://jobs/{result['job_id']}/images/1" in studio.relay.reads  # the original, not a preview


async def test_vary_calls_edit_image_with_that_image_as_reference_and_its_images_appear(open_studio):
    async with open_studio() as studio:
        await studio.show_finished(prompt="a paper crane", count=2, size="1K")
        await studio.tile(0, 1).click()
        await studio.gallery.get_by_role("button", name="Vary (subtle)").click()
        variation = studio.job(1)
        await expect(variation).to_have_attribute("data-status", "succeeded")
        await expect(variation.locator("li.tile[data-state=ready]")).to_have_count(1)
        first = (await studio.host_result())["structuredContent"]
        (call,) = studio.relay.tool_calls("edit_image")
        await expect(variation).not_to_have_attribute("data-job-id", first["job_id"])
    arguments = call["arguments"]
    assert arguments["images"] == [first["images"][1]["path"]]  # that image, and only it, as the reference
    assert arguments["size"] == "1024x1024" and arguments["model"] == "seedream-4.0"
    assert arguments["prompt"].startswith("A subtle variation of the reference image") and "a paper crane" in \
        arguments["prompt"]
    assert call["_meta"]["seedream/ticket"].startswith("app:")  # so the gallery followed it while it ran


async def test_cancel_stops_a_running_job_and_keeps_what_it_saved(open_studio):
    async with open_studio() as studio:
        job = await held_four_image_job(studio, "a slow sunrise")
        studio.gate.release()
        await expect(job.locator("li.tile[data-state=ready]")).to_have_count(1)
        await job.get_by_role("button", name="Cancel").click()
        await expect(job).to_have_attribute("data-status", "cancelled")
        await expect(job.locator(".status")).to_have_text("Cancelled: 1 image kept")
        await expect(job.locator("li.tile")).to_have_count(1)
        result = (await studio.host_result())["structuredContent"]  # the model's call ends too
        (cancel,) = studio.relay.tool_calls("cancel_job")
    assert cancel["arguments"] == {"job_id": result["job_id"]}
    assert result["status"] == "interrupted" and result["error_kind"] == "cancelled"
    assert len(result["images"]) == 1 and Path(result["images"][0]["path"]).is_file()


async def test_the_other_actions_call_the_servers_tools_through_the_host(open_studio):
    async with open_studio() as studio:
        await studio.show_finished(prompt="a glass apple", size="1K")
        viewer = studio.gallery.locator("dialog.viewer")
        await studio.tile(0, 0).click()
        await viewer.get_by_role("button", name="Reroll").click()
        await studio.tile(0, 0).click()
        await viewer.get_by_role("button", name="Re-render 4K").click()
        await studio.tile(0, 0).click()
        await viewer.get_by_role("button", name="Edit…").click()
        await viewer.get_by_label("Edit instruction").fill("make it frosted")
        await viewer.get_by_label("Edit instruction").press("Enter")
        await studio.tile(0, 0).click()
        await viewer.get_by_role("button", name="Use as reference").click()
        tray = studio.gallery.get_by_role("complementary", name="References")
        await tray.get_by_label("Prompt").fill("a still life with this apple")
        await tray.get_by_role("button", name="Generate from references").click()
        for position in range(1, 5):
            await expect(studio.job(position)).to_have_attribute("data-status", "succeeded")
        await expect(studio.job(2).locator(".meta")).to_contain_text("4096×4096")
        first = (await studio.host_result())["structuredContent"]
    path = first["images"][0]["path"]
    reroll, rerender, edit, fused = [c for c in studio.relay.calls if "seedream/ticket" in c.get("_meta", {})]
    assert reroll["name"] == "generate_image" and reroll["arguments"] == {"prompt": "a glass apple", "size": "1K",
                                                                          "count": 1}
    assert rerender["name"] == "edit_image" and rerender["arguments"]["images"] == [path]
    assert (rerender["arguments"]["size"], rerender["arguments"]["aspect_ratio"]) == ("4K", "1:1")
    assert edit["arguments"]["images"] == [path] and edit["arguments"]["prompt"] == "make it frosted"
    assert fused["arguments"]["images"] == [path] and fused["arguments"]["prompt"] == "a still life with this apple"


async def test_download_saves_the_original_file(open_studio):
    async with open_studio() as studio:
        await studio.show_finished(prompt="a blue door", size="1K")
        await studio.tile(0, 0).click()
        async with studio.page.expect_download() as downloading:
            await studio.gallery.get_by_role("button", name="Download original").click()
        download = await downloading.value
        saved = Path(await download.path()).read_bytes()
        image = (await studio.host_result())["structuredContent"]["images"][0]
    assert download.suggested_filename == Path(image["path"]).name
    assert saved == Path(image["path"]).read_bytes()


async def test_the_gallery_works_from_the_keyboard_in_the_hosts_dark_theme_with_no_network_of_its_own(open_studio):
    async with open_studio() as studio:
        await studio.show_finished(theme="dark", prompt="night market lanterns", count=2, size="1K")
        background = await studio.gallery.locator("body").evaluate("body => getComputedStyle(body).backgroundColor")
        assert background == "rgb(23, 23, 23)"  # the dark theme the host asked for
        viewer = studio.gallery.locator("dialog.viewer")
        title = viewer.locator(".viewer-title")
        await studio.tile(0, 0).focus()
        await studio.page.keyboard.press("Enter")
        await expect(viewer).to_be_visible()
        await expect(title).to_contain_text("Image 1 of 2")
        await studio.page.keyboard.press("ArrowRight")
        await expect(title).to_contain_text("Image 2 of 2")
        await studio.page.keyboard.press("Escape")
        await expect(viewer).to_be_hidden()
        await expect(studio.tile(0, 0)).to_be_focused()  # focus returns where it was
        await studio.screenshot("gallery-dark.png")
        main_frame = studio.page.main_frame
    # Every request the page made was the host's own, to the relay: the gallery fetched nothing.
    assert studio.requests
    assert all(r.frame == main_frame and r.url.startswith(studio.base_url) for r in studio.requests)
