"""Each modality's ingest, registered once under its name: staged upload -> canonical files in a folder.

The upload route checks a modality against this table, and the ingest worker runs what it names.
"""

from collections.abc import Callable
from pathlib import Path

from app.core.config import Settings
from app.core.errors import Unprocessable
from app.datasets.archives import ArchiveLimits
from app.datasets.ingest import Ingested, IngestLimits, IngestOptions, OnProgress, ingest_image_archive
from app.datasets.pair_ingest import ingest_pairs
from app.datasets.table_ingest import ingest_table
from app.datasets.text_ingest import ingest_text

# (upload, *, filename, out_dir, options, limits, progress) -> what was ingested
Ingest = Callable[..., Ingested]


def _ingest_images(
    upload: Path, *, filename: str, out_dir: Path, options: IngestOptions, limits: IngestLimits, progress: OnProgress
) -> Ingested:
    return ingest_image_archive(
        upload, filename=filename, out_dir=out_dir, image_size=options.image_size, limits=limits, progress=progress
    )


INGESTS: dict[str, Ingest] = {
    "image": _ingest_images,
    "text": ingest_text,
    "tabular": ingest_table,
    "image_text": ingest_pairs,
}
SUPPORTED_MODALITIES = tuple(INGESTS)


def check_modality(modality: str) -> None:
    if modality not in INGESTS:
        raise Unprocessable(f"modality {modality!r} is not supported; supported: {', '.join(SUPPORTED_MODALITIES)}")


def ingest_limits(settings: Settings) -> IngestLimits:
    return IngestLimits(
        archive=ArchiveLimits(
            max_members=settings.max_archive_members,
            max_total_bytes=settings.max_extracted_bytes,
            max_member_bytes=settings.max_member_bytes,
        ),
        max_image_pixels=settings.max_image_pixels,
        max_table_columns=settings.max_table_columns,
        max_dataset_bytes=settings.max_dataset_bytes,
        max_document_bytes=settings.max_document_bytes,
    )


def run_ingest(
    modality: str,
    upload: Path,
    *,
    filename: str,
    out_dir: Path,
    options: IngestOptions,
    settings: Settings,
    progress: OnProgress,
) -> Ingested:
    """Ingest ``upload`` as ``modality`` into ``out_dir``; ``Unprocessable``/``PayloadTooLarge`` for bad input."""
    check_modality(modality)
    limits = ingest_limits(settings)
    return INGESTS[modality](
        upload, filename=filename, out_dir=out_dir, options=options, limits=limits, progress=progress
    )
