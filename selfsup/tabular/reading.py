"""Reading an uploaded table (``.csv`` or ``.parquet`` bytes) into raw columns of Python scalars.

Every cell comes out as ``None`` (missing), ``bool``, ``int``, ``float`` or ``str``; types are not decided here
(see :mod:`selfsup.tabular.schema`). CSV cells are always strings, stripped of surrounding whitespace; parquet
cells keep their stored type. In both, a null, a float NaN, or a string that is one of :data:`MISSING_MARKERS`
(any case) is missing.
"""

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import PurePath

from selfsup.errors import SelfSupError

Cell = bool | int | float | str | None

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})


class InvalidTableError(SelfSupError, ValueError):
    """A table that cannot be read or typed as asked; the message names the file, line or column."""


@dataclass(frozen=True)
class RawTable:
    """Columns in file order, each a list of ``num_rows`` cells."""

    columns: dict[str, list[Cell]]
    num_rows: int

    @property
    def names(self) -> list[str]:
        return list(self.columns)


PARQUET_BATCH_ROWS = 16_384  # rows decoded at a time while the unpacked size is counted


def is_missing_marker(text: str) -> bool:
    return text.strip().lower() in MISSING_MARKERS


def read_table(
    data: bytes, *, filename: str, max_unpacked_bytes: int | None = None, max_columns: int | None = None
) -> RawTable:
    """``.csv`` (comma-separated, UTF-8, header row) or ``.parquet`` bytes -> :class:`RawTable`.

    ``max_unpacked_bytes`` refuses a parquet file whose columns unpack to more than that (compressed,
    dictionary-encoded columns can be a decompression bomb): it is read in batches and given up as soon as
    the decoded batches pass the limit. ``max_columns`` refuses a table wider than that from its header alone:
    the schema, its statistics and every listing of it grow with the columns.
    Raises :class:`InvalidTableError` naming the file and the line or column at fault.
    """
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        table = _read_csv(data, filename, max_columns)
    elif suffix == ".parquet":
        table = _read_parquet(data, filename, max_unpacked_bytes, max_columns)
    else:
        raise InvalidTableError(f"{filename}: unsupported file type {suffix or '(none)'!r}; use .csv or .parquet")
    if table.num_rows == 0:
        raise InvalidTableError(f"{filename}: the table has a header but no data rows")
    return table


def check_width(count: int, filename: str, max_columns: int | None) -> None:
    if max_columns is not None and count > max_columns:
        raise InvalidTableError(f"{filename}: {count} columns is over the limit of {max_columns} columns")


def check_names(names: list[str], filename: str) -> None:
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            raise InvalidTableError(f"{filename}: column {position} has an empty name")
        if name in seen:
            raise InvalidTableError(f"{filename}: duplicate column name {name!r}")
        seen.add(name)


def _decode_utf8(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")  # strict; a leading byte-order mark is dropped
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidTableError(f"{filename}, line {line}: not valid UTF-8 (byte {exc.start})") from None


def _csv_cell(text: str) -> str | None:
    text = text.strip()
    return None if text.lower() in MISSING_MARKERS else text


def _read_csv(data: bytes, filename: str, max_columns: int | None) -> RawTable:
    reader = csv.reader(io.StringIO(_decode_utf8(data, filename), newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidTableError(f"{filename}: the file is empty; a header row is required")
        check_width(len(header), filename, max_columns)
        names = [name.strip() for name in header]
        check_names(names, filename)
        columns: list[list[Cell]] = [[] for _ in names]
        for row in reader:
            if not row:  # a blank line carries no row
                continue
            if len(row) != len(names):
                raise InvalidTableError(
                    f"{filename}, line {reader.line_num}: {len(row)} fields, but the header has {len(names)}"
                )
            for column, text in zip(columns, row, strict=True):
                column.append(_csv_cell(text))
    except csv.Error as exc:
        raise InvalidTableError(f"{filename}, line {reader.line_num}: malformed CSV ({exc})") from None
    return RawTable(dict(zip(names, columns, strict=True)), len(columns[0]))


def _read_parquet(data: bytes, filename: str, max_unpacked_bytes: int | None, max_columns: int | None) -> RawTable:
    import pyarrow as pa  # imported here: only parquet uploads pay for it
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        check_width(len(parquet.schema_arrow), filename, max_columns)
        batches, unpacked = [], 0
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            unpacked += batch.nbytes
            if max_unpacked_bytes is not None and unpacked > max_unpacked_bytes:
                raise InvalidTableError(f"{filename}: unpacks to more than the limit of {max_unpacked_bytes} bytes")
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=parquet.schema_arrow)
    except InvalidTableError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidTableError(f"{filename}: not a readable parquet file ({exc})") from None
    check_names(table.column_names, filename)
    columns: dict[str, list[Cell]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_nested(column.type):
            raise InvalidTableError(f"{filename}: column {name!r} has nested type {column.type}; flatten it first")
        columns[name] = [parquet_cell(value, name, row, filename) for row, value in enumerate(column.to_pylist())]
    return RawTable(columns, table.num_rows)


def parquet_cell(value: object, name: str, row: int, filename: str) -> Cell:
    if isinstance(value, Decimal):
        value = float(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise InvalidTableError(f"{filename}: column {name!r}, row {row + 1}: non-finite number {value}")
        return value
    if isinstance(value, str):
        return _csv_cell(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return _csv_cell(value.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    raise InvalidTableError(f"{filename}: column {name!r} holds values of type {type(value).__name__}")
