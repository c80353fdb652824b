"""Uploading, listing and deleting datasets over HTTP, on PostgreSQL."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from tests.support import ingest
from tests.support.images import digit_pngs, digits_zip, tar_bytes, zip_bytes
from worker.training import run_job


def fields(form: dict[str, str]) -> dict[str, str]:
    return {"name": "digits", "image_size": "24", **form}


def post(client: TestClient, data: bytes, *, filename: str = "digits.zip", **form: str) -> Any:
    """The upload's own answer, for what the API refuses at once."""
    return client.post("/v1/datasets", files={"file": (filename, data)}, data=fields(form))


def upload(client: TestClient, data: bytes, *, filename: str = "digits.zip", **form: str) -> dict[str, Any]:
    """Uploaded and ingested: the dataset as GET shows it, ready or failed."""
    return ingest.upload(client, {"file": (filename, data)}, fields(form))


def stored_datasets(data_dir: Path) -> list[Path]:
    root = data_dir / "blobs" / "datasets"
    return sorted(root.iterdir()) if root.exists() else []


def leftover_staging(data_dir: Path) -> list[Path]:
    staging = data_dir / "blobs" / ".staging"
    return list(staging.iterdir()) if staging.exists() else []


def test_upload_zip_decodes_every_image_once(client: TestClient, service_env: dict[str, str]) -> None:
    body = upload(client, digits_zip(60))
    assert body["name"] == "digits" and body["modality"] == "image" and body["status"] == "ready"
    assert body["num_items"] == 60 and body["image_size"] == 24 and body["size_bytes"] > 60 * 24 * 24 * 3
    assert body["id"].startswith("ds_") and body["created_at"]
    [folder] = stored_datasets(Path(service_env["SELFSUP_DATA_DIR"]))
    array = np.load(folder / "images.npy")
    assert array.shape == (60, 24, 24, 3) and array.dtype == np.uint8 and array.max() > 0


def test_upload_tar_gz_with_nested_folders(client: TestClient) -> None:
    files = [(f"a/b/c/{name}", data) for name, data in digit_pngs(10)]
    dataset = upload(client, tar_bytes(files), filename="nested.tar.gz")
    assert dataset["status"] == "ready" and dataset["num_items"] == 10


def test_default_image_size_comes_from_settings(client: TestClient) -> None:
    dataset = ingest.upload_ready(client, {"file": ("d.zip", digits_zip(4))}, {"name": "d"})
    assert dataset["image_size"] == 64


@pytest.mark.parametrize(
    ("files", "filename", "expected"),
    [
        (None, "not-an-archive.zip", "not-an-archive.zip: not a .zip, .tar or .tar.gz archive"),
        ([("x/notes.txt", b"hello")], "mixed.zip", "'x/notes.txt' is not an image file"),
        ([("bad.png", b"\x89PNG\r\n\x1a\n garbage")], "corrupt.zip", "bad.png: not a readable image"),
        ([("empty.jpg", b"")], "empty.zip", "empty.jpg: empty file"),
        (
            [("fake.webp", b"plain text, not an image")],
            "fake.zip",
            "fake.webp: not a recognized image format",
        ),
        ([], "nothing.zip", "the archive contains no images"),
        ([("../escape.png", b"x")], "evil.zip", "points outside the archive"),
    ],
)
def test_bad_uploads_are_refused_naming_the_file(
    client: TestClient,
    service_env: dict[str, str],
    files: list[tuple[str, bytes]] | None,
    filename: str,
    expected: str,
) -> None:
    good = upload(client, digits_zip(5))
    assert good["status"] == "ready"
    payload = b"just some text" if files is None else zip_bytes(digit_pngs(3) + files if files else [])
    failed = upload(client, payload, filename=filename)
    assert failed["status"] == "failed" and failed["num_items"] == 0, failed
    assert expected in failed["error"]
    data_dir = Path(service_env["SELFSUP_DATA_DIR"])
    assert len(stored_datasets(data_dir)) == 1, "the earlier dataset must be untouched and nothing new stored"
    assert leftover_staging(data_dir) == []
    assert not (data_dir / "blobs" / "uploads").exists() or not list((data_dir / "blobs" / "uploads").iterdir())
    assert client.get("/v1/datasets").json()["total"] == 2, "the failed dataset stays, to show why"


def test_truncated_image_is_refused(client: TestClient) -> None:
    name, data = digit_pngs(1)[0]
    failed = upload(client, zip_bytes([(name, data[: len(data) // 2])]))
    assert failed["status"] == "failed" and name in failed["error"]


@pytest.mark.parametrize("form", [{"image_size": "4"}, {"image_size": "abc"}, {"name": ""}, {"modality": "video"}])
def test_bad_form_fields_are_422(client: TestClient, form: dict[str, str]) -> None:
    assert post(client, digits_zip(3), **form).status_code == 422


def test_missing_file_is_422(client: TestClient) -> None:
    response = client.post("/v1/datasets", data={"name": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]


def test_list_paginates_newest_first(client: TestClient) -> None:
    ids = [upload(client, digits_zip(3), name=f"set{i}")["id"] for i in range(3)]
    first = client.get("/v1/datasets", params={"limit": 2}).json()
    assert first["total"] == 3 and first["limit"] == 2 and first["offset"] == 0
    assert [d["id"] for d in first["items"]] == ids[::-1][:2]
    second = client.get("/v1/datasets", params={"limit": 2, "offset": 2}).json()
    assert [d["id"] for d in second["items"]] == [ids[0]]
    assert client.get("/v1/datasets", params={"limit": 0}).status_code == 422
    assert client.get("/v1/datasets", params={"limit": 1000}).status_code == 422
    assert client.get("/v1/datasets", params={"offset": -1}).status_code == 422


def test_get_and_delete(client: TestClient, service_env: dict[str, str]) -> None:
    dataset = upload(client, digits_zip(3))
    assert client.get(f"/v1/datasets/{dataset['id']}").json() == dataset
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert stored_datasets(Path(service_env["SELFSUP_DATA_DIR"])) == []


def test_delete_is_refused_while_a_job_uses_the_dataset(client: TestClient) -> None:
    dataset = upload(client, digits_zip(8))
    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "method": "simclr"}).json()
    response = client.delete(f"/v1/datasets/{dataset['id']}")
    assert response.status_code == 409 and "cancel" in response.json()["detail"]
    client.post(f"/v1/jobs/{job['id']}/cancel")
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{job['id']}").json()["dataset_id"] is None


def test_class_folders_become_labels(client: TestClient, service_env: dict[str, str]) -> None:
    body = upload(client, digits_zip(60))
    assert body["labels"]["source"] == "folders" and body["labels"]["num_labeled"] == 60
    assert body["labels"]["classes"] == [str(d) for d in range(10)]
    [folder] = stored_datasets(Path(service_env["SELFSUP_DATA_DIR"]))
    names = json.loads((folder / "files.json").read_text())
    labels = np.load(folder / "labels.npy")
    assert [body["labels"]["classes"][i] for i in labels] == [name.split("/")[0] for name in names]


def test_a_single_folder_is_not_a_label(client: TestClient) -> None:
    files = [(f"photos/{name.replace('/', '_')}", data) for name, data in digit_pngs(6)]
    assert upload(client, zip_bytes(files))["labels"] is None


def test_labels_csv_maps_file_names_to_labels(client: TestClient, service_env: dict[str, str]) -> None:
    flat = [(name.split("/")[1], data) for name, data in digit_pngs(12)]
    csv_text = "file,label\n" + "".join(
        f"{name},{'odd' if i % 2 else 'even'}\n" for i, (name, _) in enumerate(flat[:10])
    )
    body = upload(client, zip_bytes([*flat, ("labels.csv", csv_text.encode())]))
    assert body["num_items"] == 12, "labels.csv is not an image"
    assert body["labels"] == {
        "source": "labels.csv",
        "num_labeled": 10,
        "classes": ["even", "odd"],
        "usable_for_evaluation": True,
        "note": None,
    }
    [folder] = stored_datasets(Path(service_env["SELFSUP_DATA_DIR"]))
    assert np.load(folder / "labels.npy").tolist() == [0, 1] * 5 + [-1, -1]


@pytest.mark.parametrize(
    ("labeled", "classes", "note"),
    [(12, ["digit"], "only one class ('digit'): kNN and linear probes need two or more"), (4, ["a", "b"], "only 4")],
)
def test_labels_that_cannot_score_an_encoder_say_so_and_are_not_kept(
    client: TestClient, service_env: dict[str, str], labeled: int, classes: list[str], note: str
) -> None:
    flat = [(name.split("/")[1], data) for name, data in digit_pngs(12)]
    rows = [f"{name},{classes[i % len(classes)]}\n" for i, (name, _) in enumerate(flat[:labeled])]
    body = upload(client, zip_bytes([*flat, ("labels.csv", ("file,label\n" + "".join(rows)).encode())]))
    assert body["labels"]["usable_for_evaluation"] is False and note in body["labels"]["note"], body["labels"]
    [folder] = stored_datasets(Path(service_env["SELFSUP_DATA_DIR"]))
    assert not (folder / "labels.npy").exists(), "the worker finds no labels to probe with"


def test_a_job_on_single_class_labels_runs_no_probes(client: TestClient) -> None:
    flat = [(name.split("/")[1], data) for name, data in digit_pngs(24)]
    rows = "".join(f"{name},digit\n" for name, _ in flat)
    dataset = upload(client, zip_bytes([*flat, ("labels.csv", f"file,label\n{rows}".encode())]))
    params = {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 8}
    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "method": "simclr", "params": params}).json()
    assert run_job(job["id"], settings=get_settings(), worker_name="test") == "succeeded"
    model_id = client.get(f"/v1/jobs/{job['id']}").json()["model_id"]
    evaluation = client.get(f"/v1/models/{model_id}").json()["evaluation"]
    assert "rankme" in evaluation and not [key for key in evaluation if "knn" in key or "probe" in key], evaluation


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        ("name,label\nx.png,a\n", "header must name a file column"),
        ("file,label\nmissing.png,a\n", "labels.csv line 2: no image named 'missing.png'"),
        ("file,label\ndigit_0000.png\n", "labels.csv line 2: expected a file name and a label"),
    ],
)
def test_bad_labels_csv_is_refused(client: TestClient, csv_text: str, expected: str) -> None:
    flat = [(name.split("/")[1], data) for name, data in digit_pngs(2)]
    failed = upload(client, zip_bytes([*flat, ("labels.csv", csv_text.encode())]))
    assert failed["status"] == "failed" and expected in failed["error"]


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("table.csv", b"a,b\n1,2\n", "modality=tabular"),
        ("docs.jsonl", b'{"text": "hi"}\n', "modality=text"),
        ("upload", b'{"text": "hi"}\n', "looks like a JSONL file"),  # no suffix: the first bytes tell
        ("export", b"x,y,label\n1,2,a\n", "looks like a CSV file"),
    ],
)
def test_a_table_or_documents_sent_as_images_suggests_the_modality(
    client: TestClient, filename: str, data: bytes, expected: str
) -> None:
    response = post(client, data, filename=filename)
    assert response.status_code == 422, response.text
    assert expected in response.text and "takes a .zip, .tar or .tar.gz archive" in response.text
    assert client.get("/v1/datasets").json()["total"] == 0, "nothing is recorded"
