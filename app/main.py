"""The FastAPI application factory."""

import re
from collections.abc import Callable

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Scope

from app.auth.gate import KeyGate
from app.auth.router import router as keys_router
from app.core.body_limits import BodyLimits
from app.core.config import get_settings
from app.core.errors import install_error_handlers
from app.core.health import router as health_router
from app.datasets.router import router as datasets_router
from app.embedding_runs.router import router as embedding_runs_router
from app.embeddings.admission import RequestGate
from app.embeddings.openai_errors import error_response as openai_error_response
from app.embeddings.openai_router import router as openai_router
from app.embeddings.router import router as embeddings_router
from app.embeddings.service import EncoderCache
from app.jobs.router import router as jobs_router
from app.methods.router import router as methods_router
from app.models.router import router as models_router
from app.ui.router import install_dashboard
from app.uploads.router import router as uploads_router


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="selfsup",
        version="0.1.0",
        description="Upload unlabeled data, pretrain a self-supervised encoder, serve its embeddings.",
    )
    app.state.encoder_cache = EncoderCache.from_settings(settings)
    install_error_handlers(app)
    routers = (
        health_router,
        keys_router,
        datasets_router,
        uploads_router,
        methods_router,
        jobs_router,
        models_router,
        embedding_runs_router,
        embeddings_router,
        openai_router,
    )
    for router in routers:
        app.include_router(router)
    install_dashboard(app)
    upload = ("POST", app.url_path_for("upload_dataset"))
    responders: dict[str, Callable[[Exception], Response]] = {
        str(app.url_path_for("create_embeddings")): openai_error_response
    }  # OpenAI's error shape there
    # Added first, so it runs inside BodyLimits: a declared oversize body is refused before any key lookup.
    app.add_middleware(KeyGate, responders=responders, bypass=_saturated_embedding(app.state.encoder_cache.gate))
    app.add_middleware(
        BodyLimits,
        default_limit=min(settings.max_api_json_bytes, settings.max_json_bytes),
        route_limits={upload: settings.max_upload_bytes},
        path_limits=[(EMBEDDING_PATH, settings.max_json_bytes), (UPLOAD_PART_PATH, settings.max_upload_part_bytes)],
        responders=responders,
        read_timeout=settings.body_read_timeout_seconds,
    )
    return app


# The routes whose bodies carry inputs to embed (base64 images): the only JSON bodies allowed to be large.
EMBEDDING_PATH = re.compile(r"^/v1/(embeddings|models/[^/]+/embed)$")
UPLOAD_PART_PATH = re.compile(r"^/v1/uploads/[^/]+/parts/[0-9]+$")


def _saturated_embedding(gate: RequestGate) -> Callable[[Scope], bool]:
    """Embedding requests skip the early key check while their gate is full: the route answers 503 before any
    thread or query, and a refusal must stay that cheap under overload. The route still checks the key."""
    return lambda scope: gate.full and EMBEDDING_PATH.match(scope["path"]) is not None
