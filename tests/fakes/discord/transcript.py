"""A session as a person would read it: what users did and what the bot posted, in order, as plain text.

``transcript(fake)`` walks the interactions and the messages (both carry snowflake ids minted from one clock, so
sorting by id is chronological) and renders each message in its final state: content, files, embeds and buttons.
Used to look at the bot as a user would, and for the README's examples.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .records import InteractionRecord, StoredMessage, walk_components
from .state import FakeState

Payload = dict[str, Any]

_BUTTON, _ROW = 2, 1
_TEXT_INPUT, _LABEL = 4, 18


def render_transcript(state: FakeState, *, channel_ids: Iterable[int] | None = None) -> str:
    """Every interaction and message (of ``channel_ids``, default all), oldest first."""
    wanted = None if channel_ids is None else set(channel_ids)
    items: list[tuple[int, str]] = []
    for record in state.interactions.values():
        if wanted is None or record.channel_id in wanted:
            text = _interaction(state, record)
            if record.modal is not None:
                text += "\n  (the bot opens a " + render_modal(record.modal).replace("\n", "\n  │") + ")"
            items.append((record.id, text))
    for message in state.messages.values():
        if wanted is None or message.channel_id in wanted:
            items.append((message.id, _message(state, message)))
    return "\n".join(text for _, text in sorted(items, key=lambda item: item[0]) if text)


def _where(state: FakeState, channel_id: int) -> str:
    channel = state.channel(channel_id)
    if channel is None:
        return f"#{channel_id}"
    return f"DM with {channel.recipient.name}" if channel.is_dm and channel.recipient else f"#{channel.name}"


def _user_name(state: FakeState, user_id: int) -> str:
    user = state.user(user_id)
    return user.name if user else str(user_id)


def _interaction(state: FakeState, record: InteractionRecord) -> str:
    who = f"{_user_name(state, record.user_id)} [{_where(state, record.channel_id)}]"
    data = record.data
    if record.type == 2 and data.get("type") == 3:
        return f"\n{who} › Apps → {data.get('name')} (on message {data.get('target_id')})"
    if record.type == 2:
        options = " ".join(f"{o['name']}:{o.get('value')}" for o in _leaf_options(data.get("options") or []))
        return f"\n{who} › /{data.get('name')} {options}".rstrip()
    if record.type == 3:
        label = _label_of(record.source_message, str(data.get("custom_id")))
        return f"\n{who} › clicks {label} on message {record.source_message.id if record.source_message else '?'}"
    if record.type == 4:
        focused = next((o for o in _leaf_options(data.get("options") or []) if o.get("focused")), {})
        shown = ", ".join(str(c.get("name")) for c in record.choices or [])
        return f"\n{who} › types {focused.get('name')}:{focused.get('value')!r} → suggests: {shown or '(nothing)'}"
    if record.type == 5:
        values = {c["custom_id"]: c.get("value", c.get("values")) for c in walk_components(data.get("components") or [])
                  if "custom_id" in c}
        return f"\n{who} › submits the form {values}"
    return ""


def _leaf_options(options: list[Payload]) -> list[Payload]:
    leaves: list[Payload] = []
    for option in options:
        if "options" in option and "value" not in option:
            leaves.extend(_leaf_options(option["options"]))
        else:
            leaves.append(option)
    return leaves


def _label_of(message: StoredMessage | None, custom_id: str) -> str:
    component = message.component(custom_id) if message is not None else None
    return _button(component) if component else f"[{custom_id}]"


def _button(component: Payload) -> str:
    emoji = (component.get("emoji") or {}).get("name") or ""
    label = component.get("label") or ""
    text = f"{emoji} {label}".strip() or component.get("custom_id", "?")
    if component.get("type") != _BUTTON:
        text = f"▾ {component.get('placeholder') or 'choose'}"
    if component.get("disabled"):
        text += " (disabled)"
    if component.get("url"):
        text += " ↗"
    return f"[{text}]"


def _message(state: FakeState, message: StoredMessage) -> str:
    author = message.author.get("username", "?")
    notes = []
    if message.ephemeral and message.interaction_id is not None:
        record = state.interactions.get(message.interaction_id)
        notes.append(f"only {_user_name(state, record.user_id) if record else '?'} sees this")
    if message.history:
        notes.append(f"edited {len(message.history)}×")
    if message.deleted:
        notes.append("DELETED")
    head = f"  {author} [{_where(state, message.channel_id)}] message {message.id}"
    lines = [head + (f" ({', '.join(notes)})" if notes else "")]
    lines += [f"  │ {line}" for line in message.content.splitlines()]
    lines += [f"  │ 📎 {_file(a.filename, a.width, a.height, a.size)}" for a in message.attachments]
    for embed in message.embeds:
        lines += [f"  │ {line}" for line in _embed(embed)]
    for row in message.components:
        children = row.get("components") or [] if row.get("type") == _ROW else [row]
        lines.append("  │ " + " ".join(_button(c) for c in children))
    if message.interaction_id is not None and message.interaction_id in state.interactions:
        modal = state.interactions[message.interaction_id].modal
        if modal is not None and message is state.interactions[message.interaction_id].original:
            lines.append(f"  │ (form «{modal.get('title')}»)")
    return "\n".join(lines)


def _file(name: str, width: int | None, height: int | None, size: int) -> str:
    dims = f" {width}×{height}" if width and height else ""
    return f"{name}{dims} · {size / 1024:.0f} KB"


def _embed(embed: Payload) -> list[str]:
    lines = []
    if embed.get("title"):
        lines.append(f"▌ {embed['title']}")
    for line in (embed.get("description") or "").splitlines():
        lines.append(f"▌ {line}")
    fields = [f"{f['name']}: {f['value']}".replace("\n", " / ") for f in embed.get("fields") or []]
    lines += [f"▌ {field}" for field in fields]
    if (embed.get("image") or {}).get("url"):
        lines.append(f"▌ (image {embed['image']['url']})")
    if (embed.get("footer") or {}).get("text"):
        lines.append(f"▌ — {embed['footer']['text']}")
    return lines


def render_modal(modal: Payload) -> str:
    """A modal the bot opened, with its inputs and their prefilled values."""
    lines = [f"form «{modal.get('title')}»"]
    for component in walk_components(modal.get("components") or []):
        if component.get("type") == _TEXT_INPUT:
            lines.append(f"  {component.get('label') or component.get('custom_id')}: {component.get('value') or ''!r}")
    return "\n".join(lines)
