"""A first look at an upload for a modality that takes an archive: a CSV, JSONL, text or Parquet file sent as
``image`` (the default) would otherwise fail in the worker with "not an archive", which does not say what to
send instead. The look is the file name and the first few KiB, so it costs nothing on a large upload."""

from typing import BinaryIO

from app.core.errors import FieldErrors

SNIFF_BYTES = 4096
ARCHIVE_MODALITIES = frozenset({"image", "image_text"})
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
TABLE_HINT = "modality=tabular for a table, or modality=text (text_field names the column) for documents"
TEXT_HINT = "modality=text for documents (text_field names the JSON field)"
# What a file looks like -> what to send instead; by suffix first, then by content.
SUFFIX_HINTS = {
    ".csv": ("a CSV file", TABLE_HINT),
    ".tsv": ("a TSV file", TABLE_HINT),
    ".parquet": ("a Parquet file", "modality=tabular"),
    ".jsonl": ("a JSONL file", TEXT_HINT),
    ".ndjson": ("a JSONL file", TEXT_HINT),
    ".json": ("a JSON file", TEXT_HINT),
    ".txt": ("a text file", "modality=text (one document per line)"),
}


def _content_hint(head: bytes) -> tuple[str, str] | None:
    if head.startswith(b"PAR1"):
        return SUFFIX_HINTS[".parquet"]
    try:
        first_line = head.decode("utf-8").lstrip("\ufeff").splitlines()[0] if head.strip() else ""
    except UnicodeDecodeError:
        return None  # binary: an archive, or something the worker names precisely
    if first_line.lstrip().startswith("{"):
        return SUFFIX_HINTS[".jsonl"]
    if first_line.count(",") >= 1:
        return SUFFIX_HINTS[".csv"]
    return None


def not_archive_hint(filename: str, head: bytes) -> tuple[str, str] | None:
    """(what the file looks like, what to send instead), or None when it may well be an archive."""
    lowered = filename.lower()
    if lowered.endswith(ARCHIVE_SUFFIXES):
        return None
    suffix = next((s for s in SUFFIX_HINTS if lowered.endswith(s)), None)
    return SUFFIX_HINTS[suffix] if suffix else _content_hint(head)


def check_archive_upload(*, modality: str, filename: str, stream: BinaryIO) -> None:
    """422 on ``modality`` when it takes an archive and the upload looks like a table or documents instead."""
    if modality not in ARCHIVE_MODALITIES:
        return
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    hint = not_archive_hint(filename, head)
    if hint is not None:
        looks_like, instead = hint
        message = (
            f"{filename} looks like {looks_like}, but modality {modality!r} takes a .zip, .tar or .tar.gz "
            f"archive; send {instead}"
        )
        raise FieldErrors([(("body", "modality"), message)])
