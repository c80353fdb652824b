"""Reading uploads: CSV and parquet from bytes, missing markers, and every malformed input named precisely."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selfsup.errors import SelfSupError
from selfsup.tabular import InvalidTableError, read_table
from tests.support.tables import classification_columns, csv_bytes, diabetes_columns, parquet_bytes


def test_csv_of_a_real_table_reads_every_cell_as_stripped_text() -> None:
    wine = classification_columns("wine")
    table = read_table(csv_bytes(wine), filename="wine.csv")
    assert table.names == list(wine) and table.num_rows == 178
    assert table.columns["alcohol"][:2] == [repr(wine["alcohol"][0]), repr(wine["alcohol"][1])]
    assert table.columns["label"][0] == "class_0"


def test_parquet_keeps_native_types_and_nulls() -> None:
    diabetes = diabetes_columns()
    table = read_table(parquet_bytes(diabetes), filename="DIABETES.PARQUET")
    assert table.num_rows == 442 and table.names == list(diabetes)
    assert table.columns == diabetes  # floats, strings, booleans and None come back exactly


@pytest.mark.parametrize("marker", ["", "NA", "n/a", "NaN", "null", "None", "?", "  na  "])
def test_missing_markers_become_none_in_csv_and_parquet(marker: str) -> None:
    table = read_table(f"a,b\n{marker},x\n".encode(), filename="t.csv")
    assert table.columns == {"a": [None], "b": ["x"]}
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": [marker, "y"], "f": [float("nan"), 1.5]}), buffer)
    assert read_table(buffer.getvalue(), filename="t.parquet").columns == {"a": [None, "y"], "f": [None, 1.5]}


def test_a_byte_order_mark_quotes_and_blank_lines_are_handled() -> None:
    data = '\ufeff name ,"note, quoted"\r\n Ann ,"a, b"\r\n\r\nBob,c\r\n'.encode()
    table = read_table(data, filename="t.csv")
    assert table.columns == {"name": ["Ann", "Bob"], "note, quoted": ["a, b", "c"]} and table.num_rows == 2


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b"a,b\n1,2\n3,\xff\n", "bad.csv", "bad.csv, line 3: not valid UTF-8"),
        (b"a,b\n1,2\n3,4,5\n", "ragged.csv", "ragged.csv, line 3: 3 fields, but the header has 2"),
        (b"a,b\n1\n", "short.csv", "short.csv, line 2: 1 fields"),
        (b"a,b,a\n1,2,3\n", "dup.csv", "duplicate column name 'a'"),
        (b"a,,c\n1,2,3\n", "blank.csv", "column 2 has an empty name"),
        (b"", "empty.csv", "empty.csv: the file is empty"),
        (b"a,b\n", "header.csv", "header.csv: the table has a header but no data rows"),
        (b'a,b\n"1,2\n', "quote.csv", "quote.csv, line 2: malformed CSV"),
        (b"PAR1 this is not parquet", "corrupt.parquet", "corrupt.parquet: not a readable parquet file"),
        (b"a\n1\n", "table.xlsx", "table.xlsx: unsupported file type '.xlsx'"),
    ],
)
def test_malformed_tables_raise_an_error_naming_the_problem(data: bytes, filename: str, expected: str) -> None:
    with pytest.raises(InvalidTableError) as caught:
        read_table(data, filename=filename)
    assert expected in str(caught.value)
    assert isinstance(caught.value, SelfSupError) and isinstance(caught.value, ValueError)


def test_truncated_and_nested_parquet_are_refused() -> None:
    good = parquet_bytes(classification_columns("iris"))
    with pytest.raises(InvalidTableError, match="not a readable parquet file"):
        read_table(good[: len(good) // 2], filename="cut.parquet")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": [1.0], "tags": [["a", "b"]]}), buffer)
    with pytest.raises(InvalidTableError, match="column 'tags' has nested type"):
        read_table(buffer.getvalue(), filename="nested.parquet")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": [1.0, float("inf")]}), buffer)
    with pytest.raises(InvalidTableError, match="column 'x', row 2: non-finite number inf"):
        read_table(buffer.getvalue(), filename="inf.parquet")
