from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.auth.deps import bearer, requires
from app.core.deps import SessionDep
from app.core.errors import MAX_SHOWN_ERRORS, FieldErrors, Unprocessable
from app.embeddings.images import images_from_base64
from app.embeddings.schemas import MAX_INPUTS, EmbedRequest, EmbedResponse
from app.embeddings.service import ClientInputs, EncoderCache, embed_batched, prepare_inputs
from app.models.aliases import resolve_model
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
    openapi_extra=_REQUEST_BODY,
    # First, so a refusal comes before owned_model's thread and query; the place is given back as soon as the
    # function returns (scope="function"), not after the response is sent: else a client's next request
    # would find its own previous one still counted.
    dependencies=[Depends(request_slot, scope="function")],
)
async def embed(
    model: Annotated[RegisteredModel, Depends(owned_model)],
    request: Request,
) -> EmbedResponse:
    """Embed what the model takes: images as JSON (base64 or data URLs in ``inputs``) or multipart ``files``;
    ``texts`` or ``token_ids`` for text models; ``rows`` (objects keyed by column) for table models; images or
    texts for image-text models, into their shared space.

    Concurrent requests for one model run through its encoder as one batch. When too many requests are in
    progress, or the model's queue is full, the answer is 503 with ``Retry-After`` at once
    (app.embeddings.admission, app.embeddings.batching).
    """
    inputs = await _read_inputs(request)
    cache: EncoderCache = request.app.state.encoder_cache
    prepared = await run_in_threadpool(
        prepare_inputs,
        cache,
        model_id=model.id,
        key=model.storage_key,
        inputs=inputs,
    )
    vectors = await embed_batched(prepared)
    return EmbedResponse(model=model.id, dim=model.dim, embeddings=vectors.tolist())


async def _read_inputs(request: Request) -> ClientInputs:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=MAX_INPUTS)
        files = [item for item in form.getlist("files") if isinstance(item, UploadFile)]
        if not files:
            raise FieldErrors([(("body", "files"), "send at least one image in the 'files' field")])
        return ClientInputs("image", [await f.read() for f in files], "files")
    if not content_type.startswith("application/json"):
        raise Unprocessable(
            "send application/json (inputs, texts, token_ids or rows), or multipart/form-data with 'files'"
        )
    body = await run_in_threadpool(_embed_request, await request.body())  # tens of MB: off the event loop
    if body.inputs is not None:
        return ClientInputs("image", images_from_base64(body.inputs, field="inputs"), "inputs")
    kind = {"texts": "text", "token_ids": "token_ids", "rows": "row"}[body.field]
    return ClientInputs(kind, getattr(body, body.field), body.field)


def _embed_request(body: bytes) -> EmbedRequest:
    try:
        return EmbedRequest.model_validate_json(body)
    except ValidationError as exc:
        shown = exc.errors(include_input=False)[:MAX_SHOWN_ERRORS]  # a bad array of 100,000 items: 100,000 errors
        raise FieldErrors([(("body", *e["loc"]), e["msg"]) for e in shown]) from None
