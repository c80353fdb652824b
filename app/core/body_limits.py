"""Refusing request bodies that are too large, before they are read: a pure ASGI middleware.

A declared ``Content-Length`` over the route's limit is answered 413 at once, without reading a byte.
A body without one (chunked) is counted as it arrives and cut off with 413 as soon as it passes the limit.
A client that stops sending mid-body is answered 408 (and the connection closed) once no bytes have come for
``read_timeout`` seconds, so that slow or stalled bodies cannot hold connections open forever.
JSON bodies are watched on the way through by :class:`~app.core.json_guard.JsonGuard` (422 for nesting
no parser should be handed, or NaN and Infinity). Nothing is buffered: each chunk goes on as it comes.
"""

import re
from collections.abc import Callable, Mapping, Sequence

import anyio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.json_guard import JsonGuard, JsonRefused

RouteKey = tuple[str, str]  # (method, path)
PathLimit = tuple[re.Pattern[str], int]  # paths that match, and their limit
Responder = Callable[[HTTPException], Response]


class BodyRefused(HTTPException):
    """Raised from ``receive``; an HTTPException so that FastAPI's body parsing lets it through unchanged."""

    def __init__(self, status_code: int, detail: object) -> None:
        super().__init__(status_code=status_code, detail=detail, headers={"Connection": "close"})  # type: ignore[arg-type]


class BodyLimits:
    """``route_limits`` maps (method, path) to a limit in bytes, ``path_limits`` path patterns (for paths with
    parameters) to one; every other request gets ``default_limit``.

    ``responders`` maps a path whose API answers errors in its own shape (OpenAI's, say) to what turns a
    refusal into that shape; other paths get FastAPI's ``{"detail": ...}``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        default_limit: int,
        route_limits: Mapping[RouteKey, int],
        path_limits: Sequence[PathLimit] = (),
        responders: Mapping[str, Responder] | None = None,
        read_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.read_timeout = read_timeout
        self.default_limit = default_limit
        self.route_limits = dict(route_limits)
        self.path_limits = list(path_limits)
        self.responders = dict(responders or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["method"], scope["path"])
        headers = Headers(scope=scope)
        refusal = _declared_refusal(headers.get("content-length"), limit)
        if refusal is not None:
            await self._respond(refusal, scope, receive, send)
            return
        metered = _MeteredBody(receive, send, limit, JsonGuard() if _is_json(headers) else None, self.read_timeout)
        try:
            await self.app(scope, metered.receive, metered.send)
        except BodyRefused as exc:
            if metered.response_started:
                raise
            await self._respond(exc, scope, receive, send)

    def _limit(self, method: str, path: str) -> int:
        if (method, path) in self.route_limits:
            return self.route_limits[(method, path)]
        return next((limit for pattern, limit in self.path_limits if pattern.match(path)), self.default_limit)

    async def _respond(self, refusal: BodyRefused, scope: Scope, receive: Receive, send: Send) -> None:
        responder = self.responders.get(scope["path"])
        if responder is not None:
            response = responder(refusal)
        else:
            response = JSONResponse(
                {"detail": refusal.detail}, status_code=refusal.status_code, headers=refusal.headers
            )
        await response(scope, receive, send)


class _MeteredBody:
    """One request's ``receive`` and ``send``, counting (and for JSON, watching) the body as it streams."""

    def __init__(
        self, receive: Receive, send: Send, limit: int, guard: JsonGuard | None, read_timeout: float | None
    ) -> None:
        self._receive, self._send = receive, send
        self.limit, self.guard, self.read_timeout = limit, guard, read_timeout
        self.received = 0
        self.body_done = False  # past the body, receive() waits for a disconnect: no timeout applies
        self.refusal: BodyRefused | None = None
        self.response_started = False

    async def receive(self) -> Message:
        if self.refusal is not None:  # whoever swallowed the first refusal gets it again
            raise self.refusal
        message = await self._next_message()
        if message["type"] == "http.request":
            self.body_done = not message.get("more_body", False)
            self._check(message.get("body", b""))
        return message

    async def _next_message(self) -> Message:
        if self.body_done or self.read_timeout is None:
            return await self._receive()
        with anyio.move_on_after(self.read_timeout):
            return await self._receive()
        self.refusal = BodyRefused(408, f"the request body stalled: no bytes came for {self.read_timeout:g} s")
        raise self.refusal

    def _check(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.limit:
            self.refusal = BodyRefused(413, f"request body passed the limit of {self.limit} bytes")
            raise self.refusal
        if self.guard is not None:
            try:
                self.guard.feed(chunk)
            except JsonRefused as exc:
                self.refusal = BodyRefused(422, [{"loc": ["body"], "msg": str(exc), "type": "value_error"}])
                raise self.refusal from None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)


def _declared_refusal(content_length: str | None, limit: int) -> BodyRefused | None:
    if content_length is None:
        return None
    if not (content_length.isascii() and content_length.isdigit()):
        return BodyRefused(400, f"Content-Length must be a number of bytes, got {content_length[:40]!r}")
    digits = content_length.lstrip("0") or "0"
    if len(digits) > len(str(limit)) or int(digits) > limit:  # a huge number is never converted
        return BodyRefused(413, f"request body of {digits[:40]} bytes is over the limit of {limit} bytes")
    return None


def _is_json(headers: Headers) -> bool:
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _fastapi_shaped(refusal: HTTPException) -> Response:
    return JSONResponse({"detail": refusal.detail}, status_code=refusal.status_code, headers=refusal.headers)
