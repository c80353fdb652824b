"""Reading uploaded text into a clean corpus: one document per ``.txt`` line, ``.jsonl`` object or ``.csv`` row.

Whitespace-only documents and exact duplicates (after stripping, the first one is kept) are dropped and
counted, so the service can report them instead of silently training on them.
"""

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from selfsup.errors import SelfSupError

SUFFIXES = (".txt", ".jsonl", ".csv")

# (line number, text, label) for each document a file holds, in order
Rows = Iterator[tuple[int, str, str | None]]


class InvalidTextError(SelfSupError, ValueError):
    """Text input that cannot be read: bad encoding, a malformed line or row, or no document at all."""


@dataclass(frozen=True)
class Corpus:
    """Clean documents in upload order; ``labels`` is None when no file had labels, otherwise one per document."""

    documents: list[str]
    labels: list[str | None] | None
    stats: dict[str, int] = field(default_factory=dict)  # read, empty, duplicates, kept


def read_corpus(files: Iterable[tuple[str, bytes]], *, text_field: str = "text", label_field: str = "label") -> Corpus:
    """Read ``(file name, bytes)`` pairs, choosing each file's format by its extension.

    Raises :class:`InvalidTextError` naming the file and line of the first problem, or when nothing is kept.
    """
    documents: list[str] = []
    labels: list[str | None] = []
    seen: set[str] = set()
    stats = {"read": 0, "empty": 0, "duplicates": 0, "kept": 0}
    any_labels = False
    for name, data in files:
        for _, text, label in _reader_for(name)(name, _decode(name, data), text_field, label_field):
            stats["read"] += 1
            text = text.strip()
            if not text:
                stats["empty"] += 1
            elif text in seen:
                stats["duplicates"] += 1
            else:
                seen.add(text)
                documents.append(text)
                labels.append(label)
                any_labels = any_labels or label is not None
    stats["kept"] = len(documents)
    if not documents:
        raise InvalidTextError(f"no documents: {stats['read']} read, {stats['empty']} empty")
    return Corpus(documents, labels if any_labels else None, stats)


def _reader_for(name: str) -> Callable[[str, str, str, str], Rows]:
    suffix = PurePath(name).suffix.lower()
    readers: dict[str, Callable[[str, str, str, str], Rows]] = {
        ".txt": _txt_rows,
        ".jsonl": _jsonl_rows,
        ".csv": _csv_rows,
    }
    if suffix not in readers:
        raise InvalidTextError(f"{name}: unsupported file type {suffix or '(none)'!r}; use {', '.join(SUFFIXES)}")
    return readers[suffix]


def _decode(name: str, data: bytes) -> str:
    """Strict UTF-8; a leading byte-order mark is dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidTextError(f"{name}, line {line}: not valid UTF-8 ({exc.reason})") from None


def _txt_rows(name: str, text: str, text_field: str, label_field: str) -> Rows:
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the newline that ends the last line does not start a document
        lines.pop()
    for number, line in enumerate(lines, start=1):
        yield number, line.removesuffix("\r"), None


def _jsonl_rows(name: str, text: str, text_field: str, label_field: str) -> Rows:
    for number, line in enumerate(text.split("\n"), start=1):
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
        yield number, item[text_field], _label(item.get(label_field), where)


def _csv_rows(name: str, text: str, text_field: str, label_field: str) -> Rows:
    reader = csv.reader(io.StringIO(text, newline=""))
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
