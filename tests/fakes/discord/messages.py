"""Creating and editing stored messages from request bodies, with every limit checked first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .bodies import IncomingFile, RequestBody
from .records import EPHEMERAL, LOADING, InteractionRecord, StoredAttachment, StoredMessage
from .rules import check_flags, check_message, field_error, invalid_form
from .state import FakeState

Payload = dict[str, Any]

APPLICATION_COMMAND_MESSAGE = 20
DEFAULT_MESSAGE = 0


@dataclass(frozen=True)
class _NewFile:
    upload: IncomingFile
    description: str | None


_Planned = StoredAttachment | _NewFile


def create_message(
    state: FakeState,
    body: RequestBody,
    *,
    channel_id: int,
    guild_id: int | None,
    interaction: InteractionRecord | None = None,
    forced_flags: int = 0,
) -> StoredMessage:
    """Validate ``body`` as a new message and store it.

    ``forced_flags`` are set by the platform itself (``LOADING`` for a deferral).

    Raises:
        ApiError: 50035 / 50006 for a broken limit (nothing is stored then).
    """
    payload = body.payload
    flags = int(payload.get("flags") or 0)
    check_flags(flags)
    flags |= forced_flags
    planned = _plan_attachments(payload, body.files, existing=[])
    content = str(payload.get("content") or "")
    embeds = list(payload.get("embeds") or [])
    components = list(payload.get("components") or [])
    check_message(
        content=content,
        embeds=embeds,
        components=components,
        attachment_count=len(planned),
        flags=flags,
        has_poll_or_sticker=bool(payload.get("poll") or payload.get("sticker_ids")),
    )
    message = StoredMessage(
        id=state.snowflakes.next(),
        channel_id=channel_id,
        guild_id=guild_id,
        author=state.config.bot.user_payload(),
        created_at=state.clock.now(),
        type=DEFAULT_MESSAGE,
        content=content,
        embeds=embeds,
        components=components,
        flags=flags,
    )
    if interaction is not None:
        message.interaction_id = interaction.id
        message.webhook_id = state.config.application_id
        message.type = APPLICATION_COMMAND_MESSAGE if interaction.type == 2 else DEFAULT_MESSAGE
        message.interaction_metadata = _interaction_metadata(state, interaction)
    message.attachments = _materialize(state, planned, message)
    message.pinged = pinged_users(content, payload.get("allowed_mentions"))
    state.messages[message.id] = message
    state.changed()
    return message


_USER_MENTION = re.compile(r"<@!?(\d+)>")


def pinged_users(content: str, allowed: Payload | None) -> frozenset[int]:
    """Who a new message's user mentions notify: all of them without ``allowed_mentions``; with it, those its
    ``parse`` (``"users"``) or its ``users`` list allow."""
    mentioned = {int(m) for m in _USER_MENTION.findall(content)}
    if allowed is None or "users" in (allowed.get("parse") or []):
        return frozenset(mentioned)
    return frozenset(mentioned & {int(u) for u in allowed.get("users") or []})


def edit_message(state: FakeState, message: StoredMessage, body: RequestBody) -> None:
    """Validate ``body`` as an edit of ``message`` and apply it (keeping the old version in history).

    Raises:
        ApiError: 50035 / 50006 for a broken limit (the message is left unchanged then).
    """
    payload = body.payload
    flags = message.flags & ~LOADING
    if "flags" in payload:
        requested = int(payload["flags"] or 0)
        check_flags(requested)
        flags = (requested & ~EPHEMERAL) | (message.flags & EPHEMERAL)  # ephemerality is fixed at creation
    if "attachments" in payload:
        planned = _plan_attachments(payload, body.files, existing=message.attachments)
    else:
        planned = [*message.attachments, *(_NewFile(f, None) for f in body.files)]
    content = str(payload.get("content") or "") if "content" in payload else message.content
    embeds = list(payload.get("embeds") or []) if "embeds" in payload else message.embeds
    components = list(payload.get("components") or []) if "components" in payload else message.components
    check_message(content=content, embeds=embeds, components=components, attachment_count=len(planned), flags=flags)
    message.remember_version()
    message.content, message.embeds, message.components, message.flags = content, embeds, components, flags
    message.attachments = _materialize(state, planned, message)
    message.edited_at = state.clock.now()
    state.changed()


def delete_message(state: FakeState, message: StoredMessage) -> None:
    """Mark a message deleted (it stays in the store for inspection)."""
    message.deleted = True
    state.changed()


def _plan_attachments(
    payload: Payload, files: list[IncomingFile], *, existing: list[StoredAttachment]
) -> list[_Planned]:
    """Map the ``attachments`` array onto uploaded ``files[n]`` and kept attachments."""
    by_index = {f.index: f for f in files}
    kept = {a.id: a for a in existing}
    planned: list[_Planned] = []
    used: set[int] = set()
    errors: Payload = {}
    for position, entry in enumerate(payload.get("attachments") or []):
        try:
            ref = int(entry["id"])
        except (KeyError, TypeError, ValueError):
            errors[str(position)] = {"id": field_error("BASE_TYPE_REQUIRED", "This field is required")}
            continue
        if ref in by_index and ref not in used:
            used.add(ref)
            planned.append(_NewFile(by_index[ref], entry.get("description")))
        elif ref in kept:
            planned.append(kept[ref])
        else:
            errors[str(position)] = field_error("ATTACHMENT_NOT_FOUND", f"Unknown attachment {ref}")
    if errors:
        raise invalid_form({"attachments": errors})
    # Files not referenced in ``attachments`` are still attached, in upload order.
    planned.extend(_NewFile(f, None) for f in files if f.index not in used)
    return planned


def _materialize(state: FakeState, planned: list[_Planned], message: StoredMessage) -> list[StoredAttachment]:
    attachments: list[StoredAttachment] = []
    for item in planned:
        if isinstance(item, _NewFile):
            item = state.store_attachment(
                channel_id=message.channel_id,
                filename=item.upload.filename,
                data=item.upload.data,
                content_type=item.upload.content_type,
                uploaded_by="bot",
                description=item.description,
            )
        item.message_id = message.id
        attachments.append(item)
    return attachments


def _interaction_metadata(state: FakeState, interaction: InteractionRecord) -> Payload:
    user = state.user(interaction.user_id)
    metadata: Payload = {
        "id": str(interaction.id),
        "type": interaction.type,
        "user": user.user_payload() if user else {"id": str(interaction.user_id), "username": "?"},
        "authorizing_integration_owners": interaction.payload.get("authorizing_integration_owners", {}),
    }
    if interaction.type == 2:
        metadata["name"] = interaction.data.get("name", "")
    if interaction.original is not None:
        metadata["original_response_message_id"] = str(interaction.original.id)
    return metadata
