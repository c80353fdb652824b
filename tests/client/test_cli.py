"""The selfsup command in a subprocess (what the installed ``selfsup`` runs: selfsup_client.cli:main) against a
real API and worker: upload, submit --watch and jobs watch (exit 0 on success, 1 on a failing job), --json that
parses, embed, keys; ``up`` refusing a taken port before it touches anything; each level's own --help."""

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
    status = selfsup("status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert {"datasets": 1, "jobs_running": 0}.items() <= json.loads(status.stdout).items()

    images = []
    for index, (_, png) in enumerate(digit_pngs(2)):
        images.append(tmp_path / f"{index}.png")
        images[-1].write_bytes(png)
    embedded = selfsup("embed", job["model_id"], *images, "-o", tmp_path / "vectors.npy", env=env)
    assert embedded.returncode == 0, embedded.stderr
    assert np.load(tmp_path / "vectors.npy").shape[0] == 2

    manages_keys(env)
    watches_jobs(stack, env, dataset["id"], job)


def watches_jobs(stack: Stack, env: dict[str, str], dataset: str, succeeded: dict) -> None:
    """``jobs watch``: exit 0 and the final job as JSON for a job that succeeded; for one that fails at run time
    (its dataset's arrays corrupted on disk), the live view until it fails, then exit 1 naming the failure."""
    watched = selfsup("jobs", "watch", succeeded["id"], "--json", env=env)
    assert watched.returncode == 0, watched.stderr
    assert json.loads(watched.stdout)["status"] == "succeeded"

    (stack.data_dir / "blobs" / "datasets" / dataset / "images.npy").write_bytes(b"\x93NUMPY garbage")
    submitted = selfsup("jobs", "submit", "--dataset", dataset, "--method", "simclr", *TINY, "--json", env=env)
    assert submitted.returncode == 0, submitted.stderr
    failing = selfsup("jobs", "watch", json.loads(submitted.stdout)["id"], "--json", env=env)
    assert failing.returncode == 1, failing.stderr
    final = json.loads(failing.stdout)
    assert final["status"] == "failed" and final["error"], final
    assert f"job {final['id']} failed" in failing.stderr, failing.stderr


def manages_keys(env: dict[str, str]) -> None:
    """``keys create`` prints the secret once, ``ls`` lists without it, the new key works with its scopes
    only, and ``revoke`` stops it at once."""
    created = selfsup("keys", "create", "cli-reader", "--scope", "read", "--json", env=env)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["scopes"] == ["read"] and key["key"].startswith(key["prefix"]), key
    listed = {k["id"]: k for k in json.loads(selfsup("keys", "ls", "--json", env=env).stdout)}
    assert "key" not in listed[key["id"]] and listed[key["id"]]["name"] == "cli-reader", "secrets are not listed"

    reader = {**env, "SELFSUP_API_KEY": key["key"]}
    assert selfsup("datasets", "ls", env=reader).returncode == 0, "the new key reads"
    refused = selfsup("keys", "create", "escalated", "--scope", "admin", env=reader)
    assert refused.returncode == 1 and refused.stderr.startswith("selfsup: 403: "), refused.stderr
    revoked = selfsup("keys", "revoke", key["id"], env=env)
    assert revoked.returncode == 0 and key["id"] in revoked.stderr, revoked.stderr
    after = selfsup("datasets", "ls", env=reader)
    assert after.returncode == 1 and after.stderr.startswith("selfsup: 401: "), after.stderr


def test_up_refuses_a_taken_port_at_once_and_mints_no_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = selfsup("up", "--port", str(port), "--data-dir", tmp_path / "data", timeout=120)
    assert done.returncode == 1 and f"port {port}" in done.stderr, done.stderr
    assert str(tmp_path / "data") in done.stdout, "it says where the data lives"
    assert not (tmp_path / "data" / "admin-key.txt").exists(), "no key was minted"


def test_each_level_shows_its_own_help_without_rest_markup() -> None:
    for level, shows in ([], "create-key"), (["up"], "--data-dir"), (["jobs"], "watch"), (["keys"], "revoke"):
        helped = selfsup(*level, "--help", timeout=120)
        usage = " ".join(["Usage: selfsup", *level])
        assert helped.returncode == 0 and usage in helped.stdout and shows in helped.stdout, helped.stdout
        assert "``" not in helped.stdout and ":func:" not in helped.stdout, helped.stdout


def test_the_client_imports_neither_the_server_nor_the_engine() -> None:
    probe = (
        "import sys, selfsup_client, selfsup_client.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'app', 'selfsup', 'worker', 'torch'}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )
    assert found.stdout.strip() == "[]", found.stdout + found.stderr
