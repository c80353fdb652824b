"""Where a new dataset's bytes come from: a file in the request, a completed resumable upload, or an
object-store prefix the operator allows. Each becomes an :class:`IngestSource` the ingest worker reads.

Only the file in the request is stored here; a resumable upload's parts are already stored, and an import is
read by the ingest worker itself, straight from its bucket.
"""

from dataclasses import dataclass

from fastapi import UploadFile
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import FieldErrors, Forbidden
from app.core.storage import Storage
from app.core.storage.imports import ImportRefused, check_import_url, parse_s3_prefix
from app.core.uploads import staged_upload
from app.datasets.ingest import IngestOptions
from app.datasets.ingest_jobs import IngestSource, upload_key
from app.datasets.orm import Dataset
from app.datasets.service import create_dataset
from app.quotas.service import TenantLimits
from app.uploads.service import consume_upload

IMPORT_FILENAME = "import.tar"  # an imported prefix is ingested as the archive of its objects


def store_request_file(file: UploadFile, *, storage: Storage, settings: Settings, dataset_id: str) -> IngestSource:
    key = upload_key(dataset_id)
    prefix, name = key.rsplit("/", 1)
    with staged_upload(file, storage=storage, max_bytes=settings.max_upload_bytes) as path:
        size = path.stat().st_size
        path.rename(path.with_name(name))
        # Publishing the staging folder, not putting the file: on a local disk that is a rename, where a put
        # would copy gigabytes.
        storage.publish(path.parent, prefix)
    return IngestSource(keys=[key], filename=file.filename or "upload", size_bytes=size)


def take_resumable_upload(session: Session, *, tenant: str, upload_id: str, dataset_id: str) -> IngestSource:
    """The upload becomes the dataset's in the caller's transaction: both commit together or neither does."""
    upload = consume_upload(session, tenant=tenant, upload_id=upload_id, dataset_id=dataset_id)
    return IngestSource(keys=upload.keys, filename=upload.filename, size_bytes=upload.size_bytes)


def allowed_import_prefixes(settings: Settings, *, tenant: str) -> list[str]:
    """The operator's allow-list as it applies to ``tenant``: ``{tenant}`` in an entry stands for the caller's
    tenant, so ``s3://imports/{tenant}`` gives each tenant a folder of its own and no one another's."""
    return [entry.replace("{tenant}", tenant) for entry in settings.import_allowed_prefixes]


def plan_import(settings: Settings, *, tenant: str, url: str) -> IngestSource:
    """403 when the operator does not allow ``url`` for this tenant; its objects are listed by the worker."""
    try:
        parse_s3_prefix(url)
    except ImportRefused as exc:
        raise FieldErrors([(("body", "source"), str(exc))]) from None
    try:
        check_import_url(url, allowed_import_prefixes(settings, tenant=tenant))
    except ImportRefused as exc:
        raise Forbidden(f"{exc} (SELFSUP_IMPORT_ALLOWED_PREFIXES)") from None
    return IngestSource(keys=[], filename=IMPORT_FILENAME, size_bytes=0, import_url=url)


def check_one_source(*, file: UploadFile | None, upload_id: str | None, source: str | None) -> None:
    given = [name for name, value in (("file", file), ("upload_id", upload_id), ("source", source)) if value]
    if len(given) != 1:
        found = ", ".join(given) if given else "none"
        message = f"send exactly one of file, upload_id or source (got {found})"
        raise FieldErrors([(("body", given[-1] if given else "file"), message)])


@dataclass(frozen=True)
class NewDataset:
    """A dataset about to be recorded: what the upload form said, and the id its stored objects are keyed by."""

    id: str
    tenant: str
    name: str
    modality: str
    options: IngestOptions
    limits: TenantLimits

    def record(self, session: Session, source: IngestSource) -> Dataset:
        return create_dataset(
            session,
            dataset_id=self.id,
            tenant=self.tenant,
            name=self.name,
            modality=self.modality,
            source=source,
            options=self.options,
            limits=self.limits,
        )
