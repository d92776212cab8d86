"""Building the ``INTERACTION_CREATE`` payloads a user's actions produce.

Option values are typed from the command schema the bot synced when there is one (as the Discord
client does), otherwise inferred from the Python value.  Like the Discord client, the builders
refuse input a real user could not send (unknown option, missing required option, value outside
``choices`` / ``min_value`` / ``max_length``...) with ``ValueError`` unless ``validate=False``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from .models import FakeChannel, FakeRole, FakeUser, Upload
from .records import StoredMessage, walk_components
from .state import FakeState

Payload = dict[str, Any]

COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11
BUTTON, TEXT_INPUT, LABEL = 2, 4, 18
GUILD_CONTEXT, BOT_DM_CONTEXT = 0, 1


def envelope(state: FakeState, *, type: int, user: FakeUser, channel: FakeChannel, locale: str | None) -> Payload:
    """The fields every interaction carries (guild or DM flavour)."""
    payload: Payload = {
        "id": str(state.snowflakes.next()),
        "application_id": str(state.config.application_id),
        "type": type,
        "token": "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48),
        "version": 1,
        "channel_id": str(channel.id),
        "app_permissions": str(state.bot_permissions(channel)),
        "locale": locale or user.locale,
        "entitlements": [],
        "attachment_size_limit": state.config.attachment_size_limit,
    }
    guild = state.guild(channel.guild_id) if channel.guild_id is not None else None
    if guild is None:
        payload["channel"] = channel.payload()
        payload["user"] = user.user_payload()
        payload["context"] = BOT_DM_CONTEXT
        payload["authorizing_integration_owners"] = {"0": "0"}
    else:
        position = guild.channels.index(channel) if channel in guild.channels else 0
        permissions = str(channel.permissions_of(user))
        payload["channel"] = {**channel.payload(position=position), "permissions": permissions}
        payload["guild_id"] = str(guild.id)
        payload["guild"] = {"id": str(guild.id), "locale": guild.locale, "features": []}
        payload["guild_locale"] = guild.locale
        payload["member"] = {**user.member_payload(), "permissions": permissions}
        payload["context"] = GUILD_CONTEXT
        payload["authorizing_integration_owners"] = {"0": str(guild.id)}
    return payload


def command_data(
    state: FakeState,
    *,
    name: str,
    options: Mapping[str, Any],
    channel: FakeChannel,
    command_guild_id: int | None,
    validate: bool,
    focused: str | None = None,
) -> Payload:
    """``data`` of a chat-input command (``name`` may be ``"group sub"`` for subcommands).

    Raises:
        ValueError: for input the Discord client would not let a user send.
    """
    root, *path = name.split()
    registered = state.registered_command(root, channel.guild_id)
    schema: list[Payload] | None = None
    scope = command_guild_id
    if registered is not None:
        command, registered_guild = registered
        schema = list(command.get("options") or [])
        scope = scope or registered_guild
    resolved: Payload = {}
    top: Payload = {"options": []}
    holder = top
    for depth, part in enumerate(path):
        if schema is not None:
            option = _find(schema, part)
            if option is None or option["type"] not in (SUB_COMMAND, SUB_COMMAND_GROUP):
                raise ValueError(f"/{root} has no subcommand {part!r}")
            schema = list(option.get("options") or [])
            kind = option["type"]
        else:
            kind = SUB_COMMAND if depth == len(path) - 1 else SUB_COMMAND_GROUP
        child: Payload = {"name": part, "type": kind, "options": []}
        holder["options"].append(child)
        holder = child
    holder["options"] = _convert_options(
        state, options, schema, channel=channel, resolved=resolved, validate=validate, focused=focused
    )
    data: Payload = {"id": str(state.command_id(scope, root)), "name": root, "type": 1, "options": top["options"]}
    if resolved:
        data["resolved"] = resolved
    if scope is not None:
        data["guild_id"] = str(scope)
    return data


def message_command_data(state: FakeState, *, name: str, target: StoredMessage, channel: FakeChannel) -> Payload:
    """``data`` of a message context-menu command run on ``target`` (``resolved.messages`` holds it).

    Raises:
        ValueError: no message command of that name was synced (the Discord client would not show it).
    """
    registered = state.registered_command(name, channel.guild_id)
    if registered is None or registered[0].get("type") != MESSAGE_COMMAND:
        raise ValueError(f"no message command {name!r} is registered")
    command, scope = registered
    data: Payload = {
        "id": command["id"],
        "name": name,
        "type": MESSAGE_COMMAND,
        "target_id": str(target.id),
        "resolved": {"messages": {str(target.id): target.payload()}},
    }
    if scope is not None:
        data["guild_id"] = str(scope)
    return data


def _find(schema: list[Payload], name: str) -> Payload | None:
    return next((o for o in schema if o.get("name") == name), None)


def _infer_type(value: Any) -> int:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, Upload):
        return ATTACHMENT
    if isinstance(value, FakeUser):
        return USER
    if isinstance(value, FakeChannel):
        return CHANNEL
    if isinstance(value, FakeRole):
        return ROLE
    return STRING


def _convert_options(
    state: FakeState,
    values: Mapping[str, Any],
    schema: list[Payload] | None,
    *,
    channel: FakeChannel,
    resolved: Payload,
    validate: bool,
    focused: str | None,
) -> list[Payload]:
    options: list[Payload] = []
    for name, value in values.items():
        spec = _find(schema, name) if schema is not None else None
        if schema is not None and spec is None and validate:
            raise ValueError(f"the command has no option {name!r} (known: {[o.get('name') for o in schema]})")
        kind = spec["type"] if spec else _infer_type(value)
        option: Payload = {"name": name, "type": kind}
        if name == focused:
            option["value"], option["focused"] = str(value), True
        else:
            option["value"] = _wire_value(state, kind, value, channel=channel, resolved=resolved)
            if validate and spec:
                _check_value(spec, option["value"])
        options.append(option)
    if validate and schema is not None and focused is None:
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
        if missing:
            raise ValueError(f"required options missing: {missing}")
    return options


def _wire_value(state: FakeState, kind: int, value: Any, *, channel: FakeChannel, resolved: Payload) -> Any:
    if kind == STRING:
        return str(value)
    if kind == INTEGER:
        return int(value)
    if kind == NUMBER:
        return float(value)
    if kind == BOOLEAN:
        return bool(value)
    if kind == ATTACHMENT:
        if not isinstance(value, Upload):
            raise ValueError("an attachment option needs an Upload")
        stored = state.store_attachment(
            channel_id=channel.id,
            filename=value.filename,
            data=value.data,
            content_type=value.media_type,
            uploaded_by="user",
        )
        resolved.setdefault("attachments", {})[str(stored.id)] = {**stored.payload(), "ephemeral": True}
        return str(stored.id)
    if isinstance(value, FakeUser):
        resolved.setdefault("users", {})[str(value.id)] = value.user_payload()
        if channel.guild_id is not None:
            member = value.member_payload(with_permissions=True)
            member.pop("user")
            resolved.setdefault("members", {})[str(value.id)] = member
        return str(value.id)
    if isinstance(value, FakeChannel):
        resolved.setdefault("channels", {})[str(value.id)] = {
            **value.payload(),
            "permissions": str(state.config.app_permissions),
        }
        return str(value.id)
    if isinstance(value, FakeRole):
        resolved.setdefault("roles", {})[str(value.id)] = value.payload(position=1)
        return str(value.id)
    raise ValueError(f"cannot send {value!r} as option type {kind}")


def _check_value(spec: Payload, value: Any) -> None:
    name = spec["name"]
    choices = spec.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"{name}={value!r} is not one of the choices {[c['value'] for c in choices]}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "min_value" in spec and value < spec["min_value"]:
            raise ValueError(f"{name}={value} is below min_value {spec['min_value']}")
        if "max_value" in spec and value > spec["max_value"]:
            raise ValueError(f"{name}={value} is above max_value {spec['max_value']}")
    if isinstance(value, str) and spec["type"] == STRING:
        if len(value) < spec.get("min_length", 0):
            raise ValueError(f"{name} is shorter than min_length {spec['min_length']}")
        if len(value) > spec.get("max_length", 6000):
            raise ValueError(f"{name} is longer than max_length {spec['max_length']}")


def component_data(message: StoredMessage, custom_id: str, values: list[str] | None) -> Payload:
    """``data`` of a click on a button / choice in a select of ``message``.

    Raises:
        LookupError: if the message has no component with that ``custom_id``.
        ValueError: if it is disabled, or ``values`` do not fit the component.
    """
    component = message.component(custom_id)
    if component is None:
        raise LookupError(f"message {message.id} has no component {custom_id!r}; it has {message.custom_ids()}")
    if component.get("disabled"):
        raise ValueError(f"component {custom_id!r} is disabled; a user cannot use it")
    data: Payload = {"custom_id": custom_id, "component_type": component["type"]}
    if component["type"] == BUTTON:
        if values is not None:
            raise ValueError("a button takes no values")
        return data
    chosen = list(values or [])
    low, high = component.get("min_values", 1), component.get("max_values", 1)
    if not low <= len(chosen) <= high:
        raise ValueError(f"select {custom_id!r} takes {low}..{high} values, got {len(chosen)}")
    allowed = [o["value"] for o in component.get("options") or []]
    if allowed and any(v not in allowed for v in chosen):
        raise ValueError(f"values {chosen} not among the options {allowed}")
    data["values"] = chosen
    return data


def modal_submit_data(modal: Payload, values: Mapping[str, str | list[str]], *, validate: bool) -> Payload:
    """``data`` of a modal submit mirroring the modal's layout (action rows or labels); text inputs not in
    ``values`` keep the value the bot prefilled (``""`` clears one).

    Raises:
        ValueError: for an unknown ``custom_id``, a missing required input, or a length outside bounds.
    """
    known = {c["custom_id"]: c for c in walk_components(modal.get("components") or []) if "custom_id" in c}
    unknown = set(values) - set(known)
    if unknown and validate:
        raise ValueError(f"modal {modal.get('custom_id')!r} has no inputs {sorted(unknown)}; it has {sorted(known)}")

    def submitted(component: Payload) -> Payload | None:
        custom_id = component.get("custom_id")
        if custom_id is None:
            return None
        value = values.get(custom_id)
        if component["type"] == TEXT_INPUT:
            # An input the user leaves alone is submitted with the value the bot prefilled.
            value = component.get("value") if value is None else value
            text = "" if value is None else str(value)
            if validate:
                _check_text_input(component, text)
            return {"type": TEXT_INPUT, "id": component.get("id", 0), "custom_id": custom_id, "value": text}
        chosen = [] if value is None else [value] if isinstance(value, str) else list(value)
        return {"type": component["type"], "id": component.get("id", 0), "custom_id": custom_id, "values": chosen}

    rows: list[Payload] = []
    for top in modal.get("components") or []:
        if top.get("type") == 1:
            children = [s for c in top.get("components") or [] if (s := submitted(c)) is not None]
            rows.append({"type": 1, "id": top.get("id", 0), "components": children})
        elif top.get("type") == LABEL and (child := submitted(top["component"])) is not None:
            rows.append({"type": LABEL, "id": top.get("id", 0), "component": child})
    return {"custom_id": modal["custom_id"], "components": rows}


def _check_text_input(component: Payload, text: str) -> None:
    custom_id = component["custom_id"]
    if component.get("required", True) and not text:
        raise ValueError(f"text input {custom_id!r} is required")
    if text and len(text) < component.get("min_length", 0):
        raise ValueError(f"text input {custom_id!r} is shorter than min_length {component['min_length']}")
    if len(text) > component.get("max_length", 4000):
        raise ValueError(f"text input {custom_id!r} is longer than max_length {component.get('max_length', 4000)}")
