from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile, status

from app.auth.deps import Reader, Writer
from app.core.deps import SessionDep, SettingsDep, StorageDep
from app.core.ids import new_id
from app.core.pagination import MAX_OFFSET, Page, PageParams, page_params
from app.datasets import service
from app.datasets.ingest import IngestOptions
from app.datasets.ingest_jobs import progress_of, upload_key
from app.datasets.items import item_response
from app.datasets.modalities import check_modality
from app.datasets.orm import Dataset
from app.datasets.schemas import DatasetOut, parse_column_types
from app.datasets.sniff import check_archive_upload
from app.datasets.sources import (
    NewDataset,
    check_one_source,
    plan_import,
    store_request_file,
    take_resumable_upload,
)
from app.quotas import service as quotas
from app.quotas.service import TenantLimits

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

UPLOAD_HELP = (
    "image: a .zip, .tar or .tar.gz of PNG, JPEG, WebP or BMP images (class folders or labels.csv optional). "
    "text: a .txt (one document per line), .jsonl or .csv file, or an archive of them. "
    "tabular: a .csv or .parquet file. "
    "image_text: an archive of images plus captions.jsonl or captions.csv."
)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=DatasetOut)
def upload_dataset(
    caller: Writer,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    file: Annotated[UploadFile | None, File(description=UPLOAD_HELP)] = None,
    upload_id: Annotated[
        str | None, Form(max_length=40, description="Instead of file: a completed resumable upload (/v1/uploads).")
    ] = None,
    source: Annotated[
        str | None,
        Form(
            max_length=1024,
            description="Instead of file: s3://bucket/prefix, read by the ingest worker; only prefixes the operator "
            "allows (SELFSUP_IMPORT_ALLOWED_PREFIXES). Its objects are ingested as one archive's members.",
        ),
    ] = None,
    modality: Annotated[
        str, Form(description="image (the default), text, tabular or image_text; a CSV or JSONL needs text or tabular.")
    ] = "image",
    image_size: Annotated[
        int | None, Form(ge=8, le=1024, description="image, image_text: stored side length in pixels.")
    ] = None,
    vocab_size: Annotated[int, Form(ge=100, le=200_000, description="text, image_text: tokenizer vocabulary.")] = 8000,
    max_length: Annotated[int, Form(ge=8, le=4096, description="text, image_text: tokens kept per text.")] = 128,
    text_field: Annotated[
        str, Form(min_length=1, max_length=100, description="text: JSONL field / CSV column.")
    ] = "text",
    label_field: Annotated[
        str, Form(min_length=1, max_length=100, description="text: optional label field / column (evaluation only).")
    ] = "label",
    label_column: Annotated[
        str | None, Form(min_length=1, max_length=200, description="tabular: label column, kept for evaluation only.")
    ] = None,
    column_types: Annotated[
        str | None,
        Form(
            max_length=100_000,
            description='tabular: JSON object overriding inferred types, e.g. {"zip": "categorical"}.',
        ),
    ] = None,
) -> DatasetOut:
    """Store the upload (or take a completed resumable upload, or plan an import) and answer at once with the
    dataset ``processing``; a worker ingests it. Poll ``GET /v1/datasets/{id}`` until ``ready`` (or ``failed``,
    with the reason in ``error``)."""
    check_modality(modality)
    check_one_source(file=file, upload_id=upload_id, source=source)
    if file is not None:
        check_archive_upload(modality=modality, filename=file.filename or "upload", stream=file.file)
    options = IngestOptions(
        image_size=image_size or settings.default_image_size,
        vocab_size=vocab_size,
        max_length=max_length,
        text_field=text_field,
        label_field=label_field,
        label_column=label_column,
        column_types=parse_column_types(column_types),
    )
    limits = TenantLimits.from_settings(settings)
    new = NewDataset(new_id("ds"), caller.tenant, name, modality, options, limits)
    if file is not None:
        dataset = _from_request_file(session, settings, storage, file, new)
    elif upload_id is not None:
        ingest_source = take_resumable_upload(session, tenant=caller.tenant, upload_id=upload_id, dataset_id=new.id)
        dataset = new.record(session, ingest_source)
    else:
        dataset = new.record(session, plan_import(settings, tenant=caller.tenant, url=str(source)))
    return DatasetOut.from_row(dataset)


def _from_request_file(
    session: SessionDep, settings: SettingsDep, storage: StorageDep, file: UploadFile, new: "NewDataset"
) -> Dataset:
    # Commits the slot, which also returns the session's connection to the pool for the long part below.
    slot = quotas.begin_upload(session, tenant=new.tenant, limits=new.limits)
    try:
        ingest_source = store_request_file(file, storage=storage, settings=settings, dataset_id=new.id)
        try:
            return new.record(session, ingest_source)
        except BaseException:
            storage.delete(upload_key(new.id))
            raise
    finally:
        quotas.end_upload(session, upload_id=slot)


@router.get("", response_model=Page[DatasetOut])
def list_datasets(
    caller: Reader, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[DatasetOut]:
    rows, total = service.list_datasets(session, tenant=caller.tenant, limit=page.limit, offset=page.offset)
    return Page(
        items=[DatasetOut.from_row(r, summary=True) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{dataset_id}", response_model=DatasetOut)
def get_dataset(caller: Reader, session: SessionDep, dataset_id: str) -> DatasetOut:
    dataset = service.get_dataset(session, tenant=caller.tenant, dataset_id=dataset_id)
    return DatasetOut.from_row(dataset, progress=progress_of(session, dataset_id=dataset.id))


@router.get(
    "/{dataset_id}/items/{index}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "application/json": {}}}},
)
def get_item(
    caller: Reader,
    session: SessionDep,
    request: Request,
    dataset_id: str,
    index: Annotated[
        int, Path(ge=-MAX_OFFSET, le=MAX_OFFSET, description="The item's position: row i of an embedding run.")
    ],
    part: Annotated[
        Literal["image", "caption"] | None, Query(description="image_text: the image (default) or its captions.")
    ] = None,
) -> Response:
    """Item ``index`` as stored: an image as PNG (image, image_text), a text or a table row (in original
    units, category names) as JSON, with its label when it has one."""
    dataset = service.get_dataset(session, tenant=caller.tenant, dataset_id=dataset_id)
    return item_response(request.app.state.encoder_cache.blobs, dataset=dataset, index=index, part=part)


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(caller: Writer, session: SessionDep, storage: StorageDep, dataset_id: str) -> None:
    service.delete_dataset(session, tenant=caller.tenant, storage=storage, dataset_id=dataset_id)
