"""A small HTTP client for the end-to-end tests: the same calls a user makes with curl."""

import base64
from collections.abc import Sequence
from typing import Any

import httpx

from tests.support.processes import ServiceProcess, wait_for

TERMINAL = ("succeeded", "failed", "canceled")


class SelfSupClient:
    def __init__(self, base_url: str, key: str, *, servers: Sequence[ServiceProcess] = ()) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {key}"})
        # The processes doing the work: while they burn CPU (a worker importing torch on a loaded machine, say),
        # a wait counts as progressing even before the job moves.
        self.servers = list(servers)

    def upload(self, archive: bytes, *, image_size: int = 16) -> dict[str, Any]:
        return self.upload_file(archive, "digits.zip", image_size=str(image_size))

    def upload_file(self, data: bytes, filename: str, **form: str) -> dict[str, Any]:
        """Upload (answered 202 at once) and wait until a worker has ingested it; the dataset, ready."""
        response = self.http.post("/v1/datasets", files={"file": (filename, data)}, data={"name": filename, **form})
        assert response.status_code == 202, response.text
        dataset = self.wait_for_dataset(response.json()["id"])
        assert dataset["status"] == "ready", dataset["error"]
        return dataset

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        return self.http.get(f"/v1/datasets/{dataset_id}").raise_for_status().json()

    def wait_for_dataset(self, dataset_id: str, *, timeout: float = 120) -> dict[str, Any]:
        """Wait until the dataset is ready or failed, for as long as its ingest (or a worker) makes progress."""

        def progress() -> tuple[Any, ...]:
            dataset = self.dataset(dataset_id)
            return dataset["status"], dataset["progress"], tuple(server.work_done() for server in self.servers)

        dataset = wait_for(
            lambda: (d := self.dataset(dataset_id))["status"] != "processing" and d,
            timeout=timeout,
            what=f"{dataset_id} to be ingested",
            progress=progress,
            interval=0.2,
        )
        return dataset  # type: ignore[return-value]

    def submit(self, dataset_id: str, params: dict[str, Any], *, method: str = "simclr") -> dict[str, Any]:
        response = self.http.post("/v1/jobs", json={"dataset_id": dataset_id, "method": method, "params": params})
        assert response.status_code == 202, response.text
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        return self.http.get(f"/v1/jobs/{job_id}").raise_for_status().json()

    def wait_until(self, job_id: str, *, status: tuple[str, ...] = TERMINAL, timeout: float = 120) -> dict[str, Any]:
        """Wait for the job to reach ``status``, for as long as it keeps making progress; fail if it stalls for
        ``timeout`` seconds (no step, epoch, state or attempt change)."""
        job = wait_for(
            lambda: (j := self.job(job_id))["status"] in status and j,
            timeout=timeout,
            what=f"{job_id} in {status}",
            progress=lambda: self.progress_marker(job_id),
            interval=0.5,
        )
        return job  # type: ignore[return-value]

    def progress_marker(self, job_id: str) -> tuple[Any, ...]:
        """What changes while a job moves (its state, attempt, epoch and step), or while the jobs it may be queued
        behind move."""
        job = self.job(job_id)
        running = self.http.get("/v1/jobs", params={"status": "running"}).raise_for_status().json()["items"]
        others = tuple((j["id"], j["progress"]["step"]) for j in running)
        busy = tuple(server.work_done() for server in self.servers)
        return job["status"], job["attempts"], job["progress"]["epoch"], job["progress"]["step"], others, busy

    def embed_json(self, model_id: str, images: list[bytes]) -> dict[str, Any]:
        inputs = [base64.b64encode(image).decode() for image in images]
        response = self.http.post(f"/v1/models/{model_id}/embed", json={"inputs": inputs})
        assert response.status_code == 200, response.text
        return response.json()

    def embed_files(self, model_id: str, images: list[bytes]) -> dict[str, Any]:
        files = [("files", (f"{i}.png", image, "image/png")) for i, image in enumerate(images)]
        response = self.http.post(f"/v1/models/{model_id}/embed", files=files)
        assert response.status_code == 200, response.text
        return response.json()
