"""Resumable uploads over HTTP: create, send parts (in any order, again if need be), complete, delete.

A client that loses its connection asks ``GET /v1/uploads/{id}`` which parts arrived and sends the rest.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, status
from fastapi.concurrency import run_in_threadpool

from app.auth.deps import Reader, Writer
from app.auth.service import Principal
from app.core.deps import SessionDep, SettingsDep, StorageDep
from app.core.errors import Unprocessable
from app.core.pagination import Page, PageParams, page_params
from app.core.storage import Storage
from app.core.uploads import StagedFile, staged_stream
from app.quotas import service as quotas
from app.quotas.service import TenantLimits
from app.uploads import service
from app.uploads.schemas import SHA256_PATTERN, PartOut, UploadCreate, UploadOut
from app.uploads.service import MAX_PARTS, UploadLimits

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])
PartNumber = Annotated[int, Path(ge=1, le=MAX_PARTS, description=f"1 to {MAX_PARTS}; parts join in this order.")]


def _out(session: SessionDep, settings: SettingsDep, upload_id: str, tenant: str) -> UploadOut:
    upload = service.get_upload(session, tenant=tenant, upload_id=upload_id)
    parts = service.list_parts(session, upload_id=upload_id)
    return UploadOut.from_row(upload, parts, max_part_bytes=settings.max_upload_part_bytes)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UploadOut)
def create_upload(caller: Writer, session: SessionDep, settings: SettingsDep, body: UploadCreate) -> UploadOut:
    upload = service.create_upload(
        session,
        tenant=caller.tenant,
        filename=body.filename,
        declared_bytes=body.bytes,
        quota=TenantLimits.from_settings(settings),
        limits=UploadLimits.from_settings(settings),
    )
    return _out(session, settings, upload.id, caller.tenant)


@router.get("", response_model=Page[UploadOut])
def list_uploads(
    caller: Reader, session: SessionDep, settings: SettingsDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[UploadOut]:
    rows, total = service.list_uploads(session, tenant=caller.tenant, limit=page.limit, offset=page.offset)
    items = [_out(session, settings, row.id, caller.tenant) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{upload_id}", response_model=UploadOut)
def get_upload(caller: Reader, session: SessionDep, settings: SettingsDep, upload_id: str) -> UploadOut:
    return _out(session, settings, upload_id, caller.tenant)


@router.put("/{upload_id}/parts/{number}", response_model=PartOut)
async def put_part(
    caller: Writer,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    request: Request,
    upload_id: str,
    number: PartNumber,
    x_part_sha256: Annotated[
        str | None, Header(pattern=SHA256_PATTERN, description="The part's SHA-256 (hex): checked before it is kept.")
    ] = None,
) -> PartOut:
    """The raw body is the part (``application/octet-stream``); sending a number again replaces that part."""
    await run_in_threadpool(service.open_upload_for_part, session, tenant=caller.tenant, upload_id=upload_id)
    # Each part in flight takes one of the tenant's upload slots, like a whole-file upload.
    slot = await run_in_threadpool(
        quotas.begin_upload, session, tenant=caller.tenant, limits=TenantLimits.from_settings(settings)
    )
    what = f"upload {upload_id} part {number}"
    try:
        max_bytes = settings.max_upload_part_bytes
        async with staged_stream(request.stream(), storage=storage, max_bytes=max_bytes, what=what) as staged:
            _check_part(staged, x_part_sha256, what)
            return await run_in_threadpool(_keep_part, session, settings, storage, caller, upload_id, number, staged)
    finally:
        await run_in_threadpool(quotas.end_upload, session, upload_id=slot)


def _check_part(staged: StagedFile, expected_sha256: str | None, what: str) -> None:
    if staged.size_bytes == 0:
        raise Unprocessable(f"{what} is empty")
    if expected_sha256 is not None and expected_sha256 != staged.sha256:
        raise Unprocessable(f"{what}: its SHA-256 is {staged.sha256}, not {expected_sha256}; send it again")


def _keep_part(
    session: SessionDep,
    settings: SettingsDep,
    storage: Storage,
    caller: Principal,
    upload_id: str,
    number: int,
    staged: StagedFile,
) -> PartOut:
    """Store the bytes under a fresh key, then record them; the replaced sending's object goes last."""
    key = service.part_key(upload_id, number)
    storage.put_file(staged.path, key)
    try:
        part, replaced_key = service.record_part(
            session,
            tenant=caller.tenant,
            upload_id=upload_id,
            number=number,
            size_bytes=staged.size_bytes,
            sha256=staged.sha256,
            storage_key=key,
            quota=TenantLimits.from_settings(settings),
            limits=UploadLimits.from_settings(settings),
        )
    except BaseException:
        storage.delete(key)
        raise
    if replaced_key is not None:
        storage.delete(replaced_key)
    return PartOut.from_row(part)


@router.post("/{upload_id}/complete", response_model=UploadOut)
def complete_upload(caller: Writer, session: SessionDep, settings: SettingsDep, upload_id: str) -> UploadOut:
    """Checks that parts 1..N are all there (and the declared size, if any); then the upload can become a
    dataset: ``POST /v1/datasets`` with ``upload_id`` instead of ``file``."""
    service.complete_upload(session, tenant=caller.tenant, upload_id=upload_id)
    return _out(session, settings, upload_id, caller.tenant)


@router.delete("/{upload_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_upload(caller: Writer, session: SessionDep, storage: StorageDep, upload_id: str) -> None:
    for key in service.delete_upload(session, tenant=caller.tenant, upload_id=upload_id):
        storage.delete(key)
