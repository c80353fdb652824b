from collections.abc import AsyncIterator
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.auth.deps import bearer, requires
from app.auth.gate import GATE_PRINCIPAL
from app.core.db import session_factory
from app.core.deps import SessionDep
from app.core.lookup_cache import LookupCache
from app.embeddings.inputs import inputs_from_json, read_unparsed
from app.embeddings.schemas import EmbedRequest, EmbedResponse
from app.embeddings.service import ClientInputs, EncoderCache, PreparedInputs, embed_batched, prepare_inputs
from app.models.aliases import MODEL_ID_PREFIX, resolve_model
from app.models.orm import RegisteredModel

router = APIRouter(prefix="/v1/models", tags=["embeddings"])

_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": EmbedRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    "required": ["files"],
                }
            },
        },
    }
}


_require_read = requires("read")


def owned_model(
    model_id: str,
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> RegisteredModel:
    """Check the key (as ``Reader`` does), find the caller's model, and hand the database connection back, all in
    one worker thread. A request that kept its connection while it waited for a thread, a batch or its client
    would let enough concurrent requests take every pooled connection while the threads that could give one
    back wait for it: the whole API stalled for the pool timeout (seen at 128 clients on SQLite's pool of 15).
    """
    caller = _require_read(request, session, credentials)
    try:
        return resolve_model(session, tenant=caller.tenant, name=model_id)  # an id or one of the tenant's aliases
    finally:
        session.close()


async def request_slot(request: Request) -> AsyncIterator[None]:
    """A place among the requests in progress, or 503 at once (before the key is even checked)."""
    cache: EncoderCache = request.app.state.encoder_cache
    with cache.gate.slot():
        yield


@router.post(
    "/{model_id}/embed",
    response_model=EmbedResponse,
    # The key as the other routes declare it (``Depends(bearer)``), for the docs only: the route reads it itself.
    openapi_extra={**_REQUEST_BODY, "security": [{bearer.scheme_name: []}]},
)
async def embed(model_id: str, request: Request) -> EmbedResponse:
    """Embed what the model takes: images as JSON (base64 or data URLs in ``inputs``) or multipart ``files``;
    ``texts`` or ``token_ids`` for text models; ``rows`` (objects keyed by column) for table models; images or
    texts for image-text models, into their shared space.

    Concurrent requests for one model run through its encoder as one batch. When too many requests are in
    progress, or the model's queue is full, the answer is 503 with ``Retry-After`` at once
    (app.embeddings.admission, app.embeddings.batching).
    """
    # No dependencies to solve: on the hottest route FastAPI's solving of the slot (a generator dependency)
    # and the key cost about a quarter of the event loop's CPU per request (cProfile, in-process load).
    cache: EncoderCache = request.app.state.encoder_cache
    # First, so a refusal comes before any thread or query; the place is given back as soon as the work is
    # done, not after the response is sent: else a client's next request would find its own previous one
    # still counted.
    with cache.gate.slot():
        credentials = await bearer(request)  # the key's header as the other routes read it
        body = await read_unparsed(request)
        # One worker thread does everything blocking (the model's lookup, JSON, base64 and image decoding):
        # each hop to the pool cost as much CPU as a query under load (py-spy on bench/serve_load.py).
        model, prepared = await _model_and_inputs_off_loop(request, credentials, model_id, body)
        vectors = await embed_batched(prepared)
    return EmbedResponse(model=model.id, dim=model.dim, embeddings=vectors.tolist())


async def _model_and_inputs_off_loop(
    request: Request, credentials: HTTPAuthorizationCredentials | None, model_id: str, body: ClientInputs | bytes
) -> tuple[RegisteredModel, PreparedInputs]:
    """:func:`_model_and_inputs` in one of the threads that prepare inputs (``cache.preparing``); a model that
    is not loaded yet loads in the general pool first, so a slow load holds none of those few threads."""
    cache: EncoderCache = request.app.state.encoder_cache
    args = (request, credentials, model_id, body)
    model, prepared = await to_thread.run_sync(_model_and_inputs, *args, False, limiter=cache.preparing)
    if prepared is None:
        await run_in_threadpool(cache.get, model.id, model.storage_key)
        model, prepared = await to_thread.run_sync(_model_and_inputs, *args, True, limiter=cache.preparing)
    assert prepared is not None  # with load=True
    return model, prepared


def _model_and_inputs(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    model_id: str,
    body: ClientInputs | bytes,
    load: bool,
) -> tuple[RegisteredModel, PreparedInputs | None]:
    """The caller's model and its prepared inputs; no inputs when its encoder is not loaded, unless ``load``."""
    model = _cached_owned_model(request, credentials, model_id)
    cache: EncoderCache = request.app.state.encoder_cache
    if not (load or cache.holds(model.id)):
        return model, None
    inputs = body if isinstance(body, ClientInputs) else inputs_from_json(body)
    return model, prepare_inputs(cache, model_id=model.id, key=model.storage_key, inputs=inputs)


def _cached_owned_model(
    request: Request, credentials: HTTPAuthorizationCredentials | None, model_id: str
) -> RegisteredModel:
    """:func:`owned_model`, reusing a recent lookup of a model id by the same tenant.

    Only ids are kept: a model row never changes once registered, while an alias may move to another model at
    any time. A deleted model is forgotten at once by the process that deleted it (app.models.router), by the
    others when the lookup expires."""
    models: LookupCache[tuple[str, str], RegisteredModel] = request.app.state.models
    caller = getattr(request.state, GATE_PRINCIPAL, None)
    if caller is not None and caller.allows("read") and (hit := models.get((caller.tenant, model_id))) is not None:
        return hit
    session: Session = session_factory()()
    model = owned_model(model_id, request, session, credentials)  # closes the session
    if model_id.startswith(MODEL_ID_PREFIX):
        models.put((model.tenant, model_id), model)
    return model
