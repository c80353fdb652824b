"""Reading what a client sent to be embedded from a request: JSON fields or multipart ``files``.

Shared by every route that embeds client inputs (``/v1/models/{id}/embed``, a classifier's predictions).
"""

from typing import TypeVar

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.core.errors import MAX_SHOWN_ERRORS, FieldErrors, Unprocessable
from app.embeddings.images import images_from_base64
from app.embeddings.schemas import MAX_INPUTS, EmbedRequest
from app.embeddings.service import ClientInputs

Body = TypeVar("Body", bound=EmbedRequest)


async def read_body(request: Request, schema: type[Body]) -> ClientInputs | Body:
    """Multipart ``files`` as image inputs, or the JSON body validated as ``schema`` (off the event loop)."""
    body = await read_unparsed(request)
    if isinstance(body, ClientInputs):
        return body
    return await run_in_threadpool(_validated, schema, body)  # tens of MB: off the event loop


async def read_unparsed(request: Request) -> ClientInputs | bytes:
    """Multipart ``files`` as image inputs, or the JSON body's bytes for :func:`inputs_from_json` to read in the
    thread that prepares them (one hop to a worker thread per request instead of two)."""
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
    return await request.body()


def inputs_from_json(body: bytes) -> ClientInputs:
    """A JSON body of ``POST /v1/models/{id}/embed`` -> its inputs; in a worker thread (it may be tens of MB)."""
    return client_inputs(_validated(EmbedRequest, body))


def client_inputs(body: EmbedRequest) -> ClientInputs:
    """The one input field of a validated body (images decoded from base64)."""
    if body.inputs is not None:
        return ClientInputs("image", images_from_base64(body.inputs, field="inputs"), "inputs")
    kind = {"texts": "text", "token_ids": "token_ids", "rows": "row"}[body.field]
    return ClientInputs(kind, getattr(body, body.field), body.field)


def _validated(schema: type[Body], body: bytes) -> Body:
    try:
        return schema.model_validate_json(body)
    except ValidationError as exc:
        shown = exc.errors(include_input=False)[:MAX_SHOWN_ERRORS]  # a bad array of 100,000 items: 100,000 errors
        raise FieldErrors([(("body", *e["loc"]), e["msg"]) for e in shown]) from None
