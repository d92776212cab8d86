"""The gallery in headless Chromium, hosted by AppBridge, on a real seedream-mcp."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.slow


async def test_a_four_image_job_appears_in_the_gallery_image_by_image(open_studio):
    async with open_studio() as studio:
        await four_images_one_by_one(studio)


async def four_images_one_by_one(studio):
    studio.gate.close()
    await studio.open()
    await studio.render("generate_image", prompt="a lighthouse at dawn", count=4, size="1K")
    job = studio.job(0)
    await studio.gate.wait_until_held(4)
    await expect(job.locator("li.tile[data-state=pending]")).to_have_count(4)
    for saved in range(1, 5):
        studio.gate.release()
        await expect(job.locator("li.tile[data-state=ready]")).to_have_count(saved)
        if saved < 4:
            await expect(job.locator(".status")).to_have_text(f"Generating: {saved} of 4 saved")
            assert not await studio.result_delivered()  # the images come while the call still runs
    await expect(job).to_have_attribute("data-status", "succeeded")
    await expect(job.locator(".status")).to_have_text("4 images")
