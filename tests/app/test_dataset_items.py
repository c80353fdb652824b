"""Dataset items by index over HTTP, for each modality: what was stored, in the form a person reads, the range
named when an index is outside it, and other tenants' datasets as missing."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import new_key
from tests.support import ingest
from tests.support.images import digit_pngs, digits_zip, zip_bytes
from tests.support.pairs import captions_jsonl, digit_pairs

TABLE = b"age,city,member,label\n30,paris,true,a\n41.5,berlin,false,b\n,paris,true,a\n52,rome,,b\n19,berlin,false,a\n"


def upload(client: TestClient, filename: str, data: bytes, **form: str) -> dict:
    return ingest.upload_ready(client, {"file": (filename, data)}, {"name": "d", **form})


def item(client: TestClient, dataset_id: str, index: int, **params: str) -> object:
    return client.get(f"/v1/datasets/{dataset_id}/items/{index}", params=params)


def test_an_image_item_is_its_stored_png(client: TestClient, service_env: dict[str, str]) -> None:
    dataset = upload(client, "d.zip", digits_zip(12), image_size="16")
    response = item(client, dataset["id"], 5)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    shown = np.asarray(Image.open(io.BytesIO(response.content)))
    stored = np.load(Path(service_env["SELFSUP_DATA_DIR"]) / "blobs" / "datasets" / dataset["id"] / "images.npy")
    np.testing.assert_array_equal(shown, stored[5])  # PNG is lossless: exactly the canonical pixels

    missing = item(client, dataset["id"], 12)
    assert missing.status_code == 404 and "items 0 to 11" in missing.json()["detail"]
    assert item(client, dataset["id"], -1).status_code == 404


def test_an_image_text_item_is_its_image_or_its_captions(client: TestClient) -> None:
    pairs = digit_pairs(10)
    archive = zip_bytes([*digit_pngs(10), ("captions.jsonl", captions_jsonl(pairs.captions))])
    dataset = upload(client, "p.zip", archive, modality="image_text", image_size="16", vocab_size="200")
    image = item(client, dataset["id"], 3)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    captions = item(client, dataset["id"], 3, part="caption").json()
    assert captions["index"] == 3 and captions["captions"]
    assert all(text in [t for _, t in pairs.captions] for text in captions["captions"])
    assert item(client, dataset["id"], 3, part="sound").status_code == 422


def test_a_text_item_is_its_text_and_label(client: TestClient) -> None:
    lines = [json.dumps({"text": f"document number {i}", "label": "even" if i % 2 == 0 else "odd"}) for i in range(8)]
    dataset = upload(client, "t.jsonl", "\n".join(lines).encode(), modality="text", vocab_size="100")
    assert item(client, dataset["id"], 3).json() == {"index": 3, "text": "document number 3", "label": "odd"}
    assert item(client, dataset["id"], 8).status_code == 404


def test_a_table_item_is_its_row_in_original_units_and_category_names(client: TestClient) -> None:
    dataset = upload(client, "t.csv", TABLE, modality="tabular", label_column="label")
    second = item(client, dataset["id"], 1).json()
    assert second["index"] == 1 and second["label"] == "b"
    assert second["row"]["age"] == pytest.approx(41.5, rel=1e-5)
    assert second["row"]["city"] == "berlin" and second["row"]["member"] is False
    third = item(client, dataset["id"], 2).json()["row"]
    assert third["age"] == pytest.approx(np.mean([30, 41.5, 52, 19]), rel=1e-5)  # imputed: the mean
    assert item(client, dataset["id"], 3).json()["row"]["member"] is None  # missing stays missing


def test_another_tenants_dataset_is_missing(client: TestClient, anonymous: TestClient) -> None:
    dataset = upload(client, "d.zip", digits_zip(4), image_size="16")
    other = {"Authorization": f"Bearer {new_key('globex')}"}
    theirs = anonymous.get(f"/v1/datasets/{dataset['id']}/items/0", headers=other)
    nobody = anonymous.get("/v1/datasets/ds_missing/items/0", headers=other)
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json()["detail"].replace(dataset["id"], "X") == nobody.json()["detail"].replace("ds_missing", "X")
