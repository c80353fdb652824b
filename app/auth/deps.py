"""The dependency every /v1 route declares: a bearer key with the scope the route needs."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.gate import GATE_PRINCIPAL
from app.auth.service import Principal, authenticate
from app.core.deps import SessionDep
from app.core.errors import Forbidden, Unauthorized

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ssk_...`")


def requires(scope: str) -> Callable[..., Principal]:
    def dependency(
        request: Request,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if credentials is None:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        # The key gate (app.auth.gate) already looked this key up for most requests: no second query for those.
        principal = getattr(request.state, GATE_PRINCIPAL, None) or authenticate(
            session, secret=credentials.credentials
        )
        if principal is None:
            raise Unauthorized("invalid or revoked API key")
        if not principal.allows(scope):
            raise Forbidden(f"this key lacks the '{scope}' scope")
        return principal

    return dependency


Reader = Annotated[Principal, Depends(requires("read"))]
Writer = Annotated[Principal, Depends(requires("write"))]
Admin = Annotated[Principal, Depends(requires("admin"))]
