"""Discord's platform rules and error bodies, as the fake enforces them.

Each broken rule raises :class:`ApiError`; the server turns it into the JSON error Discord sends
and, when ``violation`` is set, records it in ``FakeDiscord.violations``.
"""

from __future__ import annotations

from typing import Any

from .records import EPHEMERAL, IS_COMPONENTS_V2, LOADING, walk_components

Payload = dict[str, Any]

ACK_DEADLINE = 3.0
TOKEN_LIFETIME = 15 * 60.0
DEFAULT_ATTACHMENT_SIZE_LIMIT = 20 * 1024 * 1024

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_ATTACHMENTS = 10
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_FIELDS = 25
MAX_EMBED_FIELD_NAME = 256
MAX_EMBED_FIELD_VALUE = 1024
MAX_EMBED_FOOTER = 2048
MAX_EMBED_AUTHOR = 256
MAX_EMBED_TOTAL = 6000
MAX_ACTION_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_V2_COMPONENTS = 40
MAX_CUSTOM_ID = 100
MAX_CHOICES = 25
MAX_CHOICE_TEXT = 100
MAX_MODAL_TITLE = 45

ALLOWED_SEND_FLAGS = (1 << 2) | EPHEMERAL | (1 << 12) | IS_COMPONENTS_V2
"""SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2."""

BUTTON = 2
SELECTS = {3, 5, 6, 7, 8}
TEXT_INPUT = 4


class ApiError(Exception):
    """An error response: HTTP ``status`` with Discord's ``{"code", "message", "errors"?}`` body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        violation: str | None = None,
        detail: str = "",
        errors: Payload | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message} {detail}".strip())
        self.status = status
        self.code = code
        self.message = message
        self.violation = violation
        self.detail = detail or message
        self.errors = errors

    def body(self) -> Payload:
        """The JSON error body."""
        body: Payload = {"code": self.code, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def unknown_interaction(detail: str, *, violation: str | None = "late_ack") -> ApiError:
    """``404 10062``: late (or never-sent) interaction."""
    return ApiError(404, 10062, "Unknown interaction", violation=violation, detail=detail)


def already_acknowledged() -> ApiError:
    """``400 40060``: second acknowledgement."""
    return ApiError(
        400,
        40060,
        "Interaction has already been acknowledged.",
        violation="double_ack",
        detail="second acknowledgement of the same interaction",
    )


def invalid_webhook_token(detail: str) -> ApiError:
    """``401 50027``: interaction token expired or unknown."""
    return ApiError(401, 50027, "Invalid Webhook Token", violation="expired_token", detail=detail)


def unknown_webhook(detail: str) -> ApiError:
    """``404 10015``: webhook of an interaction that was never acknowledged."""
    return ApiError(404, 10015, "Unknown Webhook", violation="webhook_without_ack", detail=detail)


def unknown_message() -> ApiError:
    """``404 10008`` (not a violation: a bot may race a deletion)."""
    return ApiError(404, 10008, "Unknown Message")


def unknown_channel() -> ApiError:
    """``404 10003``."""
    return ApiError(404, 10003, "Unknown Channel")


def too_large(detail: str) -> ApiError:
    """``413 40005``: a file over the upload limit."""
    return ApiError(413, 40005, "Request entity too large", violation="file_too_large", detail=detail)


def unauthorized() -> ApiError:
    """``401``: missing or wrong ``Authorization: Bot`` header."""
    return ApiError(401, 0, "401: Unauthorized", violation="unauthorized", detail="missing or wrong bot token")


def missing_permissions(detail: str) -> ApiError:
    """``403 50013``."""
    return ApiError(403, 50013, "Missing Permissions", violation="missing_permissions", detail=detail)


def missing_access(detail: str) -> ApiError:
    """``403 50001``: the bot cannot see the channel (no View Channel, or no Read Message History to fetch)."""
    return ApiError(403, 50001, "Missing Access", violation="missing_access", detail=detail)


def cannot_message_user(detail: str) -> ApiError:
    """``403 50007``: the user does not accept direct messages from the bot."""
    return ApiError(403, 50007, "Cannot send messages to this user", violation="dm_refused", detail=detail)


def not_the_author() -> ApiError:
    """``403 50005``."""
    return ApiError(
        403, 50005, "Cannot edit a message authored by another user", violation="edit_others_message"
    )


def empty_message() -> ApiError:
    """``400 50006``."""
    return ApiError(400, 50006, "Cannot send an empty message", violation="empty_message")


def invalid_form(errors: Payload, *, violation: str = "invalid_form_body") -> ApiError:
    """``400 50035 Invalid Form Body`` with Discord's nested ``errors`` object."""
    return ApiError(400, 50035, "Invalid Form Body", violation=violation, detail=describe_errors(errors), errors=errors)


def field_error(code: str, message: str) -> Payload:
    """One ``{"_errors": [...]}`` leaf of an ``errors`` tree."""
    return {"_errors": [{"code": code, "message": message}]}


def too_long(limit: int) -> Payload:
    """The ``BASE_TYPE_MAX_LENGTH`` leaf."""
    return field_error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def describe_errors(errors: Payload, prefix: str = "") -> str:
    """Flatten an ``errors`` tree into ``"path: message; ..."``."""
    parts: list[str] = []
    for key, value in errors.items():
        if key == "_errors":
            parts.extend(f"{prefix or 'body'}: {e['message']}" for e in value)
        elif isinstance(value, dict):
            parts.append(describe_errors(value, f"{prefix}.{key}" if prefix else key))
    return "; ".join(parts)


def check_message(
    *,
    content: str,
    embeds: list[Payload],
    components: list[Payload],
    attachment_count: int,
    flags: int,
    has_poll_or_sticker: bool = False,
) -> None:
    """Validate a message as it would be after a create or edit.

    Raises:
        ApiError: 50035 for a broken limit, 50006 for an empty message.
    """
    errors: Payload = {}
    v2 = bool(flags & IS_COMPONENTS_V2)
    if len(content) > MAX_CONTENT:
        errors["content"] = too_long(MAX_CONTENT)
    if v2 and (content or embeds):
        errors["content" if content else "embeds"] = field_error(
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
        )
    if len(embeds) > MAX_EMBEDS:
        errors["embeds"] = too_long(MAX_EMBEDS)
    embed_errors = {str(i): e for i, embed in enumerate(embeds) if (e := _embed_errors(embed))}
    if embed_errors:
        errors.setdefault("embeds", {}).update(embed_errors)
    if attachment_count > MAX_ATTACHMENTS:
        errors["attachments"] = too_long(MAX_ATTACHMENTS)
    component_errors = _v2_component_errors(components) if v2 else _component_errors(components)
    if component_errors:
        errors["components"] = component_errors
    if errors:
        raise invalid_form(errors)
    if not (content or embeds or components or attachment_count or has_poll_or_sticker or flags & LOADING):
        raise empty_message()


def _embed_errors(embed: Payload) -> Payload:
    errors: Payload = {}
    limits = {"title": MAX_EMBED_TITLE, "description": MAX_EMBED_DESCRIPTION}
    for key, limit in limits.items():
        if len(embed.get(key) or "") > limit:
            errors[key] = too_long(limit)
    fields = embed.get("fields") or []
    if len(fields) > MAX_EMBED_FIELDS:
        errors["fields"] = too_long(MAX_EMBED_FIELDS)
    for i, item in enumerate(fields):
        if len(item.get("name") or "") > MAX_EMBED_FIELD_NAME:
            errors.setdefault("fields", {}).setdefault(str(i), {})["name"] = too_long(MAX_EMBED_FIELD_NAME)
        if len(item.get("value") or "") > MAX_EMBED_FIELD_VALUE:
            errors.setdefault("fields", {}).setdefault(str(i), {})["value"] = too_long(MAX_EMBED_FIELD_VALUE)
    if len((embed.get("footer") or {}).get("text") or "") > MAX_EMBED_FOOTER:
        errors["footer"] = {"text": too_long(MAX_EMBED_FOOTER)}
    if len((embed.get("author") or {}).get("name") or "") > MAX_EMBED_AUTHOR:
        errors["author"] = {"name": too_long(MAX_EMBED_AUTHOR)}
    total = sum(len(embed.get(k) or "") for k in ("title", "description"))
    total += sum(len(f.get("name") or "") + len(f.get("value") or "") for f in fields)
    total += len((embed.get("footer") or {}).get("text") or "") + len((embed.get("author") or {}).get("name") or "")
    if total > MAX_EMBED_TOTAL and not errors:
        errors["_errors"] = [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Embed size exceeds maximum size of 6000"}]
    return errors


def _custom_id_errors(component: Payload) -> Payload:
    if len(component.get("custom_id") or "") > MAX_CUSTOM_ID:
        return {"custom_id": too_long(MAX_CUSTOM_ID)}
    return {}


def _component_errors(rows: list[Payload]) -> Payload:
    errors: Payload = {}
    if len(rows) > MAX_ACTION_ROWS:
        errors["_errors"] = too_long(MAX_ACTION_ROWS)["_errors"]
    for r, row in enumerate(rows):
        row_errors: Payload = {}
        if row.get("type") != 1:
            row_errors["type"] = field_error(
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "Top-level components must be action rows"
            )
        children = row.get("components") or []
        has_select = any(c.get("type") in SELECTS for c in children)
        if not children or len(children) > MAX_ROW_BUTTONS or (has_select and len(children) > 1):
            row_errors["components"] = field_error(
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "The specified component exceeds the maximum width"
            )
        for c, child in enumerate(children):
            if child_errors := _custom_id_errors(child):
                row_errors.setdefault("components", {})[str(c)] = child_errors
        if row_errors:
            errors[str(r)] = row_errors
    return errors


def _v2_component_errors(components: list[Payload]) -> Payload:
    errors: Payload = {}
    everything = list(walk_components(components))
    if len(everything) > MAX_V2_COMPONENTS:
        errors["_errors"] = too_long(MAX_V2_COMPONENTS)["_errors"]
    for i, component in enumerate(everything):
        if component_errors := _custom_id_errors(component):
            errors[str(i)] = component_errors
    return errors


def check_flags(flags: int) -> None:
    """Only flags a bot may set when sending.

    Raises:
        ApiError: 50035 for any other flag.
    """
    if flags & ~ALLOWED_SEND_FLAGS:
        raise invalid_form({"flags": field_error("MESSAGE_FLAGS_INVALID", f"Invalid flags {flags}")})


def check_modal(data: Payload) -> None:
    """Validate a modal (callback type 9).

    Raises:
        ApiError: 50035 for a missing or over-long field, or 0 / more than 5 components.
    """
    errors: Payload = {}
    if not data.get("title") or len(data["title"]) > MAX_MODAL_TITLE:
        errors["title"] = too_long(MAX_MODAL_TITLE)
    if not data.get("custom_id") or len(data["custom_id"]) > MAX_CUSTOM_ID:
        errors["custom_id"] = too_long(MAX_CUSTOM_ID)
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        errors["components"] = too_long(5)
    for i, component in enumerate(walk_components(components)):
        if component_errors := _custom_id_errors(component):
            errors.setdefault("components", {})[str(i)] = component_errors
    if errors:
        raise invalid_form({"data": errors})


def check_choices(data: Payload) -> None:
    """Validate autocomplete choices (callback type 8).

    Raises:
        ApiError: 50035 for more than 25 choices, or a choice whose name is not 1–100 characters or whose
            string value is longer than 100.
    """
    choices = data.get("choices") or []
    if len(choices) > MAX_CHOICES:
        raise invalid_form({"data": {"choices": too_long(MAX_CHOICES)}})
    errors: Payload = {}
    for i, choice in enumerate(choices):
        problems: Payload = {}
        if not 1 <= len(str(choice.get("name") or "")) <= MAX_CHOICE_TEXT:
            problems["name"] = too_long(MAX_CHOICE_TEXT)
        value = choice.get("value")
        if value is None or (isinstance(value, str) and len(value) > MAX_CHOICE_TEXT):
            problems["value"] = too_long(MAX_CHOICE_TEXT)
        if problems:
            errors[str(i)] = problems
    if errors:
        raise invalid_form({"data": {"choices": errors}})
