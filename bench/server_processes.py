"""The server processes of bench/serve_load.py: a migrated API (and a worker while training) on a free port.

``local_service`` starts them in a temporary directory and trains a tiny model through the HTTP API;
``remote_service`` uses a server already running.
"""

import argparse
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from load_generator import digit_pngs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train_tiny_model(url: str, key: str, *, timeout: float = 300) -> str:
    """Upload 256 digits, train SimCLR on tiny_cnn for one epoch through the API, return the model id."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for index, png in enumerate(digit_pngs(256)):
            zipped.writestr(f"digit_{index:04d}.png", png)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        files = {"file": ("digits.zip", archive.getvalue())}
        dataset = http.post("/v1/datasets", files=files, data={"name": "digits", "image_size": "16"})
        dataset.raise_for_status()
        wait_until_ingested(http, dataset.json()["id"], timeout)
        params = {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32}
        spec = {"dataset_id": dataset.json()["id"], "method": "simclr", "params": params}
        job = http.post("/v1/jobs", json=spec).raise_for_status().json()
        deadline = time.monotonic() + timeout
        while (job := http.get(f"/v1/jobs/{job['id']}").raise_for_status().json())["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise SystemExit(f"job {job['id']} still {job['status']} after {timeout:.0f} s: is a worker running?")
            time.sleep(0.5)
    if job["status"] != "succeeded":
        raise SystemExit(f"training failed: {job['error']}")
    return str(job["model_id"])


def wait_until_ingested(http: httpx.Client, dataset_id: str, timeout: float) -> None:
    """Uploads are ingested by a worker: a job on a dataset still processing is a 409."""
    deadline = time.monotonic() + timeout
    while (status := http.get(f"/v1/datasets/{dataset_id}").raise_for_status().json()["status"]) == "processing":
        if time.monotonic() > deadline:
            raise SystemExit(f"dataset {dataset_id} still processing after {timeout:.0f} s: is a worker running?")
        time.sleep(0.5)
    if status != "ready":
        raise SystemExit(f"ingest of dataset {dataset_id} ended {status}")


class Child:
    """``python -m app.cli <command>`` in a session of its own, logging to a file."""

    def __init__(self, command: str, env: dict[str, str], log_dir: Path) -> None:
        self.log_path = log_dir / f"{command}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", command],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, grace: float = 20) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def wait_until(self, ready: Callable[[], bool], *, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.log_path.stem} exited:\n{self.log()[-3000:]}")
            if ready():
                return
            time.sleep(0.3)
        raise SystemExit(f"{self.log_path.stem} not ready after {timeout:.0f} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def local_service(args: argparse.Namespace) -> Iterator[tuple[str, str, str, int | None]]:
    """Start a migrated API on a free port (plus a worker while training); yield (url, key, model id, api pid)."""
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        key = "ssk_" + secrets.token_urlsafe(32)
        port = free_port()
        env = dict(
            [e.split("=", 1) for e in args.env],
            SELFSUP_DATA_DIR=str(Path(tmp) / "data"),
            SELFSUP_PORT=str(port),
            SELFSUP_BOOTSTRAP_ADMIN_KEY=key,
        )
        if args.database_url:
            env["SELFSUP_DATABASE_URL"] = args.database_url
        subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env={**os.environ, **env}, check=True)
        url = f"http://127.0.0.1:{port}"
        api = Child("api", env, Path(tmp))
        try:
            api.wait_until(lambda: _answers(f"{url}/readyz"))
            model_id = args.model or _train_with_worker(url, key, env, Path(tmp))
            yield url, key, model_id, api.process.pid
        finally:
            api.stop()


def _train_with_worker(url: str, key: str, env: dict[str, str], log_dir: Path) -> str:
    worker = Child("worker", env, log_dir)
    try:
        worker.wait_until(lambda: " ready." in worker.log())
        return train_tiny_model(url, key)
    finally:
        worker.stop()


@contextmanager
def remote_service(args: argparse.Namespace) -> Iterator[tuple[str, str, str, int | None]]:
    url = args.url.rstrip("/")
    yield url, args.key, args.model or train_tiny_model(url, args.key), None
