"""Schema inference on real tables, the inference rules one by one, overrides, the label column, JSON."""

import json

import numpy as np
import pytest

from selfsup.tabular import InvalidTableError, RawTable, TableSchema, infer_schema, label_values, read_table
from selfsup.tabular.reading import Cell
from tests.support.tables import classification_columns, csv_bytes, diabetes_columns, parquet_bytes


def _table(**columns: list[Cell]) -> RawTable:
    return RawTable(dict(columns), len(next(iter(columns.values()))))


def test_wine_is_all_numeric_with_population_statistics_and_the_label_set_aside() -> None:
    wine = classification_columns("wine")
    table = read_table(csv_bytes(wine), filename="wine.csv")
    schema = infer_schema(table, label_column="label")
    assert [c.name for c in schema.columns] == [name for name in wine if name != "label"]
    assert {c.kind for c in schema.columns} == {"numeric"} and schema.num_rows == 178
    alcohol = schema.columns[0]
    assert alcohol.mean == pytest.approx(np.mean(wine["alcohol"])) and alcohol.std == pytest.approx(
        np.std(wine["alcohol"])
    )
    assert schema.label_column == "label" and schema.column("label") is None
    assert label_values(table, schema) == wine["label"]
    assert label_values(table, infer_schema(table)) is None


def test_mixed_table_types_counts_missing_and_reads_the_same_from_csv_and_parquet() -> None:
    diabetes = diabetes_columns()
    from_csv = infer_schema(read_table(csv_bytes(diabetes), filename="d.csv"), label_column="progression")
    from_parquet = infer_schema(read_table(parquet_bytes(diabetes), filename="d.parquet"), label_column="progression")
    assert from_csv == from_parquet
    kinds = {c.name: c.kind for c in from_csv.columns}
    assert kinds["sex"] == "categorical" and kinds["high_bp"] == "boolean" and kinds["bmi"] == "numeric"
    assert from_csv.column("bmi").missing == 41 and from_csv.column("sex").missing == 34  # type: ignore[union-attr]
    assert from_csv.column("sex").vocabulary == ("sex_1", "sex_2")  # type: ignore[union-attr]
    assert from_csv.column("high_bp").vocabulary == ("false", "true")  # type: ignore[union-attr]
    present = [v for v in diabetes["bmi"] if v is not None]
    assert from_csv.column("bmi").mean == pytest.approx(np.mean(present))  # type: ignore[union-attr]
    assert from_csv.cardinalities == (4, 4)  # missing, unknown, two values


def test_inference_rules() -> None:
    table = _table(
        flags=["True", "no", None, "YES"],
        binary=["0", "1", "1", "0"],
        numbers=["-1.5e3", ".5", "7", None],
        odd=["1_000", "inf", "2", "3"],
        words=["a", "b", "a", "3"],
        empty=[None, None, None, None],
        constant=["4", "4", "4", "4"],
    )
    schema = infer_schema(table)
    kinds = [c.kind for c in schema.columns]
    assert kinds == ["boolean", "numeric", "numeric", "categorical", "categorical", "ignore", "numeric"]
    assert schema.column("constant").std == 1.0  # type: ignore[union-attr]  # std 0 would divide by zero
    assert schema.column("numbers").missing == 1  # type: ignore[union-attr]


def test_vocabulary_keeps_the_most_frequent_values_ties_broken_by_value() -> None:
    table = _table(colour=["red", "blue", "red", "green", "blue", "amber", "red", None])
    column = infer_schema(table, max_categories=3).columns[0]
    assert column.vocabulary == ("red", "blue", "amber") and column.cardinality == 5 and column.missing == 1


def test_overrides_retype_columns_and_impossible_ones_name_the_column_and_value() -> None:
    table = _table(zip=["02139", "10001", "02139"], score=["1", "2", "abc"], flag=["0", "1", "1"], x=["1", "2", "3"])
    schema = infer_schema(table, overrides={"zip": "categorical", "x": "ignore", "score": "categorical"})
    assert [c.kind for c in schema.columns] == ["categorical", "categorical", "numeric", "ignore"]
    assert schema.columns[0].vocabulary == ("02139", "10001")
    with pytest.raises(InvalidTableError, match="column 'score' cannot be numeric: row 3 holds 'abc'"):
        infer_schema(table, overrides={"score": "numeric"})
    with pytest.raises(InvalidTableError, match="column 'flag' cannot be boolean: row 1 holds '0'"):
        infer_schema(table, overrides={"flag": "boolean"})


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"overrides": {"nope": "numeric"}}, "type override for unknown column 'nope'"),
        ({"overrides": {"a": "text"}}, "column 'a': unknown type 'text'"),
        ({"label_column": "target"}, "label column 'target' is not in the table"),
        ({"label_column": "a", "overrides": {"a": "numeric"}}, "label column 'a' cannot have a type override"),
        ({"overrides": {"a": "ignore", "b": "ignore"}}, "no usable feature column"),
    ],
)
def test_bad_overrides_and_labels_are_refused(kwargs: dict, expected: str) -> None:
    with pytest.raises(InvalidTableError, match=expected):
        infer_schema(_table(a=["1", "2"], b=["x", "y"]), **kwargs)


def test_schema_round_trips_through_json() -> None:
    table = read_table(csv_bytes(diabetes_columns()), filename="d.csv")
    schema = infer_schema(table, label_column="progression", overrides={"age": "ignore"})
    restored = TableSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert restored == schema
    with pytest.raises(InvalidTableError, match="unsupported table schema version"):
        TableSchema.from_dict({**schema.to_dict(), "version": 99})
