"""``selfsup up``: migrate, then one API and two workers on this machine until Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

import httpx

from app.cli import READY_POLL_SECONDS, SHUTDOWN_GRACE_SECONDS, announce_admin_key, migrate, port_refusal
from app.core.config import Settings

Children = list[subprocess.Popen[bytes]]


def up(settings: Settings) -> int:
    """Ingest has a worker of its own, so that an upload is never ingested behind a long training job."""
    from app.auth.bootstrap import ADMIN_KEY_FILE

    url = f"http://{settings.host}:{settings.port}"
    print(
        f"selfsup: data in {settings.data_dir.resolve()}; admin key file {settings.data_dir.resolve() / ADMIN_KEY_FILE}"
    )
    if (refusal := port_refusal(settings.host, settings.port)) is not None:
        # Before migrating or minting a key: a second ``up`` on a taken port changes nothing.
        print(
            f"selfsup: cannot listen on {settings.host} port {settings.port}: {refusal}; choose another with "
            "--port or SELFSUP_PORT",
            file=sys.stderr,
        )
        return 1
    migrate(settings)
    announce_admin_key(settings)
    stop = _stop_on_signals()
    children = [_spawn("worker", "--queues=training"), _spawn("worker", "--queues=ingest"), _spawn("api")]
    if _wait_until_ready(_probe_url(settings), children, stop):
        print(f"selfsup is up at {url}; Ctrl-C stops it", flush=True)
    while not stop and all(child.poll() is None for child in children):
        time.sleep(0.2)
    failed = [child for child in children if child.poll() not in (None, 0)]
    _stop_all(children)
    return 0 if stop and not failed else 1


def _stop_on_signals() -> list[int]:
    """A list that is non-empty once Ctrl-C (or SIGTERM) arrived."""
    received: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: received.append(number))
    return received


def _probe_url(settings: Settings) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(settings.host, settings.host)
    return f"http://{host}:{settings.port}/readyz"


def _wait_until_ready(readyz: str, children: Children, stop: list[int]) -> bool:
    """Until /readyz answers 200; False when a child exits first (its log says why) or Ctrl-C came."""
    while not stop:
        if any(child.poll() is not None for child in children):
            print("selfsup: a process exited before the API was ready; see its log above", file=sys.stderr)
            return False
        try:
            if httpx.get(readyz, timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(READY_POLL_SECONDS)
    return False


def _spawn(command: str, *options: str) -> subprocess.Popen[bytes]:
    # A session of its own lets us stop a worker together with its pool processes.
    return subprocess.Popen([sys.executable, "-m", "app.cli", command, *options], start_new_session=True)


def _stop_all(children: Children) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()  # the leader shuts its own pool down; a group signal would race it
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            # A job still training is resumed from its last checkpoint on the next start.
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
