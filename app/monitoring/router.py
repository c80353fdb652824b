"""``GET /metrics``: open to clients on this host, or to holders of ``SELFSUP_METRICS_TOKEN`` when it is set."""

import ipaddress
import secrets

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from app.core.config import get_settings
from app.core.errors import Forbidden, Unauthorized
from app.monitoring.exposition import Exposition

router = APIRouter(tags=["monitoring"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    # A plain (threaded) route: the jobs figures come from the database, off the event loop.
    check_scraper(request, token=get_settings().metrics_token)
    exposition: Exposition = request.app.state.exposition
    return Response(exposition.render(), media_type=CONTENT_TYPE_LATEST)


def check_scraper(request: Request, *, token: str | None) -> None:
    """With a token: the bearer token must equal it. Without: only loopback clients (a reverse proxy on this
    host counts as one, so set a token when the service is published through one)."""
    if token is not None:
        scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
            raise Unauthorized("/metrics needs 'Authorization: Bearer <SELFSUP_METRICS_TOKEN>'")
        return
    if not _is_loopback(request.client.host if request.client else ""):
        raise Forbidden("/metrics answers only this host; set SELFSUP_METRICS_TOKEN to scrape it from elsewhere")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # TestClient's "testclient", a unix socket: not a network peer we can vouch for
        return False
