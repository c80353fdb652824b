"""Image jobs that continue from a pretrained model the operator installed: one trained through the worker code
and served once the folder is gone, and every bad name or spoiled folder refused at submit (a 422 naming the
problem, no job stored) or, when spoiled after submit, a failed job that says why."""

import base64
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from selfsup.pretrained_backbones import CONFIG_FILE, WEIGHTS_FILE
from tests.support.images import digit_pngs
from tests.support.jobs import run_through_worker, upload_digits
from tests.support.pretrained import install_timm_model
from worker.training import run_job

TINY = {"backbone": "resnet18", "epochs": 1, "batch_size": 32, "lr": 3e-4}


def installed(name: str = "r18") -> Path:
    folder = get_settings().pretrained_dir / name
    install_timm_model(folder, "resnet18", config={"architecture": "resnet18", "pretrained_cfg": {"std": [0.25] * 3}})
    return folder


def submit(client: TestClient, dataset_id: str, pretrained: str, **params: object) -> dict:
    body = {"dataset_id": dataset_id, "method": "simclr", "params": {**TINY, **params, "pretrained": pretrained}}
    response = client.post("/v1/jobs", json=body)
    return {"http": response.status_code, **response.json()}


def test_an_image_job_continues_from_an_installed_model_and_serves_without_it(client: TestClient) -> None:
    folder = installed()
    dataset = upload_digits(client)
    job = run_through_worker(client, dataset["id"], "simclr", {**TINY, "pretrained": "r18"})
    assert job["params"]["pretrained"] == "r18", "the job keeps the name, never a path"
    shutil.rmtree(folder)  # the model holds every weight

    model_id = job["model_id"]
    pngs = [base64.b64encode(data).decode() for _, data in digit_pngs(3)]
    response = client.post(f"/v1/models/{model_id}/embed", json={"inputs": pngs})
    assert response.status_code == 200, response.text
    assert response.json()["dim"] == 512 and client.get(f"/v1/models/{model_id}").json()["backbone"] == "resnet18"
    archive = client.get(f"/v1/models/{model_id}/export", params={"format": "safetensors"})
    assert archive.status_code == 200, archive.text
    card = json.loads(zipfile.ZipFile(io.BytesIO(archive.content)).read("card.json"))
    assert card["backbone"]["pretrained"] == "r18" and card["backbone"]["std"] == [0.25] * 3  # where it started


def _config(raw: str) -> Callable[[Path], None]:
    return lambda folder: (folder / CONFIG_FILE).write_text(raw)


SPOILED: dict[str, tuple[Callable[[Path], None], str]] = {
    "unknown architecture": (_config('{"architecture": "convnext_tiny"}'), "names architecture 'convnext_tiny'"),
    "another architecture": (_config('{"architecture": "vit_tiny_patch16_224"}'), "set backbone to 'vit_tiny'"),
    "corrupt weights": (lambda f: (f / WEIGHTS_FILE).write_bytes(b"\xff" * 100), "not a readable safetensors"),
    "no weights": (lambda f: (f / WEIGHTS_FILE).unlink(), "has no model.safetensors"),
}


@pytest.mark.parametrize("name", ["../pretrained/r18", "/tmp/r18", "..", "r18/", "missing"])
def test_only_names_of_installed_models_are_accepted(client: TestClient, name: str) -> None:
    installed()
    answer = submit(client, upload_digits(client, 8)["id"], name)
    assert answer["http"] == 422 and answer["detail"][0]["loc"] == ["body", "params", "pretrained"], answer
    assert client.get("/v1/jobs").json()["total"] == 0


@pytest.mark.parametrize("case", sorted(SPOILED))
def test_a_spoiled_folder_is_refused_at_submit_naming_its_problem(client: TestClient, case: str) -> None:
    spoil, problem = SPOILED[case]
    spoil(installed())
    answer = submit(client, upload_digits(client, 8)["id"], "r18")
    assert answer["http"] == 422, answer
    assert answer["detail"][0]["loc"] == ["body", "params", "pretrained"]
    assert problem in answer["detail"][0]["msg"] and "pretrained model 'r18'" in answer["detail"][0]["msg"]
    assert str(get_settings().data_dir) not in json.dumps(answer), "no host path in the answer"
    assert client.get("/v1/jobs").json()["total"] == 0


def test_weights_spoiled_after_submit_fail_the_job_saying_why(client: TestClient) -> None:
    folder = installed()
    job = submit(client, upload_digits(client, 8)["id"], "r18")
    assert job["http"] == 202, job
    (folder / WEIGHTS_FILE).write_bytes(b"torn")
    assert run_job(job["id"], settings=get_settings(), worker_name="test") == "failed"
    failed = client.get(f"/v1/jobs/{job['id']}").json()
    assert "pretrained model 'r18'" in failed["error"] and "model.safetensors" in failed["error"]
    assert failed["model_id"] is None and client.get("/v1/models").json()["total"] == 0
