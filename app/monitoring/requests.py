"""Every HTTP request measured and logged once: a pure ASGI middleware, the outermost.

It gives each request an id (the client's ``X-Request-ID`` when it is a plausible one, else a new one) and
returns it in the response, counts the request by route template and status, times it, counts refusals
(429/503) by reason, and writes one JSON line to ``selfsup.access``. The tenant comes from the key gate's
principal (app.auth.gate), the reason from the error handler (app.core.errors.REFUSAL_REASON).
"""

import logging
import re
import time
import uuid
import weakref
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path, get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.gate import GATE_PRINCIPAL
from app.core.access_log import ACCESS_LOGGER
from app.core.errors import REFUSAL_REASON
from app.monitoring.instruments import HTTP_DURATION, HTTP_REQUESTS, REFUSALS

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED = "unmatched"  # no route: one label for every unknown path, so scanners cannot grow the series
log = logging.getLogger(ACCESS_LOGGER)


class RequestObserver:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500  # what the client sees when the app fails before it starts a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _observe(scope, status=status, seconds=time.perf_counter() - started, request_id=request_id)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if REQUEST_ID.fullmatch(given) and "ssk_" not in given.lower():  # never echo a key into the logs
                return given
    return uuid.uuid4().hex


def _observe(scope: Scope, *, status: int, seconds: float, request_id: str) -> None:
    route, method = route_template(scope), scope["method"]
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)
    state: dict[str, Any] = scope.get("state", {})
    if status in (429, 503):
        REFUSALS.labels(str(status), state.get(REFUSAL_REASON, "unspecified")).inc()
    principal = state.get(GATE_PRINCIPAL)
    fields = {
        "request_id": request_id,
        "tenant": getattr(principal, "tenant", None),
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    log.info("request", extra={"fields": fields})


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (``/v1/jobs/{job_id}``), also for requests refused
    before routing (the key gate's 401s)."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    route_path = get_route_path(scope)
    return next((template for pattern, template in _templates(scope["app"]) if pattern.match(route_path)), UNMATCHED)


_TEMPLATES: "weakref.WeakKeyDictionary[Any, list[tuple[re.Pattern[str], str]]]" = weakref.WeakKeyDictionary()


def _templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    """Every route template of ``app`` with its pattern, in routing order. FastAPI keeps included routers as
    branches, so the app's own route list holds no templates; its route contexts do."""
    if app not in _TEMPLATES:
        paths = (context.path_format for context in iter_route_contexts(app.router.routes))
        unique = dict.fromkeys(path for path in paths if isinstance(path, str))
        _TEMPLATES[app] = [(compile_path(path)[0], path) for path in unique]
    return _TEMPLATES[app]
