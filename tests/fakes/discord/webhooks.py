"""Interaction callbacks and the interaction webhook (original response, follow-ups).

These routes carry no bot token: the interaction token in the URL is the credential, valid for
``token_lifetime`` fake-clock seconds from the interaction's creation.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .bodies import RequestBody, check_file_sizes, json_response, read_body
from .bodies import to_int as _int
from .messages import create_message, delete_message, edit_message
from .records import EPHEMERAL, LOADING, CallbackRecord, InteractionRecord, StoredMessage
from .rules import (
    ApiError,
    already_acknowledged,
    check_choices,
    check_modal,
    field_error,
    invalid_form,
    invalid_webhook_token,
    unknown_interaction,
    unknown_message,
    unknown_webhook,
)
from .state import FakeState

Payload = dict[str, Any]

MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, AUTOCOMPLETE_RESULT, MODAL = 4, 5, 6, 7, 8, 9
ALLOWED_CALLBACKS: dict[int, set[int]] = {
    2: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    3: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL},
    4: {AUTOCOMPLETE_RESULT},
    5: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE},
}


class InteractionRoutes:
    """``/interactions/...`` and ``/webhooks/{application_id}/{token}/...``."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """The aiohttp route table under ``prefix`` (``/api/v10``)."""
        hook = prefix + "/webhooks/{application_id}/{token}"
        return [
            web.post(prefix + "/interactions/{interaction_id}/{token}/callback", self.callback),
            web.post(hook, self.execute),
            web.get(hook + "/messages/{message_id}", self.get_message),
            web.patch(hook + "/messages/{message_id}", self.edit_message),
            web.delete(hook + "/messages/{message_id}", self.delete_message),
        ]

    # -- callback --------------------------------------------------------------------------------

    async def callback(self, request: web.Request) -> web.Response:
        """Acknowledge an interaction (types 4-9), enforcing the 3-second rule and single ack."""
        arrived = time.monotonic()
        state = self._state
        record = state.interactions.get(_int(request.match_info["interaction_id"]))
        if record is None or record.token != request.match_info["token"]:
            raise unknown_interaction(
                "callback for an interaction the fake never sent", violation="unknown_interaction"
            )
        body = await read_body(request)
        callback_type = int(body.payload.get("type") or 0)
        data = body.payload.get("data")
        real_delay, fake_delay = arrived - record.dispatched_at, state.clock.now() - record.created_at
        try:
            reply = self._acknowledge(record, callback_type, body, real_delay, fake_delay)
        except ApiError as error:
            record.responses.append(CallbackRecord(callback_type, data, error.status, False, real_delay, fake_delay))
            state.changed()
            raise
        files = [] if record.original is None else list(record.original.attachments)
        record.responses.append(CallbackRecord(callback_type, data, 200, True, real_delay, fake_delay, files))
        state.changed()
        return json_response(reply)

    def _acknowledge(
        self, record: InteractionRecord, callback_type: int, body: RequestBody, real_delay: float, fake_delay: float
    ) -> Payload:
        config = self._state.config
        if record.ack is not None:
            raise already_acknowledged()
        delay = real_delay if config.ack_clock == "real" else fake_delay
        if delay > config.ack_deadline or any(r.status == 404 for r in record.responses):
            raise unknown_interaction(f"acknowledged after {delay:.3f}s ({config.ack_clock} clock)")
        if callback_type not in ALLOWED_CALLBACKS.get(record.type, set()):
            raise invalid_form(
                {
                    "type": field_error(
                        "INTERACTION_RESPONSE_TYPE_INVALID", f"type {callback_type} for interaction type {record.type}"
                    )
                },
                violation="invalid_response_type",
            )
        check_file_sizes(body, config.attachment_size_limit)
        data: Payload = body.payload.get("data") or {}
        message = self._respond(record, callback_type, RequestBody(data, body.files))
        interaction: Payload = {
            "id": str(record.id),
            "type": record.type,
            "response_message_loading": callback_type == DEFERRED_MESSAGE,
            "response_message_ephemeral": bool(message is not None and message.ephemeral),
        }
        reply: Payload = {"interaction": interaction}
        if message is not None:
            interaction["response_message_id"] = str(message.id)
            reply["resource"] = {"type": callback_type, "message": message.payload()}
        return reply

    def _respond(self, record: InteractionRecord, callback_type: int, body: RequestBody) -> StoredMessage | None:
        state, data = self._state, body.payload
        if callback_type in (MESSAGE, DEFERRED_MESSAGE):
            flags = int(data.get("flags") or 0)
            if callback_type == DEFERRED_MESSAGE:
                body = RequestBody({"flags": flags & EPHEMERAL})
            record.original = create_message(
                state,
                body,
                channel_id=record.channel_id,
                guild_id=record.guild_id,
                interaction=record,
                forced_flags=LOADING if callback_type == DEFERRED_MESSAGE else 0,
            )
            return record.original
        if callback_type in (DEFERRED_UPDATE, UPDATE):
            source = record.source_message
            if source is None or source.deleted:
                raise invalid_form(
                    {"type": field_error("INTERACTION_RESPONSE_TYPE_INVALID", "no message to update")},
                    violation="invalid_response_type",
                )
            if callback_type == UPDATE:
                edit_message(state, source, body)
            record.original = source
            return source if callback_type == UPDATE else None
        if callback_type == AUTOCOMPLETE_RESULT:
            check_choices(data)
            record.choices = list(data.get("choices") or [])
            return None
        check_modal(data)
        record.modal = data
        return None

    # -- webhook ---------------------------------------------------------------------------------

    def _interaction(self, request: web.Request) -> InteractionRecord:
        state = self._state
        token = request.match_info["token"]
        if _int(request.match_info["application_id"]) != state.config.application_id:
            raise unknown_webhook("webhook id is not the application id")
        record = state.interaction_by_token(token)
        if record is None:
            raise invalid_webhook_token("token of no interaction")
        age = state.clock.now() - record.created_at
        if age >= state.config.token_lifetime:
            raise invalid_webhook_token(f"interaction token used {age:.0f}s after creation")
        if record.ack is None:
            raise unknown_webhook("webhook used before the interaction was acknowledged")
        return record

    def _target(self, request: web.Request, record: InteractionRecord) -> StoredMessage:
        wanted = request.match_info["message_id"]
        candidates = [m for m in [record.original, *record.followups] if m is not None]
        if wanted == "@original":
            target = record.original
        else:
            target = next((m for m in candidates if str(m.id) == wanted), None)
        if target is None or target.deleted:
            raise unknown_message()
        return target

    async def execute(self, request: web.Request) -> web.Response:
        """A follow-up; after a thinking deferral the first one replaces the loading message."""
        record = self._interaction(request)
        body = await read_body(request)
        check_file_sizes(body, self._state.config.attachment_size_limit)
        original = record.original
        if original is not None and original.loading and original.interaction_id == record.id:
            edit_message(self._state, original, body)
            message = original
        else:
            message = create_message(
                self._state, body, channel_id=record.channel_id, guild_id=record.guild_id, interaction=record
            )
        record.followups.append(message)
        self._state.changed()
        if request.query.get("wait", "").lower() in ("1", "true"):
            return json_response(message.payload())
        return web.Response(status=204)

    async def get_message(self, request: web.Request) -> web.Response:
        """Fetch the original response or a follow-up."""
        record = self._interaction(request)
        return json_response(self._target(request, record).payload())

    async def edit_message(self, request: web.Request) -> web.Response:
        """Edit the original response or a follow-up."""
        record = self._interaction(request)
        target = self._target(request, record)
        body = await read_body(request)
        check_file_sizes(body, self._state.config.attachment_size_limit)
        edit_message(self._state, target, body)
        return json_response(target.payload())

    async def delete_message(self, request: web.Request) -> web.Response:
        """Delete the original response or a follow-up."""
        record = self._interaction(request)
        delete_message(self._state, self._target(request, record))
        return web.Response(status=204)
