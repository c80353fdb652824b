from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.auth.deps import Reader, Writer, bearer, requires
from app.classifiers import service
from app.classifiers.labels import LabelLimits
from app.classifiers.orm import Classifier
from app.classifiers.predict import ClassifierCache, predictions, stored_vectors
from app.classifiers.schemas import ClassifierCreate, ClassifierOut, PredictRequest, PredictResponse
from app.core.deps import SessionDep, SettingsDep, StorageDep
from app.core.errors import MAX_SHOWN_ERRORS, Conflict, FieldErrors, Unprocessable
from app.core.pagination import Page, PageParams, page_params
from app.embedding_runs.orm import EmbeddingRun
from app.embeddings.inputs import client_inputs, read_body
from app.embeddings.router import request_slot
from app.embeddings.service import ClientInputs, EncoderCache, embed_batched, prepare_off_loop
from app.models.orm import RegisteredModel
from app.quotas.service import TenantLimits

router = APIRouter(prefix="/v1", tags=["classifiers"])

_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ClassifierCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "embedding_run_id": {"type": "string"},
                        "model_id": {"type": "string"},
                        "dataset_id": {"type": "string"},
                        "labels": {"type": "string", "format": "binary", "description": "CSV: index,label"},
                        "name": {"type": "string"},
                        "regularization": {"type": "number"},
                    },
                    "required": ["labels"],
                }
            },
        },
    }
}
_PREDICT_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": PredictRequest.model_json_schema()}}}
}


@router.post(
    "/classifiers", status_code=status.HTTP_202_ACCEPTED, response_model=ClassifierOut, openapi_extra=_CREATE_BODY
)
async def create_classifier(
    caller: Writer, session: SessionDep, settings: SettingsDep, storage: StorageDep, request: Request
) -> ClassifierOut:
    """Train a linear classifier on labeled items of an embedding run; a worker fits it. JSON labels
    ``{"<item index>": "<label>"}`` or ``"dataset"`` (the run's own), or multipart with a ``labels`` CSV file
    (header ``index,label``). Poll ``GET /v1/classifiers/{id}`` until ``succeeded``."""
    spec = await _read_spec(request)
    classifier = await run_in_threadpool(
        service.create_classifier,
        session,
        tenant=caller.tenant,
        storage=storage,
        spec=spec,
        label_limits=LabelLimits.from_settings(settings),
        limits=TenantLimits.from_settings(settings),
    )
    return ClassifierOut.from_rows(
        *service.classifier_with_job(session, tenant=caller.tenant, classifier_id=classifier.id)
    )


async def _read_spec(request: Request) -> service.ClassifierSpec:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=8)
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        upload = form.get("labels")
        csv = await upload.read() if isinstance(upload, UploadFile) else None
        body = _validated({**fields, "labels": "dataset"} if csv is not None else fields)
        return _spec(body, csv)
    if not content_type.startswith("application/json"):
        raise Unprocessable("send application/json, or multipart/form-data with a 'labels' CSV file")
    return _spec(await run_in_threadpool(_validated, await request.body()), None)


def _validated(data: dict[str, Any] | bytes) -> ClassifierCreate:
    try:
        if isinstance(data, bytes):
            return ClassifierCreate.model_validate_json(data)
        return ClassifierCreate.model_validate(data)
    except ValidationError as exc:
        shown = exc.errors(include_input=False)[:MAX_SHOWN_ERRORS]
        raise FieldErrors([(("body", *e["loc"]), e["msg"]) for e in shown]) from None


def _spec(body: ClassifierCreate, csv: bytes | None) -> service.ClassifierSpec:
    labels = body.labels if csv is None else csv
    return service.ClassifierSpec(
        embedding_run_id=body.embedding_run_id,
        labels=labels,
        name=body.name,
        regularization=body.regularization,
        model_id=body.model_id,
        dataset_id=body.dataset_id,
    )


@router.get("/classifiers", response_model=Page[ClassifierOut])
def list_classifiers(
    caller: Reader, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[ClassifierOut]:
    rows, total = service.list_classifiers(session, tenant=caller.tenant, limit=page.limit, offset=page.offset)
    items = [ClassifierOut.from_rows(row, job) for row, job in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/classifiers/{classifier_id}", response_model=ClassifierOut)
def get_classifier(caller: Reader, session: SessionDep, classifier_id: str) -> ClassifierOut:
    return ClassifierOut.from_rows(
        *service.classifier_with_job(session, tenant=caller.tenant, classifier_id=classifier_id)
    )


@router.delete("/classifiers/{classifier_id}", status_code=204)
def delete_classifier(caller: Writer, session: SessionDep, storage: StorageDep, classifier_id: str) -> Response:
    service.delete_classifier(session, tenant=caller.tenant, storage=storage, classifier_id=classifier_id)
    return Response(status_code=204)


@dataclass(frozen=True)
class Served:
    classifier: Classifier
    model: RegisteredModel
    run: EmbeddingRun | None  # None once the run is deleted: only new inputs predict then


_require_read = requires("read")


def served_classifier(
    classifier_id: str,
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Served:
    """Check the key, find the caller's trained classifier, its model and run, and hand the connection back, in
    one worker thread (as ``owned_model`` does for embedding: no connection is held while the request waits)."""
    caller = _require_read(request, session, credentials)
    try:
        classifier = service.ready_classifier(session, tenant=caller.tenant, classifier_id=classifier_id)
        model = session.get_one(RegisteredModel, classifier.model_id)
        run_id = classifier.embedding_run_id
        return Served(classifier, model, session.get(EmbeddingRun, run_id) if run_id else None)
    finally:
        session.close()


@router.post(
    "/classifiers/{classifier_id}/predict",
    response_model=PredictResponse,
    openapi_extra=_PREDICT_BODY,
    dependencies=[Depends(request_slot, scope="function")],  # the embedding routes' admission, first
)
async def predict(served: Annotated[Served, Depends(served_classifier)], request: Request) -> PredictResponse:
    """Classify what the classifier's model embeds (the bodies ``/v1/models/{id}/embed`` takes, batched and
    bounded the same way), or ``items``: indices of its embedding run, from their stored vectors."""
    body = await read_body(request, PredictRequest)
    encoders: EncoderCache = request.app.state.encoder_cache
    if isinstance(body, PredictRequest) and body.items is not None:
        if served.run is None:
            raise Conflict(f"classifier {served.classifier.id!r} has no embedding run any more; send inputs to embed")
        vectors = await run_in_threadpool(stored_vectors, encoders.blobs, served.run, body.items)
    else:
        inputs = body if isinstance(body, ClientInputs) else client_inputs(body)
        model = served.model
        prepared = await prepare_off_loop(encoders, model_id=model.id, key=model.storage_key, inputs=inputs)
        vectors = await embed_batched(prepared)
    cache: ClassifierCache = request.app.state.classifier_cache
    weights = await run_in_threadpool(cache.get, served.classifier.id, served.classifier.storage_key)
    return PredictResponse(classifier=served.classifier.id, predictions=predictions(weights, vectors))
