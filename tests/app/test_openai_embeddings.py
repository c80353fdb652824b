"""POST /v1/embeddings through the official ``openai`` client and raw HTTP, on a model trained in-process."""

import base64
import json
from typing import Any

import numpy as np
import openai
import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.main import create_app
from tests.conftest import new_key, reset_service_caches
from tests.support.images import digit_pngs
from tests.support.jobs import train_image_model

DIM = 128  # tiny_cnn's embedding size


@pytest.fixture
def model_id(client: TestClient) -> str:
    return train_image_model(client)


def data_urls(count: int) -> list[str]:
    return [f"data:image/png;base64,{base64.b64encode(png).decode()}" for _, png in digit_pngs(count)]


def openai_client(client: TestClient, key: str | None = None) -> openai.OpenAI:
    """The official client, talking to the app in-process (a TestClient is an httpx.Client); no retries, so a
    refusal is seen as it was sent."""
    secret = key or client.headers["Authorization"].removeprefix("Bearer ")
    return openai.OpenAI(base_url="http://testserver/v1", api_key=secret, http_client=client, max_retries=0)


def post(client: TestClient, body: Any, **headers: str) -> Any:
    return client.post("/v1/embeddings", json=body, headers=headers)


def native(client: TestClient, model_id: str, inputs: list[str]) -> np.ndarray:
    response = client.post(f"/v1/models/{model_id}/embed", json={"inputs": inputs})
    return np.array(response.json()["embeddings"], dtype=np.float32)


def test_openai_client_gets_the_native_vectors_in_both_encodings(client: TestClient, model_id: str) -> None:
    inputs = data_urls(5)
    expected = native(client, model_id, inputs)
    assert expected.shape == (5, DIM)
    sdk = openai_client(client)
    by_default = sdk.embeddings.with_raw_response.create(model=model_id, input=inputs)
    assert json.loads(by_default.http_request.content)["encoding_format"] == "base64"  # which the client decodes
    for result in (by_default.parse(), sdk.embeddings.create(model=model_id, input=inputs, encoding_format="float")):
        assert result.object == "list" and result.model == model_id
        assert [item.index for item in result.data] == list(range(5))
        assert all(item.object == "embedding" for item in result.data)
        assert result.usage.prompt_tokens == 0 and result.usage.total_tokens == 0
        np.testing.assert_allclose(np.array([item.embedding for item in result.data]), expected, atol=1e-6)


def test_base64_is_little_endian_float32_of_the_float_answer(client: TestClient, model_id: str) -> None:
    inputs = data_urls(3)
    floats = post(client, {"model": model_id, "input": inputs}).json()  # float is the default
    packed = post(client, {"model": model_id, "input": inputs, "encoding_format": "base64"}).json()
    assert set(packed) == {"object", "data", "model", "usage"}
    for as_float, as_base64 in zip(floats["data"], packed["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(as_base64["embedding"]), dtype="<f4")
        np.testing.assert_array_equal(decoded, np.array(as_float["embedding"], dtype=np.float32))


def test_one_string_is_one_input_and_the_models_own_size_is_accepted(client: TestClient, model_id: str) -> None:
    [url] = data_urls(1)
    response = post(client, {"model": model_id, "input": url, "dimensions": DIM, "user": "u-1"})
    assert response.status_code == 200, response.text
    [item] = response.json()["data"]
    np.testing.assert_allclose(item["embedding"], native(client, model_id, [url])[0], atol=1e-6)


def test_an_alias_names_the_model_and_follows_it_when_moved(client: TestClient, model_id: str) -> None:
    second = train_image_model(client, seed=1)
    inputs = data_urls(2)
    sdk = openai_client(client)
    assert client.put(f"/v1/models/{model_id}/alias", json={"alias": "digits-prod"}).status_code == 200
    first_answer = sdk.embeddings.create(model="digits-prod", input=inputs)
    assert first_answer.model == model_id
    np.testing.assert_allclose([d.embedding for d in first_answer.data], native(client, model_id, inputs), atol=1e-6)
    assert client.put(f"/v1/models/{second}/alias", json={"alias": "digits-prod"}).status_code == 200
    moved = sdk.embeddings.create(model="digits-prod", input=inputs)
    assert moved.model == second
    np.testing.assert_allclose([d.embedding for d in moved.data], native(client, second, inputs), atol=1e-6)


def test_another_tenant_can_use_neither_the_alias_nor_the_model(client: TestClient, model_id: str) -> None:
    assert client.put(f"/v1/models/{model_id}/alias", json={"alias": "mine"}).status_code == 200
    outsider = new_key(tenant="globex", scopes=("read",))
    for name in ("mine", model_id):
        response = post(client, {"model": name, "input": data_urls(1)}, Authorization=f"Bearer {outsider}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "model_not_found"
        assert response.json()["error"]["param"] == "model"


def test_errors_come_in_openais_shape(client: TestClient, model_id: str) -> None:
    url = data_urls(1)[0]
    cases: list[tuple[dict[str, str], Any, int, str | None, str | None]] = [
        ({"Authorization": "Bearer ssk_" + "x" * 40}, {"model": model_id, "input": url}, 401, None, "invalid_api_key"),
        ({"Authorization": ""}, {"model": model_id, "input": url}, 401, None, "invalid_api_key"),
        ({}, {"model": "mdl_nope", "input": url}, 404, "model", "model_not_found"),
        ({}, {"model": "no-such-alias", "input": url}, 404, "model", "model_not_found"),
        ({}, {"model": model_id, "input": url, "dimensions": 64}, 400, "dimensions", None),
        ({}, {"model": model_id, "input": [1, 2, 3]}, 400, "input", None),
        ({}, {"model": model_id, "input": ["not base64!"]}, 400, "input", None),
        ({}, {"model": model_id, "input": []}, 400, "input", None),
        ({}, {"model": model_id, "input": ""}, 400, "input", None),
        ({}, {"model": model_id, "input": [url] * 257}, 400, "input", None),
        ({}, {"model": model_id, "input": 5}, 400, "input", None),
        ({}, {"model": model_id, "input": [url, 7]}, 400, "input", None),
        ({}, {"model": model_id, "input": url, "encoding_format": "int8"}, 400, "encoding_format", None),
        ({}, {"model": model_id, "input": url, "dimensions": "128"}, 400, "dimensions", None),
        ({}, {"model": model_id, "input": url, "temperature": 1}, 400, "temperature", None),
        ({}, {"input": url}, 400, "model", None),
        ({}, [url], 400, None, None),
    ]
    for headers, body, status, param, code in cases:
        response = post(client, body, **headers)
        assert response.status_code == status, (body, response.text)
        assert response.json() == {
            "error": {
                "message": response.json()["error"]["message"],
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }, body
        assert response.json()["error"]["message"], body
    assert post(client, {}, Authorization="Bearer nope").headers["WWW-Authenticate"] == "Bearer"


def test_text_sent_to_an_image_model_says_the_model_takes_images(client: TestClient, model_id: str) -> None:
    response = post(client, {"model": model_id, "input": [data_urls(1)[0], "a photo of a cat"]})
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "takes images, not text" in message and "input[1]" in message, message


@pytest.mark.parametrize(
    ("content", "message"),
    [(b'{"model": "m", "input": ', "not valid JSON"), (b'{"model": "m", "input": "a", "dimensions": NaN}', "NaN")],
)
def test_bodies_no_parser_should_take_are_400(client: TestClient, model_id: str, content: bytes, message: str) -> None:
    response = client.post("/v1/embeddings", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert (
        response.json()["error"]["type"] == "invalid_request_error" and message in response.json()["error"]["message"]
    )


def test_the_openai_client_raises_its_matching_exceptions(client: TestClient, model_id: str) -> None:
    url = data_urls(1)[0]
    with pytest.raises(openai.AuthenticationError) as unauthorized:
        openai_client(client, key="ssk_" + "y" * 40).embeddings.create(model=model_id, input=url)
    assert unauthorized.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client(client).embeddings.create(model="unknown", input=url)
    assert missing.value.code == "model_not_found" and missing.value.param == "model"
    with pytest.raises(openai.BadRequestError) as bad:
        openai_client(client).embeddings.create(model=model_id, input=url, dimensions=3)
    assert bad.value.param == "dimensions" and str(DIM) in bad.value.message


def test_a_saturated_server_answers_503_with_retry_after(client: TestClient, model_id: str) -> None:
    gate = client.app.state.encoder_cache.gate  # type: ignore[attr-defined]
    gate.limit = 0  # as if every place were taken by requests in progress
    response = post(client, {"model": model_id, "input": data_urls(1)})
    gate.limit = get_settings().embed_max_requests
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.json()["error"]["type"] == "server_error" and "saturated" in response.json()["error"]["message"]
    assert post(client, {"model": model_id, "input": data_urls(1)}).status_code == 200


def test_a_streamed_body_over_the_limit_is_413_in_openais_shape(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFSUP_MAX_JSON_BYTES", "4096")
    reset_service_caches()
    chunks = iter([b'{"model": "m", "input": "', *[b"a" * 1024] * 8, b'"}'])  # chunked: no Content-Length
    with TestClient(create_app(), headers=dict(client.headers)) as small:
        response = small.post("/v1/embeddings", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["type"] == "invalid_request_error" and "4096" in response.json()["error"]["message"]


def test_a_declared_body_over_the_limit_is_413_in_openais_shape(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFSUP_MAX_JSON_BYTES", "4096")
    reset_service_caches()
    body = json.dumps({"model": "m", "input": "a" * 8192})
    with TestClient(create_app(), headers=dict(client.headers)) as small:
        response = small.post("/v1/embeddings", content=body, headers={"content-type": "application/json"})
        native = small.post("/v1/models/m/embed", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] is None, response.text
    assert "4096" in response.json()["error"]["message"]
    assert native.status_code == 413 and "detail" in native.json()  # the rest of the API keeps FastAPI's shape
