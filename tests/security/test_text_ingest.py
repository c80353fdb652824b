"""Hostile text uploads: lines and words far past what training reads, and JSON that spells invalid Unicode.
Each fails its dataset with a clear message and stores nothing, or is ingested at the cost of what training reads."""

import pytest
from fastapi.testclient import TestClient

from tests.support import ingest


def upload(client: TestClient, data: bytes, filename: str, **form: str) -> dict:
    """Uploaded and ingested: the dataset as GET shows it, ready or failed."""
    fields = {"name": "hostile", "modality": "text", "vocab_size": "200", "max_length": "32", **form}
    return ingest.upload(client, {"file": (filename, data)}, fields)


def ready_datasets(client: TestClient) -> int:
    return sum(d["status"] == "ready" for d in client.get("/v1/datasets").json()["items"])


def test_a_line_past_the_document_limit_fails_naming_it_and_nothing_is_stored(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import reset_service_caches

    monkeypatch.setenv("SELFSUP_MAX_DOCUMENT_BYTES", "2048")
    reset_service_caches()
    data = b"a short line\n" + b"word " * 1000 + b"\nanother line\n"
    failed = upload(client, data, "long.txt")
    assert failed["status"] == "failed", failed
    assert failed["error"] == "long.txt, line 2: longer than 2048 bytes, the limit for one line"
    assert ready_datasets(client) == 0


def test_a_word_of_a_mebibyte_is_ingested_as_one_unknown_token(client: TestClient) -> None:
    """It used to stall tokenizer training for good; now it is cut to what max_length tokens can reach."""
    lines = [b"the cat sat on the mat", b"a dog ran in the park", b"x" * 2**20, b"the end of the file"]
    body = upload(client, b"\n".join(lines), "word.txt")
    assert body["status"] == "ready", body["error"]
    assert body["num_items"] == 4 and body["details"]["max_length"] <= 32
    assert body["details"]["vocab_size"] <= 200  # the trainer saw words of at most MAX_WORD_CHARS


@pytest.mark.parametrize("field", ["text", "label"])
def test_json_spelling_a_lone_surrogate_fails_and_nothing_is_stored(client: TestClient, field: str) -> None:
    """JSON can write half a UTF-16 pair on its own; no UTF-8 tokenizer can take it (it was a 500)."""
    item = b'{"text": "fine", "label": "a"}\n' + (
        b'{"text": "bad \\ud83d", "label": "b"}' if field == "text" else b'{"text": "ok", "label": "\\udfff"}'
    )
    failed = upload(client, item, "bad.jsonl")
    assert failed["status"] == "failed", failed
    assert f"bad.jsonl, line 2: '{field}' holds a lone surrogate" in failed["error"]
    assert ready_datasets(client) == 0
