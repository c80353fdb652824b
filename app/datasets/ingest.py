"""Turning an upload into the engine's canonical form, once: what every modality's ingest shares, and images.

Each modality's ingest (images here, :mod:`app.datasets.text_ingest`, :mod:`app.datasets.table_ingest`,
:mod:`app.datasets.pair_ingest`) writes its canonical files into a staging folder and returns an
:class:`Ingested`; labels, when the upload carries them, go to ``labels.npy`` for evaluation only.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from app.core.errors import PayloadTooLarge, Unprocessable
from app.datasets.archives import ArchiveLimits, Member, open_archive, read_member
from app.datasets.labels import LABELS_FILE, Labels, labels_from_csv, labels_from_folders
from selfsup.data.decoding import ParallelDecoder
from selfsup.data.images import EXTENSION_FORMATS, IMAGE_EXTENSIONS
from selfsup.errors import ItemDecodeError

IMAGES_FILE = "images.npy"
MANIFEST_FILE = "files.json"
LABELS_ARRAY = "labels.npy"
CSV_LIMIT_BYTES = 64 * 1024**2

# Called as ingest moves with the counters it knows so far (``items_done``, ``items_total``, ``bytes_done``,
# ``bytes_total``); it may be called for every item, so the receiver decides how often to pass them on.
OnProgress = Callable[[dict[str, int]], None]


def no_progress(_counters: dict[str, int]) -> None:
    """For callers that do not watch an ingest (a benchmark, a test of the ingest alone)."""


@dataclass(frozen=True)
class IngestLimits:
    archive: ArchiveLimits
    max_image_pixels: int
    max_table_columns: int | None = None
    max_dataset_bytes: int = 64 * 1024**3  # decoded: images' pixel arrays, a table's parquet values and arrays
    max_document_bytes: int = 64 * 1024**2  # text is streamed a line at a time: the longest line it may hold


@dataclass(frozen=True)
class IngestOptions:
    """The upload's optional settings; each applies to some modalities (see the upload route)."""

    image_size: int
    vocab_size: int = 8000
    max_length: int = 128
    text_field: str = "text"
    label_field: str = "label"
    label_column: str | None = None
    column_types: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ingested:
    num_items: int
    size_bytes: int
    details: dict[str, Any]  # modality-specific facts shown on the dataset (image size, corpus counts, schema)
    labels: Labels | None


def finish_ingest(out_dir: Path, num_items: int, details: dict[str, Any], labels: Labels | None) -> Ingested:
    """Write the labels, if any, and measure what the dataset takes on disk."""
    if labels is not None and labels.summary()["usable_for_evaluation"]:  # no file, no probes: the worker reads it
        np.save(out_dir / LABELS_ARRAY, labels.indices)
    size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    return Ingested(num_items=num_items, size_bytes=size, details=details, labels=labels)


def ingest_image_archive(
    upload: Path,
    *,
    filename: str,
    out_dir: Path,
    image_size: int,
    limits: IngestLimits,
    progress: OnProgress = no_progress,
) -> Ingested:
    """Decode every image in ``upload`` into ``out_dir/images.npy`` (N, S, S, 3), plus a file manifest and,
    when the archive carries them, labels (``labels.npy``)."""
    with open_archive(upload, filename, limits.archive) as members:
        labels_member = next((m for m in members if PurePosixPath(m.name).name.lower() == LABELS_FILE), None)
        images = image_members([m for m in members if m is not labels_member], filename)
        names = [m.name for m in images]
        labels = _read_labels(labels_member, names)
        write_images(members, images, out_dir, image_size=image_size, limits=limits, progress=progress)
    return finish_ingest(out_dir, len(images), {"image_size": image_size}, labels)


def write_images(
    members: list[Member],
    images: list[Member],
    out_dir: Path,
    *,
    image_size: int,
    limits: IngestLimits,
    progress: OnProgress = no_progress,
) -> None:
    """Decode ``images`` (some of the archive's ``members``) into ``out_dir/images.npy`` in their given order, on
    every core, and list their names in ``files.json``; ``progress`` hears of each image stored."""
    # Items are stored in the given order but read in archive order: in a compressed tar, reading
    # backwards means decompressing again from the start.
    check_image_budget(len(images), image_size, limits.max_dataset_bytes)
    slot = {id(member): index for index, member in enumerate(images)}
    decoder = ParallelDecoder(
        out_dir / IMAGES_FILE, count=len(images), size=image_size, max_pixels=limits.max_image_pixels
    )
    try:
        with decoder:
            for member in members:
                if id(member) in slot:
                    data = read_member(member, limits.archive.max_member_bytes)
                    decoder.submit(slot[id(member)], data, EXTENSION_FORMATS[member.suffix])
                    progress({"items_done": decoder.stored, "items_total": len(images)})
        progress({"items_done": decoder.stored, "items_total": len(images)})  # the last ones land on leaving
    except ItemDecodeError as exc:
        raise Unprocessable(f"{images[exc.index].name}: {exc}") from None
    (out_dir / MANIFEST_FILE).write_text(json.dumps([m.name for m in images]))


def check_image_budget(count: int, image_size: int, max_bytes: int) -> None:
    """413 before anything is decoded when the images' array would pass ``max_bytes``: a tiny archive of
    one-pixel images at a large size decodes to gigabytes."""
    decoded = count * image_size * image_size * 3
    if decoded > max_bytes:
        raise PayloadTooLarge(
            f"{count} images at {image_size}x{image_size} decode to {decoded} bytes, over the limit of {max_bytes} "
            "bytes (SELFSUP_MAX_DATASET_BYTES); upload fewer images or ask for a smaller image_size"
        )


def _read_labels(member: Member | None, names: list[str]) -> Labels | None:
    if member is None:
        return labels_from_folders(names)
    return labels_from_csv(read_member(member, CSV_LIMIT_BYTES), names)


def image_members(members: list[Member], filename: str) -> list[Member]:
    """The members, all of which must be images, in name order."""
    others = [m.name for m in members if m.suffix not in IMAGE_EXTENSIONS]
    if others:
        accepted = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise Unprocessable(f"{filename}: {others[0]!r} is not an image file (accepted: {accepted})")
    if not members:
        raise Unprocessable(f"{filename}: the archive contains no images")
    return sorted(members, key=lambda m: m.name)  # a stable order makes item indices reproducible
