"""Serving the dashboard: its static files, the plotly.js bundle of the installed ``plotly`` package, and a
Content-Security-Policy on every /ui response.

The pages run entirely in the browser against the public /v1 API, so nothing here reads the database; the key
stays in the browser's sessionStorage and travels only in the Authorization header of fetch() calls.
"""

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_PREFIX = "/ui"
STATIC_DIR = Path(__file__).parent / "static"
# Scripts only from selfsup itself (no inline script, no eval); plotly sets inline styles on its SVG, and
# thumbnails are blob: URLs made from item fetches that carried the key.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)


@router.get("")
def ui_root() -> RedirectResponse:
    return RedirectResponse(f"{UI_PREFIX}/", status_code=307)


@router.get("/")
def ui_index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/vendor/plotly.min.js")
def plotly_bundle() -> FileResponse:
    return FileResponse(plotly_bundle_path(), media_type="text/javascript")


@lru_cache
def plotly_bundle_path() -> Path:
    """The bundle the ``plotly`` pip package ships, so the dashboard needs no CDN and no Node build."""
    return Path(str(files("plotly") / "package_data" / "plotly.min.js"))


class ContentSecurityPolicy:
    """Adds the dashboard's CSP (and nosniff, no referrer) to every response under ``prefix``."""

    def __init__(self, app: ASGIApp, *, prefix: str = UI_PREFIX) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
            await send(message)

        await self.app(scope, receive, send_with_policy)


def install_dashboard(app: FastAPI) -> None:
    """The routes above first, then the static files under the same prefix, then the policy around both."""
    app.include_router(router)
    app.mount(UI_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui")
    app.add_middleware(ContentSecurityPolicy)
