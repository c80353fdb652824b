"""Reading uploaded text as a stream of clean documents: one per ``.txt`` line, ``.jsonl`` object or ``.csv`` row.

Files are read one line at a time from binary handles, so memory holds one document, never a file: a line
longer than ``max_document_bytes`` is refused rather than read. Whitespace-only documents and exact
duplicates (after stripping, the first one is kept) are dropped and counted, so the service can report them
instead of silently training on them. Duplicates are found by a 16-byte BLAKE2b digest of each kept document:
the set of those costs about 80 bytes a document, whatever the documents' length.
"""

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Protocol

from selfsup.errors import SelfSupError

SUFFIXES = (".txt", ".jsonl", ".csv")
DEFAULT_MAX_DOCUMENT_BYTES = 64 * 1024**2
BOM = b"\xef\xbb\xbf"
DIGEST_SLICE = 1 << 20  # characters
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# (line number, text, label) for each document a file holds, in order
Rows = Iterator[tuple[int, str, str | None]]
# (line number, the line decoded, its line ending kept) for each line of a file
Lines = Iterator[tuple[int, str]]


class InvalidTextError(SelfSupError, ValueError):
    """Text input that cannot be read: bad encoding, a malformed line or row, or no document at all."""


class DocumentTooLongError(InvalidTextError):
    """A line longer than the reader is allowed to hold."""


class LineSource(Protocol):
    """What a text file is read through: a binary file, an archive member, anything with ``readline``."""

    def readline(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Corpus:
    """Clean documents in upload order; ``labels`` is None when no file had labels, otherwise one per document."""

    documents: list[str]
    labels: list[str | None] | None
    stats: dict[str, int] = field(default_factory=dict)  # read, empty, duplicates, kept


def new_stats() -> dict[str, int]:
    return {"read": 0, "empty": 0, "duplicates": 0, "kept": 0}


def read_documents(
    files: Iterable[tuple[str, LineSource]],
    *,
    stats: dict[str, int],
    text_field: str = "text",
    label_field: str = "label",
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
) -> Iterator[tuple[str, str | None]]:
    """Yield ``(text, label)`` for each clean, first-seen document of ``(file name, handle)`` pairs, choosing
    each file's format by its extension and counting into ``stats`` (see :func:`new_stats`) as it goes.

    Raises :class:`InvalidTextError` naming the file and line of the first problem, or, once every file is
    read, when nothing was kept.
    """
    seen: set[bytes] = set()
    for name, handle in files:
        reader = _reader_for(name)
        for _, text, label in reader(name, _lines(name, handle, max_document_bytes), text_field, label_field):
            stats["read"] += 1
            text = text.strip()
            if not text:
                stats["empty"] += 1
                continue
            digest = _digest(text)
            if digest in seen:
                stats["duplicates"] += 1
                continue
            seen.add(digest)
            stats["kept"] += 1
            yield text, label
    if not stats["kept"]:
        raise InvalidTextError(f"no documents: {stats['read']} read, {stats['empty']} empty")


def _digest(text: str) -> bytes:
    """16 bytes that tell documents apart, hashed a slice at a time so a long one is not copied whole."""
    hasher = hashlib.blake2b(digest_size=16)
    for start in range(0, len(text), DIGEST_SLICE):
        hasher.update(text[start : start + DIGEST_SLICE].encode())
    return hasher.digest()


def read_corpus(files: Iterable[tuple[str, bytes]], *, text_field: str = "text", label_field: str = "label") -> Corpus:
    """Read ``(file name, bytes)`` pairs held in memory into a :class:`Corpus` (small inputs and tests; ingest
    streams with :func:`read_documents`)."""
    stats = new_stats()
    handles = ((name, io.BytesIO(data)) for name, data in files)
    pairs = list(read_documents(handles, stats=stats, text_field=text_field, label_field=label_field))
    labels = [label for _, label in pairs]
    any_labels = any(label is not None for label in labels)
    return Corpus([text for text, _ in pairs], labels if any_labels else None, stats)


def _reader_for(name: str) -> Callable[[str, Lines, str, str], Rows]:
    suffix = PurePath(name).suffix.lower()
    readers: dict[str, Callable[[str, Lines, str, str], Rows]] = {
        ".txt": _txt_rows,
        ".jsonl": _jsonl_rows,
        ".csv": _csv_rows,
    }
    if suffix not in readers:
        raise InvalidTextError(f"{name}: unsupported file type {suffix or '(none)'!r}; use {', '.join(SUFFIXES)}")
    return readers[suffix]


def _lines(name: str, handle: LineSource, max_bytes: int) -> Lines:
    """Strict UTF-8 lines split at ``\\n`` only (as ``str.split("\\n")`` would), endings kept; a leading
    byte-order mark is dropped."""
    number = 0
    while raw := handle.readline(max_bytes + 1):
        number += 1
        if len(raw) > max_bytes:
            raise DocumentTooLongError(f"{name}, line {number}: longer than {max_bytes} bytes, the limit for one line")
        if number == 1:
            raw = raw.removeprefix(BOM)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidTextError(f"{name}, line {number}: not valid UTF-8 ({exc.reason})") from None
        del raw  # a long line is held once, decoded, while it is parsed
        yield number, line


def _txt_rows(name: str, lines: Lines, text_field: str, label_field: str) -> Rows:
    for number, line in lines:
        yield number, line.removesuffix("\n").removesuffix("\r"), None


def _jsonl_rows(name: str, lines: Lines, text_field: str, label_field: str) -> Rows:
    for number, line in lines:
        if not line.strip():
            continue  # blank lines separate nothing in JSON Lines
        where = f"{name}, line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidTextError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise InvalidTextError(f"{where}: expected a JSON object, got {type(item).__name__}")
        if text_field not in item:
            raise InvalidTextError(f"{where}: no {text_field!r} field")
        if not isinstance(item[text_field], str):
            raise InvalidTextError(f"{where}: {text_field!r} must be a string, got {type(item[text_field]).__name__}")
        label = _label(item.get(label_field), where)
        for field_name, value in ((text_field, item[text_field]), (label_field, label)):
            if value is not None and (found := _SURROGATE.search(value)):
                # JSON can spell one half of a UTF-16 pair alone ("\ud800"); no UTF-8 tokenizer can take it
                raise InvalidTextError(
                    f"{where}: {field_name!r} holds a lone surrogate {found.group()!a}, not valid Unicode"
                )
        yield number, item[text_field], label


def _csv_rows(name: str, lines: Lines, text_field: str, label_field: str) -> Rows:
    # csv reads physical lines (endings kept) and joins those a quoted field spans; line_num counts them
    reader = csv.reader(line for _, line in lines)
    try:
        header = next(reader, None)
        if header is None or text_field not in header:
            raise InvalidTextError(f"{name}, line 1: no {text_field!r} column in the header")
        text_at = header.index(text_field)
        label_at = header.index(label_field) if label_field in header else None
        for row in reader:
            if not row:
                continue  # a blank line is no row
            if len(row) != len(header):
                raise InvalidTextError(
                    f"{name}, line {reader.line_num}: {len(row)} fields where the header has {len(header)}"
                )
            yield reader.line_num, row[text_at], None if label_at is None else _label(row[label_at], name)
    except csv.Error as exc:
        raise InvalidTextError(f"{name}, line {reader.line_num}: {exc}") from None


def _label(value: Any, where: str) -> str | None:
    """Labels are kept as strings; an integer label (a class index) becomes its decimal string."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidTextError(f"{where}: a label must be a string or an integer, got {type(value).__name__}")
    return str(value).strip()
