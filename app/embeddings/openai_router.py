"""``POST /v1/embeddings``: OpenAI's embeddings API over our models, so OpenAI's clients work unchanged.

The same serving path as the native ``/v1/models/{id}/embed`` (admission gate, encoder cache, per-model
micro-batcher, L2-normalized vectors), behind OpenAI's request, response and error shapes.
"""

import base64
import json
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.auth.deps import bearer, requires
from app.auth.service import Principal
from app.core.deps import SessionDep
from app.core.errors import FieldErrors, NotFound
from app.core.json_guard import JsonGuard, JsonRefused
from app.embeddings.images import images_from_base64
from app.embeddings.openai_errors import OpenAIError, OpenAIRoute
from app.embeddings.openai_schemas import Embedding, EmbeddingsRequest, EmbeddingsResponse, ErrorResponse, Usage
from app.embeddings.router import request_slot
from app.embeddings.service import ClientInputs, EncoderCache, embed_batched, prepare_off_loop
from app.models.aliases import resolve_model
from app.models.orm import RegisteredModel

router = APIRouter(prefix="/v1", tags=["embeddings"], route_class=OpenAIRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "A request we cannot use; ``param`` names the field."),
        (401, "A missing, unknown or revoked key (``invalid_api_key``)."),
        (403, "The key lacks the read scope."),
        (404, "No model of that id or alias for this key's tenant (``model_not_found``)."),
        (413, "A body over the size limit."),
        (503, "The server is saturated; retry after ``Retry-After`` seconds."),
    )
}
_require_read = requires("read")


def reader(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Check the key, then hand the database connection back: the request may wait long for its batch, and
    must not hold a pooled connection meanwhile (see ``app.embeddings.router.owned_model``)."""
    try:
        return _require_read(request, session, credentials)
    finally:
        session.close()


@router.post(
    "/embeddings",
    response_model=EmbeddingsResponse,
    responses=_ERRORS,
    # First, so that a saturated server refuses before any thread or query (as the native route does).
    dependencies=[Depends(request_slot, scope="function")],
)
async def create_embeddings(
    body: EmbeddingsRequest,
    caller: Annotated[Principal, Depends(reader)],
    request: Request,
    session: SessionDep,
) -> EmbeddingsResponse:
    """Embed ``input`` with the model named by id or alias, answering as OpenAI's embeddings API does."""
    model = await run_in_threadpool(_resolve, session, tenant=caller.tenant, name=body.model)
    if body.dimensions is not None and body.dimensions != model.dim:
        raise OpenAIError(
            400,
            f"model {body.model!r} makes {model.dim}-dimensional embeddings and cannot shorten them (it was not "
            f"trained for truncation): send dimensions={model.dim} or leave 'dimensions' out",
            param="dimensions",
        )
    cache: EncoderCache = request.app.state.encoder_cache
    vectors, tokens = await _vectors(model, body.items(), cache=cache)
    data = [Embedding(embedding=_encoded(v, body.encoding_format), index=i) for i, v in enumerate(vectors)]
    return EmbeddingsResponse(data=data, model=model.id, usage=Usage(prompt_tokens=tokens, total_tokens=tokens))


def _resolve(session: Session, *, tenant: str, name: str) -> RegisteredModel:
    try:
        return resolve_model(session, tenant=tenant, name=name)
    except NotFound:
        message = f"The model {name!r} does not exist or you do not have access to it."
        raise OpenAIError(404, message, param="model", code="model_not_found") from None
    finally:
        session.close()


async def _vectors(
    model: RegisteredModel,
    inputs: list[str] | list[list[int]],
    *,
    cache: EncoderCache,
) -> tuple[np.ndarray, int]:
    """Inputs -> ((B, D) unit vectors, prompt tokens), through the model's batcher (503 when saturated)."""
    client_inputs = _client_inputs(model, inputs)
    prepared = await prepare_off_loop(
        cache,
        model_id=model.id,
        key=model.storage_key,
        inputs=client_inputs,
    )
    return await embed_batched(prepared), prepared.tokens


def _client_inputs(model: RegisteredModel, inputs: list[str] | list[list[int]]) -> ClientInputs:
    """What the strings or token arrays mean for this model.

    Image models take images as data URLs or base64; text models text or token ids; image-text models either,
    told apart by the ``data:`` prefix of images (one kind per request); table models one JSON object per
    string, a row keyed by column name (so a plain OpenAI client can send rows).
    """
    if inputs and not isinstance(inputs[0], str):
        if model.modality not in ("text", "image_text"):
            raise OpenAIError(400, f"model {model.id!r} has no tokenizer; send strings, not token ids", param="input")
        return ClientInputs("token_ids", inputs, "input")
    texts: list[str] = inputs  # type: ignore[assignment]  # a list of strings: the schema allows no mix
    if model.modality == "tabular":
        return ClientInputs("row", [_row(text, i) for i, text in enumerate(texts)], "input")
    if model.modality == "image":
        return ClientInputs("image", _images_for_image_model(model, texts), "input")
    images = [text.startswith("data:") for text in texts]
    if model.modality == "image_text" and all(images):
        return ClientInputs("image", images_from_base64(texts, field="input"), "input")
    if any(images):
        raise OpenAIError(400, "send images (data URLs) and texts in separate requests", param="input")
    return ClientInputs("text", texts, "input")


def _images_for_image_model(model: RegisteredModel, texts: list[str]) -> list[bytes]:
    """Plain text is the usual mistake here (an OpenAI client sends strings), so say what the model takes."""
    try:
        return images_from_base64(texts, field="input")
    except FieldErrors as exc:
        index = exc.errors[0]["loc"][-1]
        message = (
            f"model {model.id!r} takes images, not text: send each input as a base64 image or a data URL "
            f"(data:image/png;base64,...); input[{index}] is neither"
        )
        raise OpenAIError(400, message, param="input") from None


def _row(text: str, index: int) -> dict[str, Any]:
    """One input string -> a row. The string is JSON of its own, so the body's guard never saw inside it: it is
    guarded here (nesting, NaN), and what ``json`` refuses (an integer of 5000 digits is a ValueError, not a
    JSONDecodeError) is a 400 naming the input rather than a 500."""
    try:
        JsonGuard().feed(text.encode("utf-8", "surrogatepass"))
        row = json.loads(text)
    except (JsonRefused, ValueError) as exc:
        raise OpenAIError(400, f"input[{index}]: not a usable JSON object: {str(exc)[:200]}", param="input") from None
    if not isinstance(row, dict):
        raise OpenAIError(400, f"input[{index}]: a table model takes each row as a JSON object string", param="input")
    return row


def _encoded(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    """(D,) -> floats, or base64 of little-endian float32 bytes (what OpenAI's clients decode)."""
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()
