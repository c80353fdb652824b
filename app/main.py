"""The FastAPI application factory."""

import re
from collections.abc import Callable

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Scope

from app.apidocs.router import install_docs
from app.auth.gate import KeyGate
from app.auth.router import router as keys_router
from app.classifiers.predict import ClassifierCache
from app.classifiers.router import router as classifiers_router
from app.core.body_limits import BodyLimits
from app.core.config import get_settings
from app.core.errors import install_error_handlers
from app.core.health import router as health_router
from app.core.lookup_cache import LookupCache
from app.curation.open_runs import OpenRuns
from app.curation.router import router as curation_router
from app.datasets.router import router as datasets_router
from app.embedding_runs.router import router as embedding_runs_router
from app.embeddings.admission import RequestGate
from app.embeddings.openai_errors import error_response as openai_error_response
from app.embeddings.openai_router import router as openai_router
from app.embeddings.router import router as embeddings_router
from app.embeddings.service import EncoderCache
from app.exports.router import router as exports_router
from app.exports.service import Exporter
from app.indexes.router import router as indexes_router
from app.jobs.events import StreamSlots
from app.jobs.router import router as jobs_router
from app.methods.router import router as methods_router
from app.models.router import router as models_router
from app.monitoring.exposition import Exposition
from app.monitoring.requests import RequestObserver
from app.monitoring.router import router as monitoring_router
from app.ui.router import install_dashboard
from app.uploads.router import router as uploads_router


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="selfsup",
        version="0.1.0",
        description="Upload unlabeled data, pretrain a self-supervised encoder, serve its embeddings.",
        docs_url=None,  # served from local files by install_docs, not from a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.encoder_cache = EncoderCache.from_settings(settings)
    # Recent key and model-id lookups of the serving path (app.core.lookup_cache): keys by secret digest.
    app.state.principals = LookupCache(settings.lookup_cache_seconds)
    app.state.models = LookupCache(settings.lookup_cache_seconds)
    app.state.open_runs = OpenRuns(app.state.encoder_cache.blobs, capacity=settings.open_runs_cache_size)
    app.state.classifier_cache = ClassifierCache(settings.classifier_cache_size, blobs=app.state.encoder_cache.blobs)
    app.state.exposition = Exposition(jobs_cache_seconds=settings.metrics_jobs_cache_seconds)
    app.state.event_streams = StreamSlots(settings.tenant_max_event_streams)
    app.state.exporter = Exporter(app.state.encoder_cache.blobs)
    install_error_handlers(app)
    # Routes are tried in order and the embedding routes carry nearly all traffic: first, they match without
    # walking the others (under bench/serve_load.py that walk was about 30% of the event loop's CPU).
    routers = (
        embeddings_router,
        openai_router,
        health_router,
        keys_router,
        datasets_router,
        uploads_router,
        methods_router,
        jobs_router,
        models_router,
        exports_router,
        embedding_runs_router,
        classifiers_router,
        indexes_router,
        curation_router,
        monitoring_router,
    )
    for router in routers:
        app.include_router(router)
    install_dashboard(app)
    upload = ("POST", app.url_path_for("upload_dataset"))
    labels = ("POST", app.url_path_for("create_classifier"))  # a labels CSV of up to classifier_max_labels rows
    responders: dict[str, Callable[[Exception], Response]] = {
        str(app.url_path_for("create_embeddings")): openai_error_response
    }  # OpenAI's error shape there
    # Added first, so it runs inside BodyLimits: a declared oversize body is refused before any key lookup.
    bypass = _saturated_embedding(app.state.encoder_cache.gate)
    app.add_middleware(KeyGate, responders=responders, bypass=bypass, principals=app.state.principals)
    app.add_middleware(
        BodyLimits,
        default_limit=min(settings.max_api_json_bytes, settings.max_json_bytes),
        route_limits={upload: settings.max_upload_bytes, labels: settings.max_json_bytes},
        path_limits=[(EMBEDDING_PATH, settings.max_json_bytes), (UPLOAD_PART_PATH, settings.max_upload_part_bytes)],
        responders=responders,
        read_timeout=settings.body_read_timeout_seconds,
    )
    app.add_middleware(RequestObserver)  # outermost: it sees every answer, refusals by the layers inside too
    return app


# The routes whose bodies carry inputs to embed (base64 images): the only JSON bodies allowed to be large.
EMBEDDING_PATH = re.compile(r"^/v1/(embeddings|models/[^/]+/embed|indexes/[^/]+/search|classifiers/[^/]+/predict)$")
UPLOAD_PART_PATH = re.compile(r"^/v1/uploads/[^/]+/parts/[0-9]+$")


def _saturated_embedding(gate: RequestGate) -> Callable[[Scope], bool]:
    """Embedding requests skip the early key check while their gate is full: the route answers 503 before any
    thread or query, and a refusal must stay that cheap under overload. The route still checks the key."""
    return lambda scope: gate.full and EMBEDDING_PATH.match(scope["path"]) is not None
