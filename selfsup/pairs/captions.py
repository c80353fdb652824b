"""Reading the captions of an image-text upload and matching them to its images.

A captions file maps image file names to captions, one caption per JSON Lines object or CSV row (an image may
have several: several lines, or a list of strings in one JSON object). The file-name field may be called
``file``, ``filename`` or ``image``; the caption field ``caption`` or ``text``.
"""

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import PurePath, PurePosixPath
from typing import Any, NamedTuple

import numpy as np

from selfsup.errors import SelfSupError

FILE_FIELDS = ("file", "filename", "image")
CAPTION_FIELDS = ("caption", "text")
SUFFIXES = (".jsonl", ".csv")

Caption = tuple[str, str]  # (image file name as the captions file writes it, caption text)


class InvalidCaptionsError(SelfSupError, ValueError):
    """A captions file that cannot be read, or captions that do not fit the uploaded images."""


class PairedCaptions(NamedTuple):
    """Captions matched to images: ``texts`` (M,) and ``image_index`` (M,) int64 into the image names."""

    texts: list[str]
    image_index: np.ndarray


def read_captions(name: str, data: bytes) -> list[Caption]:
    """``captions.jsonl`` or ``captions.csv`` bytes -> (file name, caption) pairs in file order.

    Raises :class:`InvalidCaptionsError` naming the file and line of the first problem, or when the file holds
    no caption at all.
    """
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidCaptionsError(f"{name}: unsupported captions file type {suffix or '(none)'!r}; use .jsonl or .csv")
    text = _decode(name, data)
    rows = _jsonl_rows(name, text) if suffix == ".jsonl" else _csv_rows(name, text)
    captions = []
    for where, file, caption in rows:
        _check(where, file, caption)
        captions.append((file, caption))
    if not captions:
        raise InvalidCaptionsError(f"{name}: no captions")
    return captions


def pair_captions(image_names: Sequence[str], captions: Sequence[Caption]) -> PairedCaptions:
    """Match each caption to an image by its path or else by a trailing part of it, such as the base name.

    ``image_names`` are the paths of the images (inside the archive, say). A caption naming no image, or a
    shortened name that fits several, is an error; images without captions are allowed (see
    :func:`captioned_images`) unless no image has one.
    """
    exact = {_normalized(name): position for position, name in enumerate(image_names)}
    lookup = _name_lookup(image_names)
    index = np.empty(len(captions), dtype=np.int64)
    for row, (file, _) in enumerate(captions):
        name = _normalized(file)
        matches = [exact[name]] if name in exact else lookup.get(name, [])
        if not matches:
            raise InvalidCaptionsError(f"caption {row + 1} names {file!r}, which is not among the images")
        if len(matches) > 1:
            raise InvalidCaptionsError(
                f"caption {row + 1} names {file!r}, which fits {len(matches)} images; give its full path"
            )
        index[row] = matches[0]
    if not len(index):
        raise InvalidCaptionsError("no captions")
    return PairedCaptions([caption for _, caption in captions], index)


def captioned_images(image_index: np.ndarray, num_images: int) -> tuple[np.ndarray, np.ndarray]:
    """The images that have captions, and the captions re-pointed at them.

    Returns ``kept`` (K,) sorted indices into the N images and the (M,) caption index into ``kept``; the images
    left out (N - K) are the ones to report as uncaptioned.
    """
    kept = np.unique(image_index)
    return kept, np.searchsorted(kept, image_index)


def _name_lookup(image_names: Sequence[str]) -> dict[str, list[int]]:
    """Every trailing run of path components of every image -> the images it fits."""
    lookup: dict[str, list[int]] = {}
    for position, name in enumerate(image_names):
        parts = PurePosixPath(_normalized(name)).parts
        for start in range(len(parts)):
            lookup.setdefault("/".join(parts[start:]), []).append(position)
    return lookup


def _normalized(name: str) -> str:
    """Separators as "/", no leading "./" or "/": how archive listings and captions files differ."""
    path = PurePosixPath(name.strip().replace("\\", "/"))
    return "/".join(part for part in path.parts if part not in ("/", "."))


def _decode(name: str, data: bytes) -> str:
    """Strict UTF-8; a leading byte-order mark is dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidCaptionsError(f"{name}, line {line}: not valid UTF-8 ({exc.reason})") from None


def _check(where: str, file: str, caption: str) -> None:
    if not file.strip():
        raise InvalidCaptionsError(f"{where}: empty file name")
    if not caption:
        raise InvalidCaptionsError(f"{where}: empty caption")


def _jsonl_rows(name: str, text: str) -> Iterator[tuple[str, str, str]]:
    """(where, file, caption) per caption; an object with a list of captions yields each."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{name}, line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidCaptionsError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise InvalidCaptionsError(f"{where}: expected a JSON object, got {type(item).__name__}")
        file = _field(item, FILE_FIELDS, where)
        caption = _field(item, CAPTION_FIELDS, where)
        if not isinstance(file, str):
            raise InvalidCaptionsError(f"{where}: the file name must be a string, got {type(file).__name__}")
        for text_value in caption if isinstance(caption, list) else [caption]:
            if not isinstance(text_value, str):
                raise InvalidCaptionsError(f"{where}: a caption must be a string, got {type(text_value).__name__}")
            yield where, file, text_value.strip()


def _field(item: dict[str, Any], names: tuple[str, ...], where: str) -> Any:
    for key in names:
        if key in item:
            return item[key]
    raise InvalidCaptionsError(f"{where}: no {' or '.join(repr(n) for n in names)} field")


def _csv_rows(name: str, text: str) -> Iterator[tuple[str, str, str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [column.strip() for column in next(reader, [])]
        file_at, caption_at = _column(header, FILE_FIELDS, name), _column(header, CAPTION_FIELDS, name)
        for row in reader:
            if not row:
                continue
            where = f"{name}, line {reader.line_num}"
            if len(row) != len(header):
                raise InvalidCaptionsError(f"{where}: {len(row)} fields where the header has {len(header)}")
            yield where, row[file_at], row[caption_at].strip()
    except csv.Error as exc:
        raise InvalidCaptionsError(f"{name}, line {reader.line_num}: {exc}") from None


def _column(header: list[str], names: tuple[str, ...], name: str) -> int:
    for key in names:
        if key in header:
            return header.index(key)
    raise InvalidCaptionsError(f"{name}, line 1: no {' or '.join(repr(n) for n in names)} column in the header")
