"""Tables end to end over HTTP: CSV and parquet uploads with inferred and overridden types, refusals that keep
what is stored, a SCARF job through the real worker code, and embeddings of JSON rows."""

import base64
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.support import ingest
from tests.support.jobs import run_through_worker
from tests.support.tables import classification_columns, csv_bytes, diabetes_columns, parquet_bytes


def upload(client: TestClient, data: bytes, filename: str, **form: str) -> dict:
    """Uploaded and ingested: the dataset as GET shows it, ready or failed."""
    return ingest.upload(client, {"file": (filename, data)}, {"name": "table", "modality": "tabular", **form})


def ready_datasets(client: TestClient) -> int:
    return sum(d["status"] == "ready" for d in client.get("/v1/datasets").json()["items"])


def column_kinds(body: dict) -> dict[str, str]:
    return {column["name"]: column["kind"] for column in body["details"]["schema"]["columns"]}


def test_csv_types_are_inferred_and_missing_cells_counted(client: TestClient) -> None:
    body = upload(client, csv_bytes(diabetes_columns()), "diabetes.csv", label_column="progression")
    assert body["status"] == "ready", body["error"]
    assert body["modality"] == "tabular" and body["num_items"] == 442
    kinds = column_kinds(body)
    assert kinds["sex"] == "categorical" and kinds["high_bp"] == "boolean" and kinds["bmi"] == "numeric"
    assert "progression" not in kinds or kinds["progression"] == "ignore"
    columns = {c["name"]: c for c in body["details"]["schema"]["columns"]}
    assert columns["bmi"]["missing"] == 41 and columns["sex"]["missing"] == 34
    assert body["labels"]["num_labeled"] == 442


def test_parquet_and_type_overrides(client: TestClient) -> None:
    columns = classification_columns("wine")
    overrides = json.dumps({"magnesium": "categorical", "proline": "ignore"})
    body = upload(client, parquet_bytes(columns), "wine.parquet", label_column="label", column_types=overrides)
    assert body["status"] == "ready", body["error"]
    kinds = column_kinds(body)
    assert kinds["magnesium"] == "categorical" and kinds["proline"] == "ignore" and kinds["alcohol"] == "numeric"
    assert sorted(body["labels"]["classes"]) == ["class_0", "class_1", "class_2"]


@pytest.mark.parametrize(
    ("data", "filename", "form", "expected"),
    [
        (b"a,b\n1,2\n3\n", "ragged.csv", {}, "line 3"),
        (b"a,b\n1,\xff\n", "latin.csv", {}, "UTF-8"),
        (b"PAR1 this is no parquet", "broken.parquet", {}, "broken.parquet"),
        (b"a,b\n1,x\n2,y\n", "t.csv", {"column_types": '{"b": "numeric"}'}, "'b'"),
        (b"a,b\n1,x\n2,y\n", "t.csv", {"label_column": "nope"}, "'nope'"),
        (b"a,a\n1,2\n", "dup.csv", {}, "'a'"),
    ],
)
def test_malformed_tables_are_refused_and_nothing_is_stored(
    client: TestClient, data: bytes, filename: str, form: dict[str, str], expected: str
) -> None:
    failed = upload(client, data, filename, **form)
    assert failed["status"] == "failed" and expected in failed["error"], failed
    assert ready_datasets(client) == 0


def test_column_types_must_be_a_json_object(client: TestClient) -> None:
    files = {"file": ("t.csv", b"a\n1\n2\n")}
    response = client.post("/v1/datasets", files=files, data={"name": "t", "modality": "tabular", "column_types": "[1"})
    assert response.status_code == 422 and "column_types" in response.text, "a bad form field is refused at once"


@pytest.fixture
def table_model(client: TestClient) -> str:
    # No label column: diabetes' progression has 214 values, no classes to probe; it stays a numeric feature.
    dataset = upload(client, csv_bytes(diabetes_columns()), "diabetes.csv")
    params = {"epochs": 2, "batch_size": 64}
    return str(run_through_worker(client, dataset["id"], "scarf", params)["model_id"])


def test_a_table_job_trains_and_serves_rows(client: TestClient, table_model: str) -> None:
    model = client.get(f"/v1/models/{table_model}").json()
    assert model["modality"] == "tabular" and model["method"] == "scarf"
    columns = diabetes_columns()
    row = {**{name: values[1] for name, values in columns.items()}, "progression": float(columns["progression"][1])}
    partial = {key: value for key, value in row.items() if key != "bmi"}
    rows = [row, partial, {**partial, "bmi": None}]
    response = client.post(f"/v1/models/{table_model}/embed", json={"rows": rows})
    assert response.status_code == 200, response.text
    vectors = np.array(response.json()["embeddings"])
    assert vectors.shape == (3, model["dim"]) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(vectors[1], vectors[2], atol=1e-6)  # a missing column is imputed like a missing cell


@pytest.mark.parametrize(
    ("row", "where"),
    [({"nonsense": 1}, ["body", "rows", 0, "nonsense"]), ({"bmi": "heavy"}, ["body", "rows", 0, "bmi"])],
)
def test_bad_rows_are_422_naming_the_column(client: TestClient, table_model: str, row: dict, where: list) -> None:
    response = client.post(f"/v1/models/{table_model}/embed", json={"rows": [row]})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == where and where[-1] in error["msg"]


def test_a_parquet_that_unpacks_past_the_limit_is_refused_while_it_is_read(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.conftest import reset_service_caches

    # Tables stream from disk, so what a parquet file decodes to is held to the dataset limit, not a member's.
    monkeypatch.setenv("SELFSUP_MAX_DATASET_BYTES", str(1 << 20))
    reset_service_caches()
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": pa.array(["a" * 1000] * 5000)}), buffer, compression="zstd")  # ~5 MB of text
    packed = buffer.getvalue().to_pybytes()
    assert len(packed) < 100_000
    failed = upload(client, packed, "bomb.parquet")
    assert failed["status"] == "failed" and "unpacks to more than the limit of 1048576 bytes" in failed["error"], failed


def test_an_absurd_number_embeds_to_finite_vectors(client: TestClient, table_model: str) -> None:
    # 1e200 standardized overflowed float32 to infinity: every component came back null (NaN in base64).
    for age in (1e200, -1e300, 10**300):
        response = client.post(f"/v1/models/{table_model}/embed", json={"rows": [{"age": age}]})
        assert response.status_code == 200, response.text
        vector = np.array(response.json()["embeddings"][0], dtype=np.float64)
        assert np.isfinite(vector).all() and np.isclose(np.linalg.norm(vector), 1, atol=1e-5)
    body = {"model": table_model, "input": json.dumps({"age": 1e200}), "encoding_format": "base64"}
    response = client.post("/v1/embeddings", json=body)
    assert response.status_code == 200, response.text
    vector = np.frombuffer(base64.b64decode(response.json()["data"][0]["embedding"]), dtype="<f4")
    assert np.isfinite(vector).all()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"age": ' + "1" * 5000 + "}", "digits"),
        ('{"age": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper than"),
        ("[" * 100_000, "nested deeper than"),
        ('{"age": NaN}', "NaN"),
    ],
    ids=["5000-digits", "nested-value", "nested-row", "nan"],
)
def test_row_strings_no_parser_should_take_are_400_in_openais_shape(
    client: TestClient, table_model: str, text: str, expected: str
) -> None:
    response = client.post("/v1/embeddings", json={"model": table_model, "input": ["{}", text]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "input" and error["message"].startswith("input[1]") and expected in error["message"]


def test_a_table_wider_than_the_column_limit_is_refused_and_nothing_is_stored(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import reset_service_caches

    monkeypatch.setenv("SELFSUP_MAX_TABLE_COLUMNS", "50")
    reset_service_caches()
    wide = {f"c{i}": [float(i), float(i + 1)] for i in range(51)}
    for data, filename in ((csv_bytes(wide), "wide.csv"), (parquet_bytes(wide), "wide.parquet")):
        failed = upload(client, data, filename)
        assert failed["status"] == "failed", failed
        assert "51 columns is over the limit of 50 columns" in failed["error"]
    assert ready_datasets(client) == 0
    narrow = {name: values for name, values in list(wide.items())[:50]}
    assert upload(client, csv_bytes(narrow), "narrow.csv")["status"] == "ready"


def test_lists_leave_the_schema_out_and_the_dataset_keeps_it(client: TestClient) -> None:
    wide = {f"c{i}": [float(i), float(i + 1), float(i + 2)] for i in range(300)}
    created = upload(client, csv_bytes(wide), "wide.csv")
    listed = client.get("/v1/datasets")
    [item] = listed.json()["items"]
    assert "schema" not in item["details"] and item["details"]["num_columns"] == 300
    assert len(listed.content) < 2000  # the schema alone (300 columns with statistics) is tens of kilobytes
    one = client.get(f"/v1/datasets/{created['id']}").json()
    assert len(one["details"]["schema"]["columns"]) == 300


def test_a_table_inside_an_archive_is_extracted_streamed_and_not_kept(client: TestClient) -> None:
    from tests.support.images import tar_bytes, zip_bytes

    data = csv_bytes(diabetes_columns())
    direct = upload(client, data, "diabetes.csv", label_column="progression")
    zipped = upload(client, zip_bytes([("export/diabetes.csv", data)]), "export.zip", label_column="progression")
    assert direct["status"] == "ready" and zipped["status"] == "ready", zipped
    assert zipped["details"] == direct["details"] and zipped["num_items"] == 442
    assert zipped["size_bytes"] == direct["size_bytes"]  # the extracted CSV was not stored
    two = upload(client, tar_bytes([("a.csv", data), ("b.csv", data)]), "two.tar.gz")
    assert two["status"] == "failed" and "the archive must hold one .csv or .parquet file, not 2" in two["error"]
