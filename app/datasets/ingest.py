"""Turning an uploaded archive of images into the engine's canonical array, once, at upload."""

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from app.core.errors import Unprocessable
from app.datasets.archives import ArchiveLimits, Member, open_archive, read_member
from app.datasets.labels import LABELS_FILE, Labels, labels_from_csv, labels_from_folders
from selfsup.data.images import EXTENSION_FORMATS, IMAGE_EXTENSIONS, create_image_array, decode_image
from selfsup.errors import InvalidImageError

IMAGES_FILE = "images.npy"
MANIFEST_FILE = "files.json"
LABELS_ARRAY = "labels.npy"
CSV_LIMIT_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class IngestLimits:
    archive: ArchiveLimits
    max_image_pixels: int


@dataclass(frozen=True)
class IngestedImages:
    num_items: int
    image_size: int
    size_bytes: int
    labels: Labels | None


def ingest_image_archive(
    upload: Path, *, filename: str, out_dir: Path, image_size: int, limits: IngestLimits
) -> IngestedImages:
    """Decode every image in ``upload`` into ``out_dir/images.npy`` (N, S, S, 3), plus a file manifest and,
    when the archive carries them, labels (``labels.npy``)."""
    with open_archive(upload, filename, limits.archive) as members:
        labels_member = next((m for m in members if PurePosixPath(m.name).name.lower() == LABELS_FILE), None)
        images = _image_members([m for m in members if m is not labels_member], filename)
        names = [m.name for m in images]
        labels = _read_labels(labels_member, names)
        array = create_image_array(out_dir / IMAGES_FILE, len(images), image_size)
        # Items are stored in name order but read in archive order: in a compressed tar, reading
        # backwards means decompressing again from the start.
        slot = {id(member): index for index, member in enumerate(images)}
        for member in members:
            if id(member) in slot:
                array[slot[id(member)]] = _decode(member, image_size, limits)
        array.flush()
        del array
    (out_dir / MANIFEST_FILE).write_text(json.dumps(names))
    if labels is not None:
        np.save(out_dir / LABELS_ARRAY, labels.indices)
    size = sum(f.stat().st_size for f in out_dir.iterdir())
    return IngestedImages(num_items=len(images), image_size=image_size, size_bytes=size, labels=labels)


def _read_labels(member: Member | None, names: list[str]) -> Labels | None:
    if member is None:
        return labels_from_folders(names)
    return labels_from_csv(read_member(member, CSV_LIMIT_BYTES), names)


def _image_members(members: list[Member], filename: str) -> list[Member]:
    others = [m.name for m in members if m.suffix not in IMAGE_EXTENSIONS]
    if others:
        accepted = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise Unprocessable(f"{filename}: {others[0]!r} is not an image file (accepted: {accepted})")
    if not members:
        raise Unprocessable(f"{filename}: the archive contains no images")
    return sorted(members, key=lambda m: m.name)  # a stable order makes item indices reproducible


def _decode(member: Member, image_size: int, limits: IngestLimits) -> object:
    data = read_member(member, limits.archive.max_member_bytes)
    try:
        return decode_image(
            data, image_size, max_pixels=limits.max_image_pixels, expected_format=EXTENSION_FORMATS[member.suffix]
        )
    except InvalidImageError as exc:
        raise Unprocessable(f"{member.name}: {exc}") from None
