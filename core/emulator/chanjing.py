"""The Chanjing (蝉镜) async AI-creation API, faithful to providers.md §3 and the Chanjing document.

Routes (all under ``/open/v1``): ``POST access_token``, ``POST ai_creation/task/submit``, ``GET
ai_creation/task?unique_id=…``, ``POST ai_creation/task/page``.

Behaviour worth knowing in tests:

- Every answer is HTTP 200 with the ``{"trace_id","code","msg","data"}`` envelope; ``code != 0`` is the error
  (codes 400, 10400, 40000, 40001, 50000 as in the Chanjing document). Only scripted faults without a
  ``code`` produce an HTTP-level error (a proxy in front of Chanjing), with ``Fault.status`` and ``Retry-After``.
- Tokens: ``expire_in`` is an absolute Unix time (``config.clock() + chanjing_token_ttl``). Issuing a token
  revokes the app's previous one (its next use gets 10400 "AccessToken 验证失败"); an expired token gets
  10401 (emulator choice: providers.md only says 10401 also means "invalid"). Wrong credentials get 40000.
- Lifecycle, advanced by each query: ``Queued`` for ``chanjing_queued_polls`` polls, ``Generating`` for
  ``chanjing_generating_polls`` polls, then ``Success`` / ``Error`` / ``Fail``. While ``state.hold`` is an
  unset Event the task stays ``Generating`` (a stuck task).
- Outcomes: a blocked word → ``Error`` with an audit ``err_msg`` and no images; ``[refuse:N]`` →
  ``Error`` with every image but N (Chanjing does not say which one failed); ``[fail:N]`` → ``Fail``
  with images 0..N-1.
- ``chanjing_qps`` (> 0): a sliding 1 s window per app id over submit/query/page → 40001.
- ``chanjing_credits`` (not None): images the account can pay for, charged at submit; short → 40000 with
  "扣费失败：蝉豆不足" (the code is the emulator's choice; clients key off the text).
- Faults (``state.take_fault("chanjing", route)``): route ``"token"``, ``"submit"`` (or ``None``),
  ``"query"``, ``"page"``; kinds ``error`` (with ``code``: that business code, ``message`` or the standard
  msg; without: HTTP ``status``), ``malformed`` / ``truncate`` (cut JSON), ``reset`` (connection dropped
  after the headers).
- Counters: ``requests["chanjing"]`` counts submits; ``requests["chanjing.token" / ".query" / ".page"]`` the
  others; ``generated["chanjing"]`` the images produced.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import unicodedata
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import httpx2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from core.emulator.images import render_image
from core.emulator.state import EmulatorState, Fault

MESSAGES = {0: "success", 400: "传入参数格式错误", 10400: "AccessToken 验证失败", 10401: "AccessToken 已过期",
            40000: "参数错误", 40001: "超出 QPS 限制", 50000: "系统内部错误"}
#: model_code → whether it takes ref_img_url
MODELS = {"doubao-seedream-3.0-t2i": False, "doubao-seedream-4.0": True, "doubao-seedream-4.5": True}
ASPECT_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16")
_SIZES = {  # clarity → aspect ratio → (w, h), the documented common values (providers.md §1.2)
    1024: ((1024, 1024), (1152, 864), (864, 1152), (1280, 720), (720, 1280)),
    2048: ((2048, 2048), (2304, 1728), (1728, 2304), (2848, 1600), (1600, 2848)),
    4096: ((4096, 4096), (4704, 3520), (3520, 4704), (5504, 3040), (3040, 5504)),
}
SIZES = {clarity: dict(zip(ASPECT_RATIOS, dims, strict=True)) for clarity, dims in _SIZES.items()}
AUDIT_MESSAGE = "提示词内容审核未通过，请修改后重试"
_MARKER = re.compile(r"\[(refuse|fail):(\d+)\]")


class _Refusal(Exception):
    def __init__(self, code: int, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.msg = f"{MESSAGES[code]}: {detail}" if detail else MESSAGES[code]


@dataclass
class _Task:
    unique_id: str
    app_id: str
    created_at: float
    params: dict[str, Any]
    polls: int = 0
    progress_desc: str = "Queued"
    err_msg: str = ""
    output_url: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def to_wire(self) -> dict[str, Any]:
        return {"unique_id": self.unique_id, "creation_type": 3, **self.params,
                "progress_desc": self.progress_desc, "err_msg": self.err_msg,
                "output_url": list(self.output_url),
                "create_time": int(self.created_at)}


class _ResetResponse(Response):
    """Sends the headers, then drops the connection (an ``httpx2`` read error under ASGITransport)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        raise httpx2.ReadError("connection reset by the emulator (scripted fault)")


def envelope(code: int = 0, *, data: Any = None, msg: str | None = None) -> JSONResponse:
    """A Chanjing answer: always HTTP 200, the outcome is ``code``."""
    body = {"trace_id": uuid.uuid4().hex, "code": code, "msg": msg or MESSAGES.get(code, "系统内部错误"),
            "data": data}
    return JSONResponse(body, status_code=200)


def fault_response(fault: Fault) -> Response:
    """What a scripted fault looks like on the wire (see module docstring)."""
    if fault.kind in ("malformed", "truncate"):
        cut = b'{"trace_id":"0","code":0,"msg":"success","data":{"unique'
        return Response(cut, media_type="application/json")
    if fault.kind == "reset":
        return _ResetResponse()
    if fault.code is not None:
        code = int(fault.code)
        response: Response = envelope(code, msg=fault.message or MESSAGES.get(code, "系统内部错误"))
    else:
        text = fault.message or f"<html><body><h1>{fault.status} Error</h1></body></html>"
        response = Response(text, status_code=fault.status, media_type="text/html")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = f"{fault.retry_after:g}"
    return response


class ChanjingBackend:
    """Tokens, tasks and limits of the emulated Chanjing accounts."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.tokens: dict[str, tuple[str, float]] = {}  # token → (app_id, expires_at)
        self.current: dict[str, str] = {}  # app_id → its only valid token
        self.tasks: dict[str, _Task] = {}
        self.spent = 0  # images charged (against config.chanjing_credits)
        self._windows: defaultdict[str, deque[float]] = defaultdict(deque)

    def routes(self) -> list[BaseRoute]:
        return [Route("/open/v1/access_token", self.access_token, methods=["POST"]),
                Route("/open/v1/ai_creation/task/submit", self.submit, methods=["POST"]),
                Route("/open/v1/ai_creation/task", self.query, methods=["GET"]),
                Route("/open/v1/ai_creation/task/page", self.page, methods=["POST"])]

    # -- routes ---------------------------------------------------------------------------------------------

    async def access_token(self, request: Request) -> Response:
        self.state.requests["chanjing.token"] += 1
        if fault := self.state.take_fault("chanjing", "token"):
            return fault_response(fault)
        try:
            body = await _json_object(request)
            app_id, secret = body.get("app_id"), body.get("secret_key")
            if not isinstance(app_id, str) or not isinstance(secret, str) or not app_id or not secret:
                raise _Refusal(40000, "app_id 和 secret_key 必填")
            config = self.state.config
            if (config.chanjing_app_id is not None and app_id != config.chanjing_app_id) or \
                    (config.chanjing_secret_key is not None and secret != config.chanjing_secret_key):
                raise _Refusal(40000, "app_id 或 secret_key 错误")
        except _Refusal as refusal:
            return envelope(refusal.code, msg=refusal.msg)
        return envelope(data=self.issue_token(app_id))

    async def submit(self, request: Request) -> Response:
        self.state.requests["chanjing"] += 1
        if fault := self.state.take_fault("chanjing", "submit") or self.state.take_fault("chanjing", None):
            return fault_response(fault)
        try:
            app_id = self._admit(request)
            params = validate_submit(await _json_object(request))
            self._charge(params["number_of_images"])
        except _Refusal as refusal:
            return envelope(refusal.code, msg=refusal.msg)
        task = _Task(unique_id=str(uuid.uuid4()), app_id=app_id, created_at=self.state.config.clock(),
                     params=params)
        self.tasks[task.unique_id] = task
        return envelope(data=task.unique_id)

    async def query(self, request: Request) -> Response:
        self.state.requests["chanjing.query"] += 1
        if fault := self.state.take_fault("chanjing", "query"):
            return fault_response(fault)
        try:
            app_id = self._admit(request)
            task = self.tasks.get(request.query_params.get("unique_id") or "")
            if task is None or task.app_id != app_id:
                raise _Refusal(40000, "任务不存在")
        except _Refusal as refusal:
            return envelope(refusal.code, msg=refusal.msg)
        await self._advance(task)
        return envelope(data=task.to_wire())

    async def page(self, request: Request) -> Response:
        self.state.requests["chanjing.page"] += 1
        if fault := self.state.take_fault("chanjing", "page"):
            return fault_response(fault)
        try:
            app_id = self._admit(request)
            ids, page, size = _page_params(await _json_object(request))
        except _Refusal as refusal:
            return envelope(refusal.code, msg=refusal.msg)
        found = [t for t in self.tasks.values() if t.app_id == app_id and (not ids or t.unique_id in ids)]
        found.sort(key=lambda t: t.created_at, reverse=True)
        chunk = found[(page - 1) * size: page * size]
        info = {"page": page, "size": size, "total_count": len(found), "total_page": -(-len(found) // size)}
        return envelope(data={"list": [t.to_wire() for t in chunk], "page_info": info})

    # -- accounts -------------------------------------------------------------------------------------------

    def issue_token(self, app_id: str) -> dict[str, Any]:
        """A new token for ``app_id``; the previous one stops working at once (as on the real service)."""
        previous = self.current.pop(app_id, None)
        if previous is not None:
            self.tokens.pop(previous, None)
        token = secrets.token_hex(16)
        expires_at = int(self.state.config.clock() + self.state.config.chanjing_token_ttl)
        self.tokens[token] = (app_id, float(expires_at))
        self.current[app_id] = token
        return {"access_token": token, "expire_in": expires_at}

    def _admit(self, request: Request) -> str:
        """The app id behind the request's token, after the token and QPS checks."""
        entry = self.tokens.get(request.headers.get("access_token") or "")
        if entry is None:
            raise _Refusal(10400)
        app_id, expires_at = entry
        now = self.state.config.clock()
        if now >= expires_at:
            raise _Refusal(10401)
        qps = self.state.config.chanjing_qps
        if qps > 0:
            window = self._windows[app_id]
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= qps:
                raise _Refusal(40001)
            window.append(now)
        return app_id

    def _charge(self, images: int) -> None:
        credits = self.state.config.chanjing_credits
        if credits is not None:
            if credits - self.spent < images:
                raise _Refusal(40000, "扣费失败：蝉豆不足")
            self.spent += images

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def _advance(self, task: _Task) -> None:
        async with task.lock:  # two concurrent polls must not finish (and render) a task twice
            if task.progress_desc in ("Success", "Error", "Fail"):
                return
            task.polls += 1
            config = self.state.config
            held = self.state.hold is not None and not self.state.hold.is_set()
            if task.polls <= config.chanjing_queued_polls:
                task.progress_desc = "Queued"
            elif task.polls <= config.chanjing_queued_polls + config.chanjing_generating_polls or held:
                task.progress_desc = "Generating"
            else:
                await self._finish(task)

    async def _finish(self, task: _Task) -> None:
        params = task.params
        prompt, count = params["ref_prompt"], params["number_of_images"]
        status, produced, err_msg = outcome(prompt, count, self.state.config.blocked_words)
        width, height = SIZES[params["clarity"]][params["aspect_ratio"]]
        urls, draw = [], task.unique_id  # each task is a new draw, like the real service's
        for index in produced:
            data = await asyncio.to_thread(render_image, prompt + draw, None, width, height, "jpeg", index=index)
            urls.append(self.state.publish(data, "image/jpeg"))
        self.state.generated["chanjing"] += len(urls)
        task.output_url, task.err_msg, task.progress_desc = urls, err_msg, status


def outcome(prompt: str, count: int, blocked_words: tuple[str, ...]) -> tuple[str, list[int], str]:
    """(progress_desc, indexes of the images produced, err_msg) for a finished task."""
    lowered = prompt.lower()
    if any(word.lower() in lowered for word in blocked_words):
        return "Error", [], AUDIT_MESSAGE
    for kind, number in _MARKER.findall(prompt):
        n = int(number)
        if n < count and kind == "fail":
            return "Fail", list(range(n)), "图片生成失败，请稍后重试"
        if n < count and kind == "refuse":
            return "Error", [i for i in range(count) if i != n], f"第{n + 1}张图片内容审核未通过"
    return "Success", list(range(count)), ""


def validate_submit(body: dict[str, Any]) -> dict[str, Any]:
    """The task parameters, validated like the real submit (400 bad format, 40000 bad value, 50000 emoji)."""
    typed = {"creation_type": int, "number_of_images": int, "clarity": int, "ref_prompt": str,
             "model_code": str, "aspect_ratio": str, "ref_img_url": list, "callback": str}
    for name, kind in typed.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise _Refusal(400)
    for name in ("creation_type", "model_code", "ref_prompt", "number_of_images"):
        if body.get(name) in (None, ""):
            raise _Refusal(40000, f"{name} 不能为空")
    if body["creation_type"] != 3:
        raise _Refusal(40000, "creation_type 不支持")
    model = body["model_code"]
    if model not in MODELS:
        raise _Refusal(40000, "模型不存在")
    ratio, clarity = body.get("aspect_ratio") or "1:1", body.get("clarity") or 2048
    if ratio not in ASPECT_RATIOS:
        raise _Refusal(40000, "aspect_ratio 仅支持 " + "、".join(ASPECT_RATIOS))
    if clarity not in SIZES:
        raise _Refusal(40000, "clarity 仅支持 1024、2048、4096")
    if not 1 <= body["number_of_images"] <= 4:
        raise _Refusal(40000, "number_of_images 范围为 1-4")
    refs = body.get("ref_img_url") or []
    if refs and not MODELS[model]:
        raise _Refusal(40000, f"{model} 不支持 ref_img_url 参考图")
    if not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in refs):
        raise _Refusal(40000, "ref_img_url 须为图片 URL")
    if any(unicodedata.category(c) == "So" or ord(c) > 0xFFFF for c in body["ref_prompt"]):
        raise _Refusal(50000)  # the real service fails on emoji with its generic internal error
    return {"model_code": model, "ref_prompt": body["ref_prompt"], "aspect_ratio": ratio, "clarity": clarity,
            "number_of_images": body["number_of_images"], "ref_img_url": list(refs)}


def _page_params(body: dict[str, Any]) -> tuple[set[str], int, int]:
    ids, kind = body.get("unique_ids") or [], body.get("type")
    page, size = body.get("page", 1), body.get("page_size", 10)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _Refusal(400)
    if any(not isinstance(v, int) or isinstance(v, bool) for v in (kind, page, size)):
        raise _Refusal(400)
    if kind != 3:
        raise _Refusal(40000, "type 不支持")
    if page < 1 or not 1 <= size <= 50:
        raise _Refusal(40000, "page 从 1 开始，page_size 最大为 50")
    return set(ids), page, size


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise _Refusal(400) from None
    if not isinstance(body, dict):
        raise _Refusal(400)
    return body


def routes(state: EmulatorState) -> list[BaseRoute]:
    """The Chanjing routes; the backend (tokens, tasks) is reachable as ``route.endpoint.__self__``."""
    return ChanjingBackend(state).routes()
