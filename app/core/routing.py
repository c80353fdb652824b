"""Routes that parse and check a large JSON body in a worker thread, not on the event loop.

FastAPI parses a JSON body and validates it on the event loop, even for a sync route. Bodies are held to
SELFSUP_MAX_JSON_BYTES, but tens of megabytes of JSON take seconds to parse and more to validate, and while
they do every other request, /healthz included, waits. :class:`ThreadedJsonRoute` does both in a thread for
bodies over :data:`THREAD_ABOVE_BYTES`: a body that fails is refused from there (the 422 FastAPI would give);
one that passes is handed over parsed, and FastAPI's own validation of it is cheap because every request
model caps its lists.
"""

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

THREAD_ABOVE_BYTES = 64 * 1024  # below it, a thread costs more than the parse


class ThreadedJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        field = self.body_field if not self._embed_body_fields else None

        async def threaded(request: Request) -> Response:
            if field is not None and _is_json(request.headers.get("content-type", "")):
                body = await request.body()
                if len(body) > THREAD_ABOVE_BYTES:
                    request._json = await run_in_threadpool(_parsed_and_checked, body, field)
            return await handler(request)

        return threaded


def _parsed_and_checked(body: bytes, field: Any) -> Any:
    """The parsed body, or the RequestValidationError FastAPI would raise for it."""
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}]) from None
    _, errors = field.validate(value, loc=("body",))
    if errors:
        raise RequestValidationError(errors)
    return value


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))
