"""A run's data-quality report, map and selections over HTTP on PostgreSQL, the worker's own code run
in-process: planted duplicates are found, selections are deterministic and respect what is excluded, and
another tenant reaches none of it."""

import pytest
from fastapi.testclient import TestClient

from tests.conftest import new_key
from tests.support import ingest
from tests.support.embedding_runs import run_to_the_end
from tests.support.images import digit_pngs, zip_bytes
from tests.support.jobs import TINY_SIMCLR, run_through_worker

DUPLICATED = 3  # the digit whose file is uploaded twice, under two names


@pytest.fixture
def run(client: TestClient) -> dict[str, object]:
    """A finished run over 64 labeled digits plus a byte-identical copy of one of them (65 items)."""
    files = digit_pngs(64)
    name, png = files[DUPLICATED]
    archive = zip_bytes([*files, (name.replace(".png", "_copy.png"), png)])
    dataset = ingest.upload_ready(client, {"file": ("d.zip", archive)}, {"name": "d", "image_size": "16"})
    model_id = run_through_worker(client, dataset["id"], "simclr", TINY_SIMCLR)["model_id"]
    return run_to_the_end(client, model_id, dataset["id"])


def copies_of(client: TestClient, run: dict[str, object]) -> list[int]:
    """The item indices of the uploaded file and its copy (the dataset orders items by file name)."""
    pngs = [client.get(f"/v1/datasets/{run['dataset_id']}/items/{i}").content for i in range(65)]
    original = pngs[next(i for i, png in enumerate(pngs) if pngs.count(png) > 1)]
    return [i for i, png in enumerate(pngs) if png == original]


def test_the_quality_report_finds_the_planted_duplicate(client: TestClient, run: dict[str, object]) -> None:
    report = client.get(f"/v1/embedding-runs/{run['id']}/quality", params={"outliers": 5})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["num_items"] == 65
    planted = copies_of(client, run)
    assert planted in body["exact_duplicates"]["groups"]
    assert body["exact_duplicates"]["num_items"] >= 2
    near = body["near_duplicates"]
    assert near["threshold"] == 0.95 and any(set(planted) <= set(group) for group in near["groups"])
    assert len(body["outliers"]) == 5 and not {o["index"] for o in body["outliers"]} & set(planted)
    densities = [o["density"] for o in body["outliers"]]
    assert densities == sorted(densities)
    assert isinstance(body["label_disagreements"], list)  # the digits are labeled by their folders
    for item in body["label_disagreements"]:
        assert item["label"] != item["suggested"] and 0.6 <= item["agreement"] <= 1


def test_the_report_bounds_its_parameters(client: TestClient, run: dict[str, object]) -> None:
    quality = f"/v1/embedding-runs/{run['id']}/quality"
    assert client.get(quality, params={"near_duplicate_threshold": 1.5}).status_code == 422
    assert client.get(quality, params={"outliers": 100_000}).status_code == 422


def test_the_map_places_every_item(client: TestClient, run: dict[str, object]) -> None:
    drawn = client.get(f"/v1/embedding-runs/{run['id']}/map")
    assert drawn.status_code == 200, drawn.text
    body = drawn.json()
    assert body["method"] == "tsne" and [p["index"] for p in body["points"]] == list(range(65))
    assert all(-1 <= p["x"] <= 1 and -1 <= p["y"] <= 1 for p in body["points"])
    assert {p["label"] for p in body["points"]} <= {str(d) for d in range(10)}


@pytest.mark.parametrize("strategy", ["diversity", "typicality", "random"])
def test_selections_are_deterministic_and_skip_what_is_excluded(
    client: TestClient, run: dict[str, object], strategy: str
) -> None:
    ask = {"embedding_run_id": run["id"], "budget": 8, "strategy": strategy, "seed": 3, "exclude": [0, 1, 2]}
    first, again = client.post("/v1/selections", json=ask), client.post("/v1/selections", json=ask)
    assert first.status_code == 200, first.text
    chosen = first.json()["indices"]
    assert chosen == again.json()["indices"] and len(set(chosen)) == 8
    assert not set(chosen) & {0, 1, 2} and all(0 <= i < 65 for i in chosen)
    other_seed = client.post("/v1/selections", json={**ask, "seed": 4}).json()["indices"]
    assert len(other_seed) == 8


def test_selections_name_what_cannot_be_done(client: TestClient, run: dict[str, object]) -> None:
    ask = {"embedding_run_id": run["id"], "budget": 8}
    too_many = client.post("/v1/selections", json={**ask, "budget": 63, "exclude": [0, 1, 2]})
    assert too_many.status_code == 422 and "62 items that may be chosen" in too_many.text
    out_of_range = client.post("/v1/selections", json={**ask, "exclude": [4, 65]})
    assert out_of_range.status_code == 422 and out_of_range.json()["detail"][0]["loc"] == ["body", "exclude", 1]
    labeled = client.post("/v1/selections", json={**ask, "budget": 1, "exclude_labeled": True})
    assert labeled.status_code == 422 and "0 items that may be chosen" in labeled.text  # every digit is labeled
    unknown = client.post("/v1/selections", json={**ask, "strategy": "entropy"})
    assert unknown.status_code == 422 and "diversity" in unknown.text


def test_another_tenant_reaches_no_report_map_or_selection(client: TestClient, run: dict[str, object]) -> None:
    other = {"Authorization": f"Bearer {new_key('globex')}"}
    for response in (
        client.get(f"/v1/embedding-runs/{run['id']}/quality", headers=other),
        client.get(f"/v1/embedding-runs/{run['id']}/map", headers=other),
        client.post("/v1/selections", json={"embedding_run_id": run["id"], "budget": 2}, headers=other),
    ):
        assert response.status_code == 404 and "embedding run" in response.text
