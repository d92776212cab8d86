"""A whole session, read as its users would read it: the transcript the fake Discord renders."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.bots.conftest import World, result_messages


async def test_a_session_reads_as_a_conversation_with_no_internal_words(world: World, tmp_path: Path) -> None:
    fake = world.fake
    made = await world.imagine("a fox in the snow, watercolour", count=4)
    await world.settled(made)
    [gallery] = result_messages(made)
    [job] = await world.jobs()
    opened = await fake.click(f"sd:image:{job.id}:1", message=gallery)
    await world.settled(opened)
    assert opened.original is not None
    vary = await fake.click(f"sd:subtle:{job.id}:1", message=opened.original)
    await world.settled(vary)
    remix = await fake.click(f"sd:remix:{job.id}", message=gallery)
    await remix.wait_for(lambda r: r.modal is not None)
    submitted = await fake.submit_modal(remix, {"prompt": "a fox in the snow, ink drawing", "images": "2"})
    await world.settled(submitted)
    delete = await fake.click(f"sd:delete:{job.id}", message=gallery)
    await world.settled(delete)

    transcript = fake.transcript()
    if os.environ.get("SEEDREAM_TRANSCRIPT"):  # to look at it: SEEDREAM_TRANSCRIPT=path pytest …
        Path(os.environ["SEEDREAM_TRANSCRIPT"]).write_text(transcript)

    assert "alice [#general] › /imagine prompt:a fox in the snow, watercolour size:1K count:4" in transcript
    assert "[🎲 Reroll] [✏️ Remix] [ℹ️ Details] [🗑️ Delete]" in transcript
    assert "[🔀 Vary (subtle)] [🌀 Vary (strong)] [🔍 Re-render at 4K] [🖌️ Use as reference]" in transcript
    assert "(the bot opens a form «Remix»" in transcript and "[🗑️ Delete for good] [↩️ Keep it]" in transcript
    assert not re.search(r"\b(content_rejected|invalid_request|None|Traceback)\b", transcript)
    fake.assert_clean()
