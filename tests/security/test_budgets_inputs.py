"""Budgets on what one request may make the API prepare: images relative to the model, pixels per request and
in flight, text cut before tokenizing, token ids counted before validation, validation errors bounded. These
run in process, on models trained through the real worker code."""

import base64

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import new_key, reset_service_caches
from tests.support import ingest
from tests.support.jobs import train_image_model


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1] * 100_000, "'input' holds 100000 token ids; at most 8192"),
        ([[1], [2] * 9000], "'input' item 1 holds 9000 token ids; at most 8192"),
        (["a"] * 300_000, "'input' holds 300000 inputs; at most 256"),
    ],
    ids=["flat", "nested", "strings"],
)
def test_token_ids_are_counted_before_the_openai_input_union_is_tried(
    anonymous: TestClient, value: list, message: str
) -> None:
    # 12 million ids held the event loop 23 s: pydantic tried four shapes, collecting an error per id each time.
    key = new_key(scopes=("read",))
    body = {"model": "m", "input": value}
    response = anonymous.post("/v1/embeddings", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400 and message in response.json()["error"]["message"], response.text[:500]
    assert response.json()["error"]["param"] == "input"


def test_a_422_shows_the_first_errors_of_many_each_quoted_briefly() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from app.core.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/numbers")
    def numbers(values: list[int]) -> int:  # no cap: every bad item is an error of its own
        return len(values)

    response = TestClient(app).post("/numbers", json=["x" * 100_000] * 1000)
    assert response.status_code == 422 and len(response.content) < 16 * 1024, len(response.content)
    detail = response.json()["detail"]
    assert len(detail) == 21 and detail[-1]["msg"] == "and 980 more errors like these"  # the first 20, then a count
    assert detail[0]["loc"] == ["body", 0] and "(100000 long)" in detail[0]["input"]


def _png_data_url(side: int) -> str:
    from PIL import Image

    from tests.support.images import png_bytes

    return "data:image/png;base64," + base64.b64encode(png_bytes(Image.new("RGB", (side, side), "white"))).decode()


@pytest.fixture
def image_model(client: TestClient) -> str:
    return train_image_model(client)  # reads 16 px images


def test_an_image_far_larger_than_the_model_reads_is_refused_before_it_is_decoded(
    client: TestClient, image_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFSUP_EMBED_IMAGE_SCALE", "4")  # 16 px model: at most 64x64 pixels
    reset_service_caches()
    with TestClient(create_app(), headers=dict(client.headers)) as scaled:
        ok = scaled.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(64)]})
        big = scaled.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(64), _png_data_url(65)]})
        openai_big = scaled.post("/v1/embeddings", json={"model": image_model, "input": [_png_data_url(65)]})
    assert ok.status_code == 200, ok.text
    assert big.status_code == 422, big.text
    [error] = big.json()["detail"]
    assert error["loc"] == ["body", "inputs", 1] and "65x65" in error["msg"] and "limit of 4096 pixels" in error["msg"]
    assert openai_big.status_code == 400 and openai_big.json()["error"]["param"] == "input", openai_big.text


def test_a_request_over_its_pixel_budget_is_413_naming_the_limit(
    client: TestClient, image_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFSUP_EMBED_MAX_REQUEST_PIXELS", str(3 * 64 * 64))
    reset_service_caches()
    with TestClient(create_app(), headers=dict(client.headers)) as budgeted:
        three = budgeted.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(64)] * 3})
        four = budgeted.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(64)] * 4})
    assert three.status_code == 200, three.text
    assert four.status_code == 413 and "16384 pixels in all, over the limit of 12288" in four.text, four.text


def test_images_past_what_the_api_may_decode_at_once_get_503_with_retry_after(
    client: TestClient, image_model: str
) -> None:
    decoding = client.app.state.encoder_cache.images.decoding  # type: ignore[attr-defined]
    with decoding.reserve(decoding.limit):  # as if other requests were decoding all the API may
        refused = client.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(16)]})
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1", refused.text
    assert "pixels being decoded" in refused.json()["detail"]
    assert decoding.in_progress == 0
    assert client.post(f"/v1/models/{image_model}/embed", json={"inputs": [_png_data_url(16)]}).status_code == 200


def test_a_huge_text_is_cut_before_it_is_tokenized(client: TestClient) -> None:
    from app.embeddings.service import EncoderCache
    from tests.support.jobs import run_through_worker
    from tests.support.text import docstring_corpus

    documents = docstring_corpus()[0][:120]
    lines = "\n".join(d.replace("\n", " ") for d in documents).encode()
    dataset = ingest.upload_ready(
        client, {"file": ("docs.txt", lines)}, {"name": "t", "modality": "text", "max_length": "16"}
    )
    model_id = run_through_worker(
        client, dataset["id"], "simcse", {"preset": "tiny", "epochs": 1, "batch_size": 32, "max_length": 16}
    )["model_id"]
    huge = "the quick brown fox jumps over the lazy dog " * 300_000  # 13 MB
    response = client.post(f"/v1/models/{model_id}/embed", json={"texts": [huge]})
    assert response.status_code == 200, response.text
    cache: EncoderCache = client.app.state.encoder_cache  # type: ignore[attr-defined]
    [served] = [entry for key, entry in cache._entries.items() if key == model_id]
    preprocessor = served.encoder.text_preprocessor
    assert preprocessor.max_chars == preprocessor.max_length * 101  # what the tokenizer is handed at most
    same = client.post(f"/v1/models/{model_id}/embed", json={"texts": [huge[: preprocessor.max_chars]]})
    assert response.json()["embeddings"] == same.json()["embeddings"]
