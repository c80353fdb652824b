"""Encoding tables for training, the TableData the trainer reads, files on disk, and serving rows that must
encode exactly as training did."""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.data.base import TrainingData
from selfsup.tabular import (
    EncodedTable,
    InvalidRowError,
    RowPreprocessor,
    TableData,
    encode_table,
    infer_schema,
    load_table_data,
    read_table,
    save_table_dataset,
)
from selfsup.tabular.data import PROBE_CORRUPTION_RATE
from tests.support.tables import csv_bytes, diabetes_columns, parquet_bytes

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def diabetes() -> dict[str, list[Any]]:
    return diabetes_columns()


@pytest.fixture(scope="module")
def data(diabetes: dict[str, list[Any]]) -> TableData:
    table = read_table(csv_bytes(diabetes), filename="diabetes.csv")
    schema = infer_schema(table, label_column="progression")
    return TableData(encode_table(table, schema), schema)


def test_encoding_standardizes_numerics_imputes_the_mean_and_codes_categories(
    diabetes: dict[str, list[Any]], data: TableData
) -> None:
    assert data.numeric.shape == (442, 9) and data.numeric.dtype == np.float32
    assert data.categorical.shape == (442, 2) and data.categorical.dtype == np.int64
    bmi = np.array([np.nan if v is None else v for v in diabetes["bmi"]])
    expected = np.nan_to_num((bmi - np.nanmean(bmi)) / np.nanstd(bmi), nan=0.0)
    np.testing.assert_allclose(data.numeric[:, 1], expected, rtol=1e-5, atol=1e-6)
    codes = {None: 0, "sex_1": 2, "sex_2": 3}  # 0 missing, 1 unknown, then the vocabulary
    assert data.categorical[:, 0].tolist() == [codes[v] for v in diabetes["sex"]]
    assert data.categorical[:, 1].tolist() == [3 if v else 2 for v in diabetes["high_bp"]]
    assert data.labels == diabetes["progression"]


def test_csv_and_parquet_uploads_encode_identically(diabetes: dict[str, list[Any]], data: TableData) -> None:
    table = read_table(parquet_bytes(diabetes), filename="diabetes.parquet")
    encoded = encode_table(table, infer_schema(table, label_column="progression"))
    np.testing.assert_array_equal(encoded.numeric, data.numeric)
    np.testing.assert_array_equal(encoded.categorical, data.categorical)


def test_table_data_meets_the_training_data_contract(data: TableData) -> None:
    assert isinstance(data, TrainingData) and data.modality == "tabular" and len(data) == 442
    batch = data.batch(np.array([0, 5, 9]), CPU)
    assert torch.equal(batch.numeric, torch.from_numpy(data.numeric[[0, 5, 9]]))
    assert torch.equal(batch.categorical, torch.from_numpy(data.categorical[[0, 5, 9]]))
    facts = data.describe()
    assert facts["num_items"] == 442 and facts["categorical_columns"] == ["sex", "high_bp"]
    assert facts["cardinalities"] == [4, 4] and json.dumps(facts)
    assert data.serving_assets() == {"schema": data.schema.to_dict()}


def test_probe_view_redraws_thirty_percent_of_features_from_the_whole_dataset(data: TableData) -> None:
    torch.manual_seed(0)
    batch = data.batch(np.arange(8), CPU)  # eight rows: a batch-only draw could not produce most values
    views = [data.probe_view(batch) for _ in range(200)]
    numeric = torch.stack([v.numeric for v in views])  # (200, 8, Fn)
    changed = (numeric != batch.numeric).float().mean().item()
    assert 0.2 < changed <= PROBE_CORRUPTION_RATE  # 30% redrawn; a draw can equal the original value
    for j in range(batch.num_numeric):
        assert set(numeric[..., j].flatten().tolist()) <= set(data.numeric[:, j].tolist())
        assert len(set(numeric[..., j].flatten().tolist()) - set(batch.numeric[:, j].tolist())) > 8
    assert set(torch.stack([v.categorical for v in views]).flatten().tolist()) <= {0, 2, 3}


def test_saved_dataset_loads_back_with_schema_and_labels(data: TableData, tmp_path: Path) -> None:
    save_table_dataset(tmp_path, EncodedTable(data.numeric, data.categorical, data.labels), data.schema)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "categorical.npy",
        "labels.json",
        "numeric.npy",
        "schema.json",
    ]
    loaded = load_table_data(tmp_path)
    assert loaded.schema == data.schema and loaded.labels == data.labels
    np.testing.assert_array_equal(loaded.numeric, data.numeric)
    index = np.array([3, 100])
    assert torch.equal(loaded.batch(index, CPU).categorical, data.batch(index, CPU).categorical)


def _json_rows(diabetes: dict[str, list[Any]], rows: range) -> list[dict[str, Any]]:
    """The upload's rows as a client would send them: JSON objects, null for missing, the label included."""
    records = [{name: values[i] for name, values in diabetes.items()} for i in rows]
    return json.loads(json.dumps(records))


def test_serving_reproduces_the_training_encoding_exactly(diabetes: dict[str, list[Any]], data: TableData) -> None:
    rows = _json_rows(diabetes, range(442))
    batch = RowPreprocessor.from_assets(json.loads(json.dumps(data.serving_assets()))).encode(rows)
    assert torch.equal(batch.numeric, torch.from_numpy(data.numeric))
    assert torch.equal(batch.categorical, torch.from_numpy(data.categorical))


def test_missing_keys_nulls_and_markers_are_imputed_and_unseen_categories_are_unknown(
    diabetes: dict[str, list[Any]], data: TableData
) -> None:
    rows = _json_rows(diabetes, range(1, 3))
    del rows[0]["bmi"], rows[0]["sex"]
    rows[1] |= {"bmi": None, "sex": "NA", "high_bp": "Yes", "s1": 1}
    serving = RowPreprocessor.from_assets(data.serving_assets())
    batch = serving.encode(rows)
    assert batch.numeric[0, 1] == 0 and batch.numeric[1, 1] == 0  # bmi imputed as the mean
    assert batch.categorical[:, 0].tolist() == [0, 0] and batch.categorical[1, 1] == 3
    unseen = serving.encode([{"sex": "sex_3"}])
    assert unseen.categorical.tolist() == [[1, 0]] and unseen.numeric.abs().sum() == 0
    assert serving.encode([]).numeric.shape == (0, 9)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("colour", "red", "unknown column"),
        ("bmi", "30.1", "expected a number, got string '30.1'"),
        ("bmi", True, "expected a number, got boolean True"),
        ("high_bp", 1, "expected true or false, got number 1"),
        ("high_bp", "maybe", "'maybe' is not one of true/false/yes/no"),
        ("sex", ["sex_1"], "expected a single value, got array"),
        ("age", {"value": 3}, "expected a single value, got object"),
        ("progression", [1], "expected a single value, got array"),
        ("s1", math.nan, "non-finite number nan"),
        ("s1", math.inf, "non-finite number inf"),
        ("s1", 10**400, "out of range"),
    ],
)
def test_bad_values_name_the_row_and_column(data: TableData, column: str, value: object, expected: str) -> None:
    rows: list[Any] = [{"age": 50.0}, {"age": 40.0, column: value}]
    with pytest.raises(InvalidRowError) as caught:
        RowPreprocessor.from_assets(data.serving_assets()).encode(rows)
    assert (caught.value.index, caught.value.column) == (1, column)
    assert f"row 1, column '{column}'" in str(caught.value) and expected in str(caught.value)


def test_a_row_that_is_not_an_object_is_refused(data: TableData) -> None:
    with pytest.raises(InvalidRowError, match="row 0: expected an object keyed by column name, got array"):
        RowPreprocessor.from_assets(data.serving_assets()).encode([[1, 2]])
