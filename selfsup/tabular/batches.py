"""Reading a staged ``.csv`` or ``.parquet`` file batch by batch through pyarrow, so that memory follows the
batch and never the file.

Every column comes out in file order as an arrow array of one batch. CSV columns are always strings (types are
decided in :mod:`selfsup.tabular.profile`, by the same rules as :mod:`selfsup.tabular.schema`); parquet columns
keep their stored type, dictionary-encoded strings decoded only after their decoded size has been counted.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from selfsup.tabular.reading import InvalidTableError, check_names, check_width

if TYPE_CHECKING:
    import pyarrow as pa

# CSV text parsed at a time. Arrow's reader reads several blocks ahead and holds each in a few forms, so memory
# is tens of blocks: 8 MiB blocks peaked 450 MB over the imports, 1 MiB ones 90 MB, at the same speed.
CSV_BLOCK_BYTES = 1024**2
HEADER_PROBE_BYTES = 4 * 1024**2  # the header row must fit in this much
BATCH_CELLS = 1_000_000  # parquet cells decoded at a time: wide tables take fewer rows per batch
MAX_BATCH_ROWS = 65_536
BATCH_DECODED_BYTES = 64 * 1024**2  # a parquet batch that decodes to more is split (long strings)


@dataclass(frozen=True)
class TableSource:
    """A table file on disk. ``max_decoded_bytes`` caps what a parquet file decodes to in all, counted batch
    by batch before each is decoded (dictionary-encoded columns counted as unpacked); ``max_columns`` caps
    its width, from the header alone."""

    path: Path
    filename: str
    max_decoded_bytes: int | None = None
    max_columns: int | None = None
    csv_block_bytes: int = CSV_BLOCK_BYTES
    batch_cells: int = BATCH_CELLS

    @property
    def kind(self) -> str:
        suffix = PurePath(self.filename).suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise InvalidTableError(
                f"{self.filename}: unsupported file type {suffix or '(none)'!r}; use .csv or .parquet"
            )
        return suffix[1:]


def column_names(source: TableSource) -> list[str]:
    """The table's column names in file order, checked (width, empty and duplicate names)."""
    names = _csv_header(source) if source.kind == "csv" else _parquet_names(source)
    check_names(names, source.filename)
    return names


def iter_batches(source: TableSource, names: list[str]) -> Iterator[list["pa.Array"]]:
    """The table's columns, one list of arrays (in ``names`` order) per batch."""
    return _csv_batches(source, names) if source.kind == "csv" else _parquet_batches(source, names)


def _csv_header(source: TableSource) -> list[str]:
    with source.path.open("rb") as handle:
        probe = handle.read(HEADER_PROBE_BYTES)
    # Undecodable bytes are caught by arrow in the data rows; in the header they would make a name unusable.
    text = probe.decode("utf-8-sig", errors="replace")
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), strict=True), None)
    except csv.Error as exc:
        raise InvalidTableError(f"{source.filename}, line 1: malformed CSV header ({exc})") from None
    if header is None:
        raise InvalidTableError(f"{source.filename}: the file is empty; a header row is required")
    check_width(len(header), source.filename, source.max_columns)
    if len(probe) == HEADER_PROBE_BYTES and "\n" not in text:
        raise InvalidTableError(f"{source.filename}: the header row is longer than {HEADER_PROBE_BYTES} bytes")
    if any("\ufffd" in name for name in header):
        raise InvalidTableError(f"{source.filename}, line 1: not valid UTF-8")
    return [name.strip() for name in header]


def _csv_batches(source: TableSource, names: list[str]) -> Iterator[list["pa.Array"]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    keys = [f"c{i}" for i in range(len(names))]  # our own keys: arrow would merge duplicate names
    bad_rows: list[object] = []

    def on_bad_row(row: object) -> str:
        bad_rows.append(row)
        return "error"

    try:
        reader = pacsv.open_csv(
            source.path,
            read_options=pacsv.ReadOptions(
                column_names=keys, skip_rows=1, block_size=source.csv_block_bytes, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_bad_row),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(keys, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            yield list(batch.columns)
    except pa.ArrowInvalid as exc:
        raise InvalidTableError(_csv_error(source.filename, str(exc), bad_rows, names)) from None


def _csv_error(filename: str, message: str, bad_rows: list[object], names: list[str]) -> str:
    if bad_rows:
        row = bad_rows[0]
        fields = getattr(row, "actual_columns", "?")
        return f"{filename}, line {getattr(row, 'number', '?')}: {fields} fields, but the header has {len(names)}"
    if "UTF8" in message:
        return f"{filename}: not valid UTF-8 ({message})"
    if "Empty CSV file" in message:
        return f"{filename}: the table has a header but no data rows"
    return f"{filename}: malformed CSV ({message})"


def _parquet_file(source: TableSource) -> object:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(source.path)
        check_width(len(schema), source.filename, source.max_columns)
        # Strings are read as dictionaries so that what they decode to is counted before they are decoded.
        strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        return pq.ParquetFile(source.path, read_dictionary=strings)
    except InvalidTableError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidTableError(f"{source.filename}: not a readable parquet file ({exc})") from None


def _parquet_names(source: TableSource) -> list[str]:
    import pyarrow as pa

    schema = _parquet_file(source).schema_arrow  # type: ignore[attr-defined]
    for field in schema:
        if pa.types.is_nested(field.type):
            raise InvalidTableError(
                f"{source.filename}: column {field.name!r} has nested type {field.type}; flatten it first"
            )
    return list(schema.names)


def _parquet_batches(source: TableSource, names: list[str]) -> Iterator[list["pa.Array"]]:
    import pyarrow as pa

    parquet = _parquet_file(source)
    rows = max(1, min(MAX_BATCH_ROWS, source.batch_cells // max(1, len(names))))
    decoded = 0
    try:
        for batch in parquet.iter_batches(batch_size=rows):  # type: ignore[attr-defined]
            size = _batch_bytes(batch)
            decoded += size
            if source.max_decoded_bytes is not None and decoded > source.max_decoded_bytes:
                raise InvalidTableError(
                    f"{source.filename}: unpacks to more than the limit of {source.max_decoded_bytes} bytes"
                )
            for piece in _pieces(batch, size):
                yield [_undictionary(column) for column in piece.columns]
    except InvalidTableError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidTableError(f"{source.filename}: not a readable parquet file ({exc})") from None


def _pieces(batch: "pa.RecordBatch", size: int) -> Iterator["pa.RecordBatch"]:
    """``batch`` in slices that each decode to at most BATCH_DECODED_BYTES (but at least one row), found by
    halving: slicing a dictionary-encoded batch decodes nothing."""
    if size <= BATCH_DECODED_BYTES or batch.num_rows <= 1:
        yield batch
        return
    half = batch.num_rows // 2
    for part in (batch.slice(0, half), batch.slice(half)):
        yield from _pieces(part, _batch_bytes(part))


def _batch_bytes(batch: "pa.RecordBatch") -> int:
    return sum(decoded_bytes(column) for column in batch.columns)


def decoded_bytes(column: "pa.Array") -> int:
    """What ``column`` takes once decoded: a dictionary-encoded one counts each value where it is used (a few
    distinct long strings repeated on every row are tiny encoded and huge decoded)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(column.type):
        return int(column.nbytes)
    lengths = pc.take(pc.binary_length(column.dictionary), column.indices)
    return int(pc.sum(lengths).as_py() or 0) + 8 * len(column)  # values, plus an offset per row


def _undictionary(column: "pa.Array") -> "pa.Array":
    import pyarrow as pa

    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column
