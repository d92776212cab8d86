"""Edits from uploaded images: ``/edit``'s attachments, or the images of any message ("Edit with Seedream" in a
message's Apps menu) (layer 4, interface).

The attachments are checked and converted (``bots.discord.attachments``) before any provider call, and the result
keeps the first image's shape unless a size or an aspect ratio is given.
"""

from __future__ import annotations

import discord

from bots.discord.attachments import is_image, reference_from_attachment
from bots.discord.defaults import model_or_default
from bots.discord.interactions import defer_privately, tell
from bots.discord.services import BotServices
from bots.discord.shape import keep_shape
from core.catalog import find_model
from core.requests import GenerateRequest


async def references_request(
    attachments: list[discord.Attachment],
    *,
    provider: str,
    prompt: str,
    model: str | None = None,
    size: str | None = None,
    aspect_ratio: str | None = None,
    **options: object,
) -> GenerateRequest:
    """A request with ``attachments`` as references, in the first one's shape unless asked otherwise.

    Raises:
        InvalidRequestError: an attachment the model cannot take (naming the file), or a bad option.
    """
    spec = find_model(provider, model, editing=True)
    references = [
        await reference_from_attachment(a, rules=spec.references, field=f"image{'' if i == 0 else i + 1}")
        for i, a in enumerate(attachments)
    ]
    first = references[0]
    size, aspect_ratio = keep_shape(spec.sizes, first.width, first.height, size=size, aspect_ratio=aspect_ratio)
    return GenerateRequest.create(
        prompt=prompt,
        model=model,
        size=size,
        aspect_ratio=aspect_ratio,
        images=tuple(r.uri for r in references),
        **options,
    )


class MessageEdit:
    """The submit of the "Edit with Seedream" form."""

    def __init__(self, services: BotServices) -> None:
        self.services = services

    async def submit(
        self,
        interaction: discord.Interaction,
        channel_id: int,
        message_id: int,
        prompt: str,
        *,
        size: str | None = None,
        aspect_ratio: str | None = None,
    ) -> None:
        await defer_privately(interaction)
        try:
            message = await self.services.partial_message(channel_id, message_id).fetch()
        except discord.NotFound:
            await tell(interaction, "That message is gone, so its images can't be used.")
            return
        except discord.Forbidden:
            await tell(interaction, "I'm not allowed to read that message (I need View Channel and Read Message "
                                    "History there). Try `/edit` with the images attached.")
            return
        defaults = await self.services.user_defaults(interaction.user.id)
        provider = self.services.provider
        model = model_or_default(defaults, provider, None, editing=True)
        limit = find_model(provider, model, editing=True).max_references
        images = [a for a in message.attachments if is_image(a)][:limit]
        if not images:
            await tell(interaction, "That message has no images I can use (PNG, JPEG, WebP or GIF attachments).")
            return

        async def build() -> GenerateRequest:
            return await references_request(
                images, provider=provider, prompt=prompt, model=model, size=size, aspect_ratio=aspect_ratio
            )

        await self.services.generate(interaction, build, spoiler=defaults.spoiler)

