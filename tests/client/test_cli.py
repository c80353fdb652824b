"""The selfsup command in a subprocess (what the installed ``selfsup`` runs: selfsup_client.cli:main) against a
real API and worker: upload, submit --watch (exit 0 on success, 1 on a failing job), --json that parses, embed;
and ``up`` refusing a taken port before it touches anything."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import ADMIN_KEY, Stack
from tests.support.images import digit_pngs, zip_bytes

ROOT = Path(__file__).resolve().parents[2]
TINY = ["-p", "backbone=tiny_cnn", "-p", "batch_size=32", "-p", "epochs=1"]


def selfsup(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "selfsup_client", *map(str, args)]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)


@pytest.mark.e2e
def test_the_command_line_against_a_running_service(stack: Stack, tmp_path: Path) -> None:
    env = {"SELFSUP_URL": str(stack.client.http.base_url), "SELFSUP_API_KEY": ADMIN_KEY}
    archive = tmp_path / "digits.zip"
    archive.write_bytes(zip_bytes(digit_pngs(64)))
    uploaded = selfsup("datasets", "upload", archive, "--name", "cli", "-o", "image_size=16", "--json", env=env)
    assert uploaded.returncode == 0, uploaded.stderr
    dataset = json.loads(uploaded.stdout)
    assert dataset["status"] == "ready"
    listed = selfsup("datasets", "ls", "--json", env=env)
    assert [d["id"] for d in json.loads(listed.stdout)] == [dataset["id"]]

    trained = selfsup(
        "jobs", "submit", "--dataset", dataset["id"], "--method", "simclr", *TINY, "--watch", "--json", env=env
    )
    assert trained.returncode == 0, trained.stderr
    job = json.loads(trained.stdout)
    assert job["status"] == "succeeded" and "epoch 1/1" in trained.stderr, "the live view showed the epochs"
    assert "succeeded" in selfsup("jobs", "ls", env=env).stdout, "the table shows the job"

    images = []
    for index, (_, png) in enumerate(digit_pngs(2)):
        images.append(tmp_path / f"{index}.png")
        images[-1].write_bytes(png)
    embedded = selfsup("embed", job["model_id"], *images, "-o", tmp_path / "vectors.npy", env=env)
    assert embedded.returncode == 0, embedded.stderr
    assert np.load(tmp_path / "vectors.npy").shape[0] == 2

    (stack.data_dir / "blobs" / "datasets" / dataset["id"] / "images.npy").write_bytes(b"\x93NUMPY garbage")
    failing = selfsup("jobs", "submit", "--dataset", dataset["id"], "--method", "simclr", *TINY, "--watch", env=env)
    assert failing.returncode == 1 and "failed" in failing.stderr, failing.stderr


def test_up_refuses_a_taken_port_at_once_and_mints_no_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = selfsup("up", "--port", str(port), "--data-dir", tmp_path / "data", timeout=120)
    assert done.returncode == 1 and f"port {port}" in done.stderr, done.stderr
    assert str(tmp_path / "data") in done.stdout, "it says where the data lives"
    assert not (tmp_path / "data" / "admin-key.txt").exists(), "no key was minted"
    helped = selfsup("up", "--help")
    assert "--port" in helped.stdout and "--data-dir" in helped.stdout and "``" not in helped.stdout


def test_the_client_imports_neither_the_server_nor_the_engine() -> None:
    probe = (
        "import sys, selfsup_client, selfsup_client.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'app', 'selfsup', 'worker', 'torch'}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )
    assert found.stdout.strip() == "[]", found.stdout + found.stderr
