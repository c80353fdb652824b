from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.auth.deps import Reader
from app.core.deps import SessionDep, SettingsDep, StorageDep
from app.core.errors import FieldErrors, Unprocessable
from app.embeddings.schemas import MAX_INPUTS, EmbedRequest, EmbedResponse
from app.embeddings.service import EncoderCache, embed_images, images_from_base64
from app.models.service import ENCODER_FILE, get_model

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


@router.post("/{model_id}/embed", response_model=EmbedResponse, openapi_extra=_REQUEST_BODY)
async def embed(
    caller: Reader, request: Request, model_id: str, session: SessionDep, settings: SettingsDep, storage: StorageDep
) -> EmbedResponse:
    """Embed images sent as JSON (base64 or data URLs in ``inputs``) or as multipart ``files``."""
    model = await run_in_threadpool(get_model, session, tenant=caller.tenant, model_id=model_id)
    blobs, field = await _read_inputs(request)
    cache: EncoderCache = request.app.state.encoder_cache
    path = storage.path(model.storage_key) / ENCODER_FILE
    vectors = await run_in_threadpool(
        embed_images,
        cache,
        model_id=model.id,
        path=path,
        blobs=blobs,
        field=field,
        max_pixels=settings.max_image_pixels,
    )
    return EmbedResponse(model=model.id, dim=model.dim, embeddings=vectors.tolist())


async def _read_inputs(request: Request) -> tuple[list[bytes], str]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=MAX_INPUTS)
        files = [item for item in form.getlist("files") if isinstance(item, UploadFile)]
        if not files:
            raise FieldErrors([(("body", "files"), "send at least one image in the 'files' field")])
        return [await f.read() for f in files], "files"
    if not content_type.startswith("application/json"):
        raise Unprocessable("send application/json with 'inputs', or multipart/form-data with 'files'")
    try:
        body = EmbedRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise FieldErrors([(("body", *e["loc"]), e["msg"]) for e in exc.errors()]) from None
    return images_from_base64(body.inputs, field="inputs"), "inputs"
