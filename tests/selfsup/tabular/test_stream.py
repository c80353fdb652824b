"""Streaming table ingest: read in many batches, a table gives what the whole-file path gives (same schema,
statistics within float rounding, same arrays, same errors), and parquet is budgeted as it decodes."""

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selfsup.tabular import InvalidTableError, encode_table, infer_schema, read_table
from selfsup.tabular.batches import BATCH_DECODED_BYTES, TableSource, column_names, decoded_bytes, iter_batches
from selfsup.tabular.data import load_table_data
from selfsup.tabular.stream import DatasetTooLargeError, ingest_table_file
from tests.support.tables import Columns, csv_bytes, diabetes_columns, parquet_bytes

ROWS = 6000
SMALL_BLOCK = 4096  # CSV bytes per batch: the 6000-row table below takes about 50 batches


def mixed_columns(rows: int = ROWS) -> Columns:
    """Numbers with missing cells, categories (one far more frequent), boolean words, integer codes, a column
    that looks numeric until its last rows (so its categories are counted only after the fact), and a label."""
    rng = np.random.default_rng(7)
    late = [str(int(v)) for v in rng.integers(0, 30, rows)]
    late[-3] = "n/a-code"
    return {
        "price": [None if i % 17 == 0 else float(np.round(v, 3)) for i, v in enumerate(rng.normal(50, 20, rows))],
        "city": [
            None if i % 23 == 0 else str(rng.choice(["paris", "oslo", "lima", "rome"], p=[0.7, 0.1, 0.1, 0.1]))
            for i in range(rows)
        ],
        "member": [None if i % 29 == 0 else bool(v) for i, v in enumerate(rng.integers(0, 2, rows))],
        "zip": [int(v) for v in rng.integers(10_000, 99_999, rows)],
        "late": late,
        "empty": [None] * rows,
        "label": [str(rng.choice(["a", "b"])) for _ in range(rows)],
    }


def whole_file(data: bytes, filename: str, **choices: Any) -> tuple[Any, Any]:
    table = read_table(data, filename=filename)
    schema = infer_schema(table, **choices)
    return schema, encode_table(table, schema)


def streamed(tmp_path: Path, data: bytes, filename: str, **choices: Any) -> tuple[Any, Any]:
    path = tmp_path / filename
    path.write_bytes(data)
    source = TableSource(path, filename, csv_block_bytes=SMALL_BLOCK, batch_cells=500)
    assert sum(1 for _ in iter_batches(source, column_names(source))) > 1  # batches, not the whole file at once
    result = ingest_table_file(source, tmp_path / "out", **choices)
    return result.schema, load_table_data(tmp_path / "out")


def assert_same(expected: tuple[Any, Any], got: tuple[Any, Any]) -> None:
    (schema, encoded), (streamed_schema, data) = expected, got
    assert streamed_schema.num_rows == schema.num_rows and streamed_schema.label_column == schema.label_column
    for mine, theirs in zip(streamed_schema.columns, schema.columns, strict=True):
        assert (mine.name, mine.kind, mine.missing, mine.vocabulary) == (
            theirs.name,
            theirs.kind,
            theirs.missing,
            theirs.vocabulary,
        )
        assert mine.mean == pytest.approx(theirs.mean, rel=1e-9, abs=1e-9)
        assert mine.std == pytest.approx(theirs.std, rel=1e-9)
    np.testing.assert_allclose(data.numeric, encoded.numeric, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(data.categorical, encoded.categorical)
    assert data.labels == encoded.labels


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_read_in_many_batches_equals_the_whole_file_ingest(tmp_path: Path, suffix: str) -> None:
    columns = mixed_columns()
    data = csv_bytes(columns) if suffix == ".csv" else parquet_bytes(columns)
    choices = {"label_column": "label", "overrides": {"zip": "categorical"}}
    expected = whole_file(data, f"t{suffix}", **choices)
    got = streamed(tmp_path, data, f"t{suffix}", **choices)
    assert_same(expected, got)
    kinds = {c.name: c.kind for c in got[0].columns}
    assert kinds == {
        "price": "numeric",
        "city": "categorical",
        "member": "boolean",
        "zip": "categorical",
        "late": "categorical",
        "empty": "ignore",
    }


def test_a_real_table_with_missing_cells_equals_the_whole_file_ingest(tmp_path: Path) -> None:
    data = parquet_bytes(diabetes_columns())
    assert_same(
        whole_file(data, "d.parquet", label_column="progression"),
        streamed(tmp_path, data, "d.parquet", label_column="progression"),
    )


def test_an_override_the_cells_cannot_hold_names_the_row_the_whole_file_names(tmp_path: Path) -> None:
    data = csv_bytes(mixed_columns())
    with pytest.raises(InvalidTableError) as whole:
        whole_file(data, "t.csv", overrides={"late": "numeric"})
    with pytest.raises(InvalidTableError) as stream:
        streamed(tmp_path, data, "t.csv", overrides={"late": "numeric"})
    assert str(stream.value) == str(whole.value) == f"column 'late' cannot be numeric: row {ROWS - 2} holds 'n/a-code'"


def dictionary_parquet(value_bytes: int, rows: int) -> bytes:
    """One dictionary-encoded column: a single long string repeated on every row (tiny packed, huge decoded)."""
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array(["x" * value_bytes]))
    buffer = io.BytesIO()
    pq.write_table(pa.table({"tag": column}), buffer, compression="zstd")
    return buffer.getvalue()


def test_a_dictionary_column_is_counted_as_it_decodes_and_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.parquet"
    path.write_bytes(dictionary_parquet(1024**2, 1024))  # a GiB of strings once decoded
    assert path.stat().st_size < 100_000
    column = pa.DictionaryArray.from_arrays(pa.array([0, 0, 0], pa.int32()), pa.array(["x" * 1000]))
    assert decoded_bytes(column) >= 3000 > column.nbytes
    source = TableSource(path, "bomb.parquet", max_decoded_bytes=256 * 1024**2)
    with pytest.raises(InvalidTableError, match=r"bomb\.parquet: unpacks to more than the limit of 268435456 bytes"):
        ingest_table_file(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_batch_of_long_strings_is_decoded_in_slices_under_the_batch_budget(tmp_path: Path) -> None:
    path = tmp_path / "long.parquet"
    path.write_bytes(dictionary_parquet(1024**2, 200))  # 200 MiB decoded, in one parquet batch
    source = TableSource(path, "long.parquet")
    pieces = [arrays[0] for arrays in iter_batches(source, column_names(source))]
    assert sum(len(piece) for piece in pieces) == 200 and len(pieces) > 1
    assert all(not pa.types.is_dictionary(piece.type) and piece.nbytes <= BATCH_DECODED_BYTES for piece in pieces)


def test_arrays_past_the_byte_limit_are_refused_before_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(csv_bytes(mixed_columns(1000)))  # per row: 2 numbers (4 bytes each), 4 codes (8 each)
    with pytest.raises(DatasetTooLargeError, match="1000 rows encode to 40000 bytes, over the limit of 39999 bytes"):
        ingest_table_file(TableSource(path, "t.csv"), tmp_path / "out", max_bytes=39_999)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b"a,b\n1,2\n3,\xff\n", "bad.csv", "bad.csv: not valid UTF-8"),
        (b"a,b\n1,2\n3,4,5\n", "ragged.csv", "ragged.csv, line 3: 3 fields, but the header has 2"),
        (b"a,b\n1\n", "short.csv", "short.csv, line 2: 1 fields"),
        (b"a,b,a\n1,2,3\n", "dup.csv", "duplicate column name 'a'"),  # arrow alone would merge them
        (b"a,,c\n1,2,3\n", "blank.csv", "column 2 has an empty name"),
        (b"", "empty.csv", "empty.csv: the file is empty"),
        (b"a,b\n", "header.csv", "header.csv: the table has a header but no data rows"),
        (b'a,b\n"1,2\n', "quote.csv", "quote.csv, line 2"),
        (b"PAR1 this is not parquet", "corrupt.parquet", "corrupt.parquet: not a readable parquet file"),
        (b"a\n1\n", "table.xlsx", "table.xlsx: unsupported file type '.xlsx'"),
    ],
)
def test_malformed_files_are_refused_naming_the_problem(
    tmp_path: Path, data: bytes, filename: str, expected: str
) -> None:
    (tmp_path / filename).write_bytes(data)
    with pytest.raises(InvalidTableError) as caught:
        ingest_table_file(TableSource(tmp_path / filename, filename), tmp_path / "out")
    assert expected in str(caught.value)


def test_a_byte_order_mark_quotes_padding_and_blank_lines_read_as_the_whole_file_reads_them(tmp_path: Path) -> None:
    data = '\ufeff name ,"note, quoted"\r\n Ann ,"a, b"\r\n\r\nBob,c\r\n'.encode()
    (tmp_path / "t.csv").write_bytes(data)
    schema = ingest_table_file(TableSource(tmp_path / "t.csv", "t.csv"), tmp_path / "out").schema
    assert [(c.name, c.vocabulary) for c in schema.columns] == [
        ("name", ("Ann", "Bob")),
        ("note, quoted", ("a, b", "c")),
    ]
    assert schema == whole_file(data, "t.csv")[0]


def test_typed_parquet_numbers_are_read_as_the_whole_file_reads_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    counts = [None if i % 7 == 0 else int(v) for i, v in enumerate(rng.integers(-(2**62), 2**62, 3000))]
    ratios = [float("nan") if i % 5 == 0 else float(v) for i, v in enumerate(rng.normal(0, 1e-3, 3000))]
    data = parquet_bytes({"count": counts, "ratio": ratios, "small": [int(v) for v in rng.integers(0, 9, 3000)]})
    assert_same(whole_file(data, "n.parquet"), streamed(tmp_path, data, "n.parquet"))
    ratios[2500] = float("-inf")
    data = parquet_bytes({"ratio": ratios})
    with pytest.raises(InvalidTableError) as whole:
        whole_file(data, "n.parquet")
    (tmp_path / "inf").mkdir()
    with pytest.raises(InvalidTableError) as stream:
        streamed(tmp_path / "inf", data, "n.parquet")
    assert str(stream.value) == str(whole.value) == "n.parquet: column 'ratio', row 2501: non-finite number -inf"
