"""The ``selfsup`` command: ``up`` (everything on one machine), or ``api``, ``worker``, ``migrate`` apart."""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from pydantic import ValidationError

from app.core.config import Settings, get_settings

SHUTDOWN_GRACE_SECONDS = 15.0


def migrate(settings: Settings) -> None:
    from app.core.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url)


def api(settings: Settings) -> None:
    import uvicorn

    uvicorn.run("app.main:create_app", factory=True, host=settings.host, port=settings.port, log_level="info")


def worker(settings: Settings) -> None:
    from worker.celery_app import celery

    celery.worker_main(
        [
            "worker",
            f"--queues={settings.queue}",
            "--concurrency=1",
            "--prefetch-multiplier=1",
            "--loglevel=INFO",
            f"--hostname=selfsup-{os.getpid()}@{socket.gethostname()}",
        ]
    )


def up(settings: Settings) -> int:
    """Migrate, then run one API and one worker process until Ctrl-C, and stop both cleanly."""
    migrate(settings)
    children = [_spawn("worker"), _spawn("api")]
    url = f"http://{settings.host}:{settings.port}"
    print(f"selfsup is up at {url} (data in {settings.data_dir}); Ctrl-C stops it", flush=True)
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    _stop_all(children)
    return 0 if stopping else 1


def _spawn(command: str) -> subprocess.Popen[bytes]:
    # A session of its own lets us stop a worker together with its pool processes.
    return subprocess.Popen([sys.executable, "-m", "app.cli", command], start_new_session=True)


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="selfsup", description=__doc__)
    parser.add_argument("command", choices=["up", "api", "worker", "migrate"])
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"selfsup: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.command == "up":
        return up(settings)
    {"api": api, "worker": worker, "migrate": migrate}[args.command](settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
