"""Jobs with a time budget over HTTP: ``max_minutes`` instead of ``epochs`` (not both), and the epochs the
worker's run planned, shown in the job's progress once it has timed its first steps."""

from fastapi.testclient import TestClient

from app.core.config import get_settings
from tests.support.jobs import upload_digits
from worker.training import run_job

BUDGET = {"backbone": "tiny_cnn", "batch_size": 16, "max_minutes": 0.05}  # 3 s: a few steps on any host


def test_a_budget_job_shows_its_budget_then_the_epochs_it_planned(client: TestClient) -> None:
    dataset = upload_digits(client, 32)
    submitted = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "method": "simclr", "params": BUDGET})
    assert submitted.status_code == 202, submitted.text
    progress = submitted.json()["progress"]
    assert (progress["max_minutes"], progress["planned_epochs"], progress["epochs"]) == (0.05, None, 0)
    assert run_job(submitted.json()["id"], settings=get_settings(), worker_name="test") == "succeeded"
    job = client.get(f"/v1/jobs/{submitted.json()['id']}").json()
    progress = job["progress"]
    assert progress["planned_epochs"] == progress["epochs"] == progress["epoch"] >= 1, progress
    assert progress["step"] == progress["total_steps"] > 5, "the warm-up and timed steps come before the plan"
    assert job["params"]["max_minutes"] == 0.05 and job["model_id"]


def test_epochs_and_max_minutes_together_are_a_422_naming_both(client: TestClient) -> None:
    dataset = upload_digits(client, 8)
    body = {"dataset_id": dataset["id"], "method": "simclr", "params": {**BUDGET, "epochs": 3}}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    locs = [error["loc"] for error in response.json()["detail"]]
    assert locs == [["body", "params", "epochs"], ["body", "params", "max_minutes"]]
    epochs_job = client.post(
        "/v1/jobs", json={"dataset_id": dataset["id"], "method": "simclr", "params": {"epochs": 3}}
    )
    assert epochs_job.json()["progress"]["planned_epochs"] == 3 and epochs_job.json()["progress"]["max_minutes"] is None
