from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile, status

from app.auth.deps import Reader, Writer
from app.core.deps import SessionDep, SettingsDep, StorageDep
from app.core.pagination import Page, PageParams, page_params
from app.core.uploads import staged_upload
from app.datasets import service
from app.datasets.schemas import DatasetOut

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DatasetOut)
def upload_dataset(
    caller: Writer,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="A .zip, .tar or .tar.gz of PNG, JPEG, WebP or BMP images.")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    modality: Annotated[str, Form()] = "image",
    image_size: Annotated[int | None, Form(ge=8, le=1024, description="Stored side length in pixels.")] = None,
) -> DatasetOut:
    filename = file.filename or "upload"
    with staged_upload(file, storage=storage, max_bytes=settings.max_upload_bytes) as path:
        dataset = service.create_dataset(
            session,
            tenant=caller.tenant,
            storage=storage,
            settings=settings,
            name=name,
            modality=modality,
            upload=path,
            filename=filename,
            image_size=image_size,
        )
    return DatasetOut.from_row(dataset)


@router.get("", response_model=Page[DatasetOut])
def list_datasets(
    caller: Reader, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[DatasetOut]:
    rows, total = service.list_datasets(session, tenant=caller.tenant, limit=page.limit, offset=page.offset)
    return Page(items=[DatasetOut.from_row(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{dataset_id}", response_model=DatasetOut)
def get_dataset(caller: Reader, session: SessionDep, dataset_id: str) -> DatasetOut:
    return DatasetOut.from_row(service.get_dataset(session, tenant=caller.tenant, dataset_id=dataset_id))


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(caller: Writer, session: SessionDep, storage: StorageDep, dataset_id: str) -> None:
    service.delete_dataset(session, tenant=caller.tenant, storage=storage, dataset_id=dataset_id)
