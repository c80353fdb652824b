"""Streaming table ingest: a ``.csv`` or ``.parquet`` file on disk -> the stored table dataset that
:func:`selfsup.tabular.data.load_table_data` reads, in memory bounded by a batch whatever the number of rows.

Pass 1 profiles every column batch by batch (:mod:`selfsup.tabular.profile`) and types it into a schema; pass
2 reads the file again and encodes each batch straight into memory-mapped ``.npy`` arrays. The result equals
:func:`~selfsup.tabular.data.encode_table` of the whole file (statistics within float rounding), because both
follow the cell rules of :mod:`selfsup.tabular.schema` and :mod:`selfsup.tabular.encoding`.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfsup.tabular.batches import TableSource, column_names, iter_batches
from selfsup.tabular.chunks import Chunk, chunk
from selfsup.tabular.data import CATEGORICAL_FILE, NUMERIC_FILE, write_table_description
from selfsup.tabular.encoding import encode_categorical, encode_numeric, standardize
from selfsup.tabular.profile import ColumnProfile
from selfsup.tabular.reading import InvalidTableError
from selfsup.tabular.schema import (
    BOOLEAN_VOCABULARY,
    DEFAULT_MAX_CATEGORIES,
    FIRST_CATEGORY_CODE,
    MISSING_CODE,
    TRUE_WORDS,
    ColumnKind,
    ColumnSchema,
    TableSchema,
    check_choices,
    table_schema,
)


class DatasetTooLargeError(InvalidTableError):
    """The encoded arrays would pass the caller's byte limit; raised before they are written."""


@dataclass(frozen=True)
class StreamedTable:
    schema: TableSchema
    labels: list[str | None] | None  # the label column's values, for evaluation only


@dataclass(frozen=True)
class _Batch:
    index: int
    offset: int  # the table row of its first row
    rows: int
    chunks: dict[str, Chunk]


def ingest_table_file(
    source: TableSource,
    out_dir: Path,
    *,
    overrides: dict[str, ColumnKind] | None = None,
    label_column: str | None = None,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    max_bytes: int | None = None,
) -> StreamedTable:
    """Type ``source`` (as :func:`~selfsup.tabular.schema.infer_schema` would) and write its dataset to
    ``out_dir``. Raises :class:`InvalidTableError` naming the file, column or row at fault, and
    :class:`DatasetTooLargeError` before pass 2 if the arrays would take more than ``max_bytes``."""
    names = column_names(source)
    overrides = overrides or {}
    check_choices(names, overrides, label_column)
    profiles = [ColumnProfile(name, overrides.get(name)) for name in names if name != label_column]
    num_rows = _profile(source, names, profiles)
    if num_rows == 0:
        raise InvalidTableError(f"{source.filename}: the table has a header but no data rows")
    _count_skipped_categories(source, names, profiles)
    schema = table_schema(tuple(p.schema(max_categories) for p in profiles), num_rows, label_column)
    _check_size(schema, source.filename, max_bytes)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = _encode(source, names, schema, out_dir)
    write_table_description(out_dir, schema, labels)
    return StreamedTable(schema, labels)


def _check_size(schema: TableSchema, filename: str, max_bytes: int | None) -> None:
    size = schema.num_rows * (4 * len(schema.numeric_columns) + 8 * len(schema.categorical_columns))
    if max_bytes is not None and size > max_bytes:
        raise DatasetTooLargeError(
            f"{filename}: {schema.num_rows} rows encode to {size} bytes, over the limit of {max_bytes} bytes"
        )


def _batches(source: TableSource, names: list[str], wanted: set[str]) -> Iterator[_Batch]:
    offset = 0
    for index, arrays in enumerate(iter_batches(source, names)):
        rows = len(arrays[0]) if arrays else 0
        chunks = {
            name: chunk(array, name=name, offset=offset, filename=source.filename)
            for name, array in zip(names, arrays, strict=True)
            if name in wanted
        }
        yield _Batch(index, offset, rows, chunks)
        offset += rows


def _profile(source: TableSource, names: list[str], profiles: list[ColumnProfile]) -> int:
    rows = 0
    wanted = {p.name for p in profiles if p.want != "ignore"}
    for batch in _batches(source, names, wanted):
        for profile in profiles:
            if profile.name in wanted:
                profile.add(batch.chunks[profile.name], batch.index)
        rows = batch.offset + batch.rows
    return rows


def _count_skipped_categories(source: TableSource, names: list[str], profiles: list[ColumnProfile]) -> None:
    """Count the categories of the batches a column was read in while it still looked numeric or boolean.
    Rare (a column that turns out categorical after its first batch), and a third pass over those batches only."""
    late = [p for p in profiles if p.counted_from]
    if not late:
        return
    until = max(p.counted_from or 0 for p in late)
    for batch in _batches(source, names, {p.name for p in late}):
        if batch.index >= until:
            break
        for profile in late:
            if batch.index < (profile.counted_from or 0):
                profile.count_categories(batch.chunks[profile.name])


def _encode(source: TableSource, names: list[str], schema: TableSchema, out_dir: Path) -> list[str | None] | None:
    numeric_columns, categorical_columns = schema.numeric_columns, schema.categorical_columns
    wanted = {c.name for c in (*numeric_columns, *categorical_columns)} | {schema.label_column or ""}
    labels: list[str | None] | None = None if schema.label_column is None else []
    with (
        _NpyWriter(out_dir / NUMERIC_FILE, (schema.num_rows, len(numeric_columns)), np.float32) as numeric,
        _NpyWriter(out_dir / CATEGORICAL_FILE, (schema.num_rows, len(categorical_columns)), np.int64) as categorical,
    ):
        for batch in _batches(source, names, wanted):
            numeric.write([_numeric(column, batch.chunks[column.name]) for column in numeric_columns], batch.rows)
            categorical.write([_codes(column, batch.chunks[column.name]) for column in categorical_columns], batch.rows)
            if labels is not None and schema.label_column is not None:
                labels.extend(batch.chunks[schema.label_column].categories())
    return labels


class _NpyWriter:
    """An (N, F) ``.npy`` file written a block of rows at a time, in order. Rows are contiguous in C order,
    so each batch is appended with a plain write: unlike a memory map, the written pages never count towards
    the process's resident memory."""

    def __init__(self, path: Path, shape: tuple[int, int], dtype: type) -> None:
        self.path, self.shape, self.dtype, self.rows = path, shape, np.dtype(dtype), 0
        self.handle = path.open("wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self.handle, header)

    def write(self, columns: list[np.ndarray], rows: int) -> None:
        block = np.stack(columns, axis=1) if columns else np.zeros((rows, 0), self.dtype)  # (rows, F)
        self.handle.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += rows

    def __enter__(self) -> "_NpyWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
        if exc[0] is None and self.rows != self.shape[0]:  # pass 2 must see the rows pass 1 counted
            raise InvalidTableError(f"the table changed while it was read: {self.shape[0]} rows, then {self.rows}")


def _numeric(column: ColumnSchema, cells: Chunk) -> np.ndarray:
    if cells.numbers is not None:
        return standardize(column, cells.numbers)
    if cells.text is None:
        return encode_numeric(column, cells.cells)
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.cast(cells.text, pa.float64()).to_numpy(zero_copy_only=False)  # missing -> NaN
    return standardize(column, np.asarray(values, dtype=np.float64))


def _codes(column: ColumnSchema, cells: Chunk) -> np.ndarray:
    """The codes :func:`~selfsup.tabular.encoding.encode_categorical` gives, computed with arrow for text."""
    if cells.text is None:
        return encode_categorical(column, cells.cells)
    import pyarrow as pa
    import pyarrow.compute as pc

    text = cells.text
    if column.kind == "boolean":
        is_true = pc.is_in(pc.utf8_lower(text), value_set=pa.array(sorted(TRUE_WORDS)))
        text = pc.if_else(is_true, BOOLEAN_VOCABULARY[1], BOOLEAN_VOCABULARY[0])  # missing ones are set below
    found = pc.index_in(text, value_set=pa.array(column.vocabulary, pa.string())).fill_null(-1)
    codes = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64) + FIRST_CATEGORY_CODE  # -1 -> unknown
    codes[~np.asarray(cells.text.is_valid().to_numpy(zero_copy_only=False), dtype=bool)] = MISSING_CODE
    return codes
