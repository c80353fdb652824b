"""Refusing a /v1 request without a valid key before its body is read: a pure ASGI middleware.

FastAPI reads and parses a body (spooling a multipart upload to disk, parsing JSON) before it runs a route's
dependencies, so the key check every route declares (app.auth.deps) came only after a client without any key
had made the server write gigabytes to temp disk. :class:`KeyGate` looks at the ``Authorization`` header
first: a missing, malformed, unknown or revoked key is answered 401 without reading a byte of the body. A known
key goes on to the route with its principal in the request's state, where the route's own dependency finds it
and checks the scope without looking the key up again.
"""

from collections.abc import Callable, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth import secrets
from app.auth.service import Principal, authenticate
from app.core.db import session_factory
from app.core.errors import ServiceError, Unauthorized
from app.core.lookup_cache import LookupCache

Responder = Callable[[ServiceError], Response]
GATE_PRINCIPAL = "principal"  # the request-state attribute holding the key's principal once the gate checked it
Bypass = Callable[[Scope], bool]


class KeyGate:
    """Checks the bearer key of requests under ``prefix``.

    ``responders`` maps a path whose API answers errors in its own shape (OpenAI's) to what makes that shape.
    ``bypass`` lets a request through unchecked when the route would refuse it more cheaply itself (the
    embedding routes' admission gate answers 503 before any thread or query; the route still checks the key).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str = "/v1",
        responders: Mapping[str, Responder] | None = None,
        bypass: Bypass | None = None,
        principals: LookupCache[str, Principal] | None = None,
    ) -> None:
        self.app = app
        # Keys looked up recently, by the secret's digest (app.state.principals: revoking a key forgets it).
        self.principals = principals if principals is not None else LookupCache(0)
        self.prefix = prefix
        self.responders = dict(responders or {})
        self.bypass = bypass or (lambda _scope: False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix) or self.bypass(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        checked = await _check(headers.get("authorization"), self.principals)
        if isinstance(checked, Principal):
            scope.setdefault("state", {})[GATE_PRINCIPAL] = checked
            await self.app(scope, receive, send)
            return
        refusal = checked
        if _has_body(headers):  # the unread body makes the connection unusable for another request
            refusal.headers = {**(refusal.headers or {}), "Connection": "close"}
        await self._response(refusal, scope["path"])(scope, receive, send)

    def _response(self, refusal: ServiceError, path: str) -> Response:
        responder = self.responders.get(path)
        if responder is not None:
            return responder(refusal)
        return JSONResponse({"detail": refusal.message}, status_code=refusal.status_code, headers=refusal.headers)


async def _check(authorization: str | None, principals: LookupCache[str, Principal]) -> Principal | Unauthorized:
    """The principal of a known, unrevoked key, or what the route's key check would say about this header.

    A key seen within the cache's time to live is answered without a thread or a query; unknown keys are never
    kept, so a new key works at once and a stream of made-up keys cannot fill the cache."""
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:  # as HTTPBearer reads the header
        return Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    if not secrets.is_well_formed(secret):
        return Unauthorized("invalid or revoked API key")
    digest = secrets.digest(secret)
    principal = principals.get(digest)
    if principal is None:
        principal = await run_in_threadpool(_authenticate, secret)
        if principal is not None:
            principals.put(digest, principal)
    return principal or Unauthorized("invalid or revoked API key")


def _authenticate(secret: str) -> Principal | None:
    with session_factory()() as session:
        return authenticate(session, secret=secret)


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
