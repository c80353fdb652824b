"""Resumable uploads: create one, send numbered parts (again after a dropped connection), complete it, and
hand its parts to a dataset's ingest. Functions take keyword-only arguments and a session they do not own.

A part's bytes go to blob storage under a key of their own before its row is written, and a part sent again
gets a new key, the old object going only after the new row is committed: a re-send that breaks off halfway
never damages the part already recorded.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import db_now
from app.core.errors import Conflict, NotFound, PayloadTooLarge
from app.core.ids import new_id
from app.core.queries import get_owned, paged
from app.quotas import service as quotas
from app.quotas.errors import QuotaExceeded
from app.uploads.orm import ResumableUpload, UploadPart

MAX_PARTS = 10_000
LIVE_STATES = ("open", "completed")  # their parts are kept, and count toward the tenant's stored bytes


@dataclass(frozen=True)
class UploadLimits:
    max_upload_bytes: int
    max_part_bytes: int
    max_open_uploads: int
    expiry_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "UploadLimits":
        return cls(
            max_upload_bytes=settings.max_upload_bytes,
            max_part_bytes=settings.max_upload_part_bytes,
            max_open_uploads=settings.tenant_max_open_uploads,
            expiry_seconds=settings.resumable_upload_expiry_seconds,
        )


@dataclass(frozen=True)
class UploadSource:
    """A completed upload as an ingest reads it: the file is the concatenation of ``keys`` in order."""

    keys: list[str]
    filename: str
    size_bytes: int


def uploads_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}"


def create_upload(
    session: Session,
    *,
    tenant: str,
    filename: str,
    declared_bytes: int | None,
    quota: quotas.TenantLimits,
    limits: UploadLimits,
) -> ResumableUpload:
    if declared_bytes is not None and declared_bytes > limits.max_upload_bytes:
        raise PayloadTooLarge(
            f"{filename}: {declared_bytes} bytes, over the limit of {limits.max_upload_bytes} "
            "(SELFSUP_MAX_UPLOAD_BYTES)"
        )
    quotas.lock_tenant(session, tenant=tenant)
    now = db_now(session)
    live = session.scalar(
        select(func.count()).select_from(ResumableUpload).where(_live(tenant), ResumableUpload.expires_at > now)
    )
    if (live or 0) >= limits.max_open_uploads:
        raise QuotaExceeded(
            f"too many unfinished uploads: {live}, and the limit is {limits.max_open_uploads} per tenant; "
            "complete or delete one first"
        )
    quotas.check_stored_bytes(session, tenant=tenant, limits=quota, adding=declared_bytes or 0)
    upload = ResumableUpload(
        id=new_id("upl"),
        tenant=tenant,
        filename=filename,
        status="open",
        declared_bytes=declared_bytes,
        received_bytes=0,
        expires_at=now + timedelta(seconds=limits.expiry_seconds),
    )
    session.add(upload)
    session.commit()
    return upload


def _live(tenant: str) -> ColumnElement[bool]:
    return and_(ResumableUpload.tenant == tenant, ResumableUpload.status.in_(LIVE_STATES))


def get_upload(session: Session, *, tenant: str, upload_id: str) -> ResumableUpload:
    return get_owned(session, ResumableUpload, upload_id, tenant=tenant, kind="upload")


def list_parts(session: Session, *, upload_id: str) -> list[UploadPart]:
    query = select(UploadPart).where(UploadPart.upload_id == upload_id).order_by(UploadPart.number)
    return list(session.scalars(query))


def open_upload_for_part(session: Session, *, tenant: str, upload_id: str) -> ResumableUpload:
    """The upload, if it still takes parts; the read's transaction ends here, so no connection is held while
    the part's bytes arrive."""
    upload = get_upload(session, tenant=tenant, upload_id=upload_id)
    _require_open(upload, db_now(session))
    session.rollback()
    return upload


def _require_open(upload: ResumableUpload, now: datetime) -> None:
    if upload.status != "open":
        raise Conflict(f"upload {upload.id!r} is {upload.status}; it takes no more parts")
    if upload.expires_at <= now:
        raise NotFound(f"upload {upload.id!r} not found (it expired unfinished)")


def part_key(upload_id: str, number: int) -> str:
    # Unique per sending, so a part sent again never overwrites the recorded one before it is replaced.
    return f"{uploads_prefix(upload_id)}/parts/{number:05d}-{new_id('p')}"


def record_part(
    session: Session,
    *,
    tenant: str,
    upload_id: str,
    number: int,
    size_bytes: int,
    sha256: str,
    storage_key: str,
    quota: quotas.TenantLimits,
    limits: UploadLimits,
) -> tuple[UploadPart, str | None]:
    """Record a stored part (replacing an earlier sending of the same number); returns the part and the key of
    the object it replaced, which the caller deletes once this is committed."""
    quotas.lock_tenant(session, tenant=tenant)
    upload = session.scalars(select(ResumableUpload).where(ResumableUpload.id == upload_id).with_for_update()).one()
    _require_open(upload, db_now(session))
    previous = session.get(UploadPart, (upload_id, number))
    replaced = previous.size_bytes if previous is not None else 0
    total = upload.received_bytes - replaced + size_bytes
    if total > limits.max_upload_bytes:
        raise PayloadTooLarge(
            f"upload {upload_id!r} would hold {total} bytes, over the limit of {limits.max_upload_bytes} "
            "(SELFSUP_MAX_UPLOAD_BYTES)"
        )
    quotas.check_stored_bytes(session, tenant=tenant, limits=quota, adding=max(0, size_bytes - replaced))
    old_key = previous.storage_key if previous is not None else None
    if previous is not None:
        session.delete(previous)
        session.flush()
    part = UploadPart(upload_id=upload_id, number=number, size_bytes=size_bytes, sha256=sha256, storage_key=storage_key)
    session.add(part)
    # Activity keeps an upload alive: a slow multi-day transfer does not expire while parts keep coming.
    expires = db_now(session) + timedelta(seconds=limits.expiry_seconds)
    session.execute(
        update(ResumableUpload).where(ResumableUpload.id == upload_id).values(received_bytes=total, expires_at=expires)
    )
    session.commit()
    return part, old_key


def complete_upload(session: Session, *, tenant: str, upload_id: str) -> ResumableUpload:
    """All parts are in: 1..N with none missing, and as many bytes as the client declared, if it did."""
    upload = get_upload(session, tenant=tenant, upload_id=upload_id)
    if upload.status == "completed":
        return upload  # completing twice is harmless: a client whose answer was lost asks again
    _require_open(upload, db_now(session))
    numbers = [part.number for part in list_parts(session, upload_id=upload_id)]
    if not numbers:
        raise Conflict(f"upload {upload_id!r} has no parts yet")
    missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        raise Conflict(f"upload {upload_id!r} is missing part(s) {shown} of 1..{numbers[-1]}")
    if upload.declared_bytes is not None and upload.declared_bytes != upload.received_bytes:
        raise Conflict(
            f"upload {upload_id!r} declared {upload.declared_bytes} bytes but its parts hold {upload.received_bytes}"
        )
    upload.status = "completed"
    session.commit()
    return upload


def consume_upload(session: Session, *, tenant: str, upload_id: str, dataset_id: str) -> UploadSource:
    """Hand a completed upload to a dataset in the caller's transaction (the dataset's row commits with it)."""
    upload = get_upload(session, tenant=tenant, upload_id=upload_id)
    if upload.status != "completed":
        hint = "; complete it first" if upload.status == "open" else ""
        raise Conflict(f"upload {upload_id!r} is {upload.status}, not completed{hint}")
    upload.status, upload.dataset_id = "consumed", dataset_id
    keys = [part.storage_key for part in list_parts(session, upload_id=upload_id)]
    return UploadSource(keys=keys, filename=upload.filename, size_bytes=upload.received_bytes)


def delete_upload(session: Session, *, tenant: str, upload_id: str) -> list[str]:
    """Forget an unfinished upload; returns the part keys for the caller to delete once committed."""
    upload = get_upload(session, tenant=tenant, upload_id=upload_id)
    if upload.status == "consumed":
        raise Conflict(f"upload {upload_id!r} became dataset {upload.dataset_id!r}; delete the dataset instead")
    keys = [part.storage_key for part in list_parts(session, upload_id=upload_id)]
    session.delete(upload)
    session.commit()
    return keys


def expire_uploads(session: Session, *, limit: int = 100) -> list[str]:
    """Forget unfinished uploads past their expiry; returns their ids, whose storage prefixes the caller
    deletes. Rows go first: a crash before the objects go leaves only unreferenced objects under a prefix that
    nothing will use again, never a row pointing at missing parts."""
    now = db_now(session)
    query = (
        select(ResumableUpload.id)
        .where(ResumableUpload.status.in_(LIVE_STATES), ResumableUpload.expires_at <= now)
        .limit(limit)
    )
    upload_ids = list(session.scalars(query))
    if upload_ids:
        session.execute(delete(ResumableUpload).where(ResumableUpload.id.in_(upload_ids)))
    session.commit()
    return upload_ids


def list_uploads(session: Session, *, tenant: str, limit: int, offset: int) -> tuple[list[ResumableUpload], int]:
    query = select(ResumableUpload).where(ResumableUpload.tenant == tenant)
    order = (ResumableUpload.created_at.desc(), ResumableUpload.id)
    return paged(session, query, order_by=order, limit=limit, offset=offset)
