from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.uploads.orm import ResumableUpload, UploadPart

# A plain file name: no folders, nothing a shell or a path join would read specially.
FILENAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,254}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class UploadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(
        pattern=FILENAME_PATTERN,
        description="The file's name; its ending says how it is read (.zip, .tar.gz, .jsonl, .csv, .parquet ...).",
    )
    bytes: int | None = Field(
        default=None, ge=1, description="The whole file's size, if known: checked up front and again at completion."
    )


class PartOut(BaseModel):
    number: int
    size_bytes: int
    sha256: str

    @classmethod
    def from_row(cls, part: UploadPart) -> "PartOut":
        return cls(number=part.number, size_bytes=part.size_bytes, sha256=part.sha256)


class UploadOut(BaseModel):
    id: str
    filename: str
    status: str = Field(description="open (taking parts), completed, or consumed (it became dataset_id).")
    bytes: int | None = Field(description="The size declared at creation, if any.")
    bytes_received: int
    parts: list[PartOut] = Field(description="Parts received, by number: resend any that is missing or wrong.")
    max_part_bytes: int
    dataset_id: str | None
    created_at: datetime
    expires_at: datetime = Field(description="An unfinished upload is forgotten then; each part received extends it.")

    @classmethod
    def from_row(cls, upload: ResumableUpload, parts: list[UploadPart], *, max_part_bytes: int) -> "UploadOut":
        return cls(
            id=upload.id,
            filename=upload.filename,
            status=upload.status,
            bytes=upload.declared_bytes,
            bytes_received=upload.received_bytes,
            parts=[PartOut.from_row(part) for part in parts],
            max_part_bytes=max_part_bytes,
            dataset_id=upload.dataset_id,
            created_at=upload.created_at,
            expires_at=upload.expires_at,
        )
