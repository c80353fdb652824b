"""The native embedding route on a model trained in-process: inputs, order, determinism and every refusal."""

import base64
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.support.images import digit_pngs
from tests.support.jobs import train_image_model


@pytest.fixture
def model_id(client: TestClient) -> str:
    return train_image_model(client)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def embed(client: TestClient, model_id: str, inputs: list[Any]) -> Any:
    return client.post(f"/v1/models/{model_id}/embed", json={"inputs": inputs})


def test_base64_and_data_urls_embed_alike_in_input_order(client: TestClient, model_id: str) -> None:
    images = [data for _, data in digit_pngs(4)]
    plain = embed(client, model_id, [b64(i) for i in images]).json()
    urls = embed(client, model_id, [f"data:image/png;base64,{b64(i)}" for i in images]).json()
    assert plain == urls and plain["model"] == model_id and plain["dim"] == 128
    vectors = np.array(plain["embeddings"])
    assert vectors.shape == (4, 128)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    reversed_order = np.array(embed(client, model_id, [b64(i) for i in images[::-1]]).json()["embeddings"])
    np.testing.assert_allclose(reversed_order, vectors[::-1], atol=1e-6)


@pytest.mark.parametrize(
    ("inputs", "loc", "message"),
    [
        (["not base64!"], ["body", "inputs", 0], "base64"),
        ([b64(digit_pngs(1)[0][1]), b64(b"hi, no image")], ["body", "inputs", 1], "not a recognized image format"),
        ([], ["body", "inputs"], "at least 1"),
        ([b64(b"x")] * 257, ["body", "inputs"], "at most 256"),
        ([5], ["body", "inputs", 0], "string"),
    ],
)
def test_bad_inputs_are_422_naming_the_item(
    client: TestClient, model_id: str, inputs: list[Any], loc: list[Any], message: str
) -> None:
    response = embed(client, model_id, inputs)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc and message in error["msg"]


def test_multipart_needs_files_and_other_content_types_are_refused(client: TestClient, model_id: str) -> None:
    no_files = client.post(f"/v1/models/{model_id}/embed", files={"other": ("a.txt", b"x")})
    assert no_files.status_code == 422 and no_files.json()["detail"][0]["loc"] == ["body", "files"]
    text = client.post(f"/v1/models/{model_id}/embed", content=b"hi", headers={"content-type": "text/plain"})
    assert text.status_code == 422
    broken = client.post(f"/v1/models/{model_id}/embed", content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 422
