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
# ``selfsup worker --queues``: each name stands for the setting that names that queue.
WORKER_QUEUES = {"training": "queue", "ingest": "ingest_queue"}
# An ingest-only worker keeps its pool process (and its warm decoding pool) for this many tasks; one that trains
# takes a fresh process per job, which returns all GPU memory to the driver.
INGEST_TASKS_PER_CHILD = 100
PRIVATE_UMASK = 0o077  # files 0600, folders 0700: datasets, models, the database and keys are the owner's


def migrate(settings: Settings) -> None:
    from app.core.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url)


def api(settings: Settings) -> None:
    import uvicorn

    from app.auth.bootstrap import ensure_admin_key, promote_bootstrap_keys

    if settings.bootstrap_admin_key is not None:
        ensure_admin_key(settings)
    else:
        promote_bootstrap_keys(settings)  # an older install's generated key, if ``up`` did not run first
    from app.core.access_log import uvicorn_log_config

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=uvicorn_log_config(),
        # Past it uvicorn answers 503 at once: slow clients cannot pile up open connections without bound.
        limit_concurrency=settings.max_connections,
    )


def worker(settings: Settings, queues: Sequence[str] = tuple(WORKER_QUEUES)) -> None:
    from worker.celery_app import celery

    names = ",".join(getattr(settings, WORKER_QUEUES[queue]) for queue in queues)
    argv = [
        "worker",
        f"--queues={names}",
        "--concurrency=1",
        "--prefetch-multiplier=1",
        "--loglevel=INFO",
        f"--hostname=selfsup-{os.getpid()}@{socket.gethostname()}",
    ]
    if "training" not in queues:
        argv.append(f"--max-tasks-per-child={INGEST_TASKS_PER_CHILD}")
    celery.worker_main(argv)


def parse_queues(raw: str) -> list[str]:
    queues = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in queues if name not in WORKER_QUEUES]
    if unknown or not queues:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(WORKER_QUEUES)} (comma-separated)")
    return queues


def announce_admin_key(settings: Settings) -> None:
    from app.auth.bootstrap import ADMIN_KEY_FILE, ensure_admin_key

    secret = ensure_admin_key(settings)
    if secret is not None:
        path = settings.data_dir / ADMIN_KEY_FILE
        print(
            "selfsup: created the first admin key, the operator's: it manages every tenant's keys (give tenants "
            f"admin keys of their own). It is shown once here and saved, readable only by you, in {path}:\n\n"
            f"    {secret}\n",
            flush=True,
        )


def create_key(settings: Settings, tenant: str, scopes: list[str], name: str) -> None:
    from app.auth.service import create_key as store_key
    from app.core.db import session_factory

    with session_factory()() as session:
        key, secret = store_key(session, name=name, tenant=tenant, scopes=scopes)
    print(f"{secret}\n(id {key.id}, tenant {key.tenant}, scopes {','.join(key.scopes)}; shown once)")


def up(settings: Settings) -> int:
    """Migrate, then run one API and two worker processes until Ctrl-C, and stop them cleanly. Ingest has a
    worker of its own, so that an upload is never ingested behind a long training job."""
    migrate(settings)
    announce_admin_key(settings)
    children = [_spawn("worker", "--queues=training"), _spawn("worker", "--queues=ingest"), _spawn("api")]
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


def _spawn(command: str, *options: str) -> subprocess.Popen[bytes]:
    # A session of its own lets us stop a worker together with its pool processes.
    return subprocess.Popen([sys.executable, "-m", "app.cli", command, *options], start_new_session=True)


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


def make_private_data_dir(settings: Settings) -> None:
    """From here on this process (and every child: uvicorn, Celery's pool) creates files only its user reads.

    The data dir itself is narrowed too, in case an older install or a hand-made ``mkdir`` left it open:
    without the right to enter it, nobody else reaches what lies below, however it was created.
    """
    os.umask(PRIVATE_UMASK)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    found = settings.data_dir.stat()
    if found.st_mode & 0o077 and found.st_uid == os.getuid():  # another user's folder is theirs to set
        settings.data_dir.chmod(0o700)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="selfsup", description=__doc__)
    parser.add_argument("command", choices=["up", "api", "worker", "migrate", "create-key"])
    parser.add_argument("--tenant", default="default", help="create-key: the key's tenant")
    parser.add_argument("--scopes", default="read,write", help="create-key: comma-separated read,write,admin")
    parser.add_argument(
        "--operator", action="store_true", help="create-key: an operator key, managing every tenant's keys"
    )
    parser.add_argument("--name", default="created from the command line", help="create-key: a label")
    parser.add_argument(
        "--queues",
        type=parse_queues,
        default=list(WORKER_QUEUES),
        help="worker: which work it takes, comma-separated: training (GPU hosts), ingest (CPU hosts); default both",
    )
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"selfsup: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    make_private_data_dir(settings)
    if args.command == "up":
        return up(settings)
    if args.command == "create-key":
        scopes = ["operator"] if args.operator else args.scopes.split(",")
        create_key(settings, args.tenant, scopes, args.name)
        return 0
    if args.command == "worker":
        worker(settings, args.queues)
        return 0
    {"api": api, "migrate": migrate}[args.command](settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
