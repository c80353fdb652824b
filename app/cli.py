"""selfsup server commands: up runs everything on one machine; api, worker and migrate run the parts apart;
create-key stores an API key. (python -m app.cli runs these alone; the installed selfsup command adds the
client commands beside them.)"""

import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer

if TYPE_CHECKING:
    from app.core.config import Settings

SHUTDOWN_GRACE_SECONDS = 15.0
READY_POLL_SECONDS = 0.3
# ``selfsup worker --queues``: each name stands for the setting that names that queue.
WORKER_QUEUES = {"training": "queue", "ingest": "ingest_queue"}
# An ingest-only worker keeps its pool process (and its warm decoding pool) for this many tasks; one that trains
# takes a fresh process per job, which returns all GPU memory to the driver.
INGEST_TASKS_PER_CHILD = 100
PRIVATE_UMASK = 0o077  # files 0600, folders 0700: datasets, models, the database and keys are the owner's

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Database, blobs and keys (SELFSUP_DATA_DIR; default ./.selfsup).", show_default=False
    ),
]
Host = Annotated[str | None, typer.Option(help="Address the API binds (SELFSUP_HOST; default 127.0.0.1).")]
Port = Annotated[int | None, typer.Option(help="Port the API binds (SELFSUP_PORT; default 8000).", min=1, max=65535)]


def load_settings(data_dir: Path | None = None, host: str | None = None, port: int | None = None) -> "Settings":
    """The settings, the flags written over the environment first so that child processes get them too."""
    from pydantic import ValidationError

    from app.core.config import get_settings

    flags = {"SELFSUP_DATA_DIR": data_dir and data_dir.resolve(), "SELFSUP_HOST": host, "SELFSUP_PORT": port}
    os.environ.update({name: str(value) for name, value in flags.items() if value is not None})
    get_settings.cache_clear()
    try:
        settings = get_settings()
    except ValidationError as exc:
        typer.echo(f"selfsup: invalid configuration:\n{exc}", err=True)
        raise typer.Exit(2) from None
    make_private_data_dir(settings)
    return settings


def migrate(settings: "Settings") -> None:
    from app.core.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url)


def api(settings: "Settings") -> None:
    import uvicorn

    from app.auth.bootstrap import ensure_admin_key, promote_bootstrap_keys
    from app.core.access_log import uvicorn_log_config
    from app.monitoring.exposition import prepare_multiprocess_dir

    if settings.bootstrap_admin_key is not None:
        ensure_admin_key(settings)
    else:
        promote_bootstrap_keys(settings)  # an older install's generated key, if ``up`` did not run first
    prepare_multiprocess_dir(settings.data_dir, workers=settings.api_workers)  # several processes: one /metrics
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=uvicorn_log_config(),
        # Past it uvicorn answers 503 at once: slow clients cannot pile up open connections without bound.
        limit_concurrency=settings.max_connections,
        workers=settings.api_workers,
    )


def worker(settings: "Settings", queues: Sequence[str] = tuple(WORKER_QUEUES)) -> None:
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
        raise typer.BadParameter(f"choose from {', '.join(WORKER_QUEUES)} (comma-separated)")
    return queues


def announce_admin_key(settings: "Settings") -> None:
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


def store_key(tenant: str, scopes: list[str], name: str) -> None:
    from app.auth.service import create_key
    from app.core.db import session_factory

    with session_factory()() as session:
        key, secret = create_key(session, name=name, tenant=tenant, scopes=scopes)
    print(f"{secret}\n(id {key.id}, tenant {key.tenant}, scopes {','.join(key.scopes)}; shown once)")


def port_refusal(host: str, port: int) -> str | None:
    """Why the API could not bind ``host:port`` (taken, say), or None when it can. Binds as uvicorn does
    (SO_REUSEADDR), so a port in TIME_WAIT from a previous run does not count as taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def make_private_data_dir(settings: "Settings") -> None:
    """From here on this process (and every child: uvicorn, Celery's pool) creates files only its user reads.

    The data dir itself is narrowed too, in case an older install or a hand-made ``mkdir`` left it open:
    without the right to enter it, nobody else reaches what lies below, however it was created.
    """
    os.umask(PRIVATE_UMASK)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    found = settings.data_dir.stat()
    if found.st_mode & 0o077 and found.st_uid == os.getuid():  # another user's folder is theirs to set
        settings.data_dir.chmod(0o700)


def up_command(data_dir: DataDir = None, host: Host = None, port: Port = None) -> None:
    """Run everything on this machine: migrate, then an API and two workers, until Ctrl-C.

    Prints the data directory and key file first, and "selfsup is up at URL" once the API answers /readyz.
    """
    from app.cli_up import up

    raise typer.Exit(up(load_settings(data_dir, host, port)))


def api_command(data_dir: DataDir = None, host: Host = None, port: Port = None) -> None:
    """Run the HTTP API alone (uvicorn)."""
    api(load_settings(data_dir, host, port))


def worker_command(
    queues: Annotated[
        str,
        typer.Option(help="Work it takes, comma-separated: training (GPU hosts), ingest (CPU hosts)."),
    ] = ",".join(WORKER_QUEUES),
    data_dir: DataDir = None,
) -> None:
    """Run a Celery worker alone."""
    chosen = parse_queues(queues)
    worker(load_settings(data_dir), chosen)


def migrate_command(data_dir: DataDir = None) -> None:
    """Bring the database schema up to date."""
    migrate(load_settings(data_dir))


def create_key_command(
    tenant: Annotated[str, typer.Option(help="The key's tenant.")] = "default",
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, write, admin.")] = "read,write",
    operator: Annotated[bool, typer.Option(help="An operator key, managing every tenant's keys.")] = False,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "created from the command line",
    data_dir: DataDir = None,
) -> None:
    """Store a new API key in the database and print its secret once."""
    load_settings(data_dir)
    store_key(tenant, ["operator"] if operator else scopes.split(","), name)


SERVER_COMMANDS: dict[str, Callable[..., None]] = {
    "up": up_command,
    "api": api_command,
    "worker": worker_command,
    "migrate": migrate_command,
    "create-key": create_key_command,
}


def register_server_commands(cli: typer.Typer) -> None:
    for name, command in SERVER_COMMANDS.items():
        cli.command(name, rich_help_panel="Server")(command)


def run_typer(cli: typer.Typer, argv: Sequence[str] | None) -> int:
    """Run ``cli`` and answer its exit status rather than exiting, for ``main`` functions and tests."""
    command = typer.main.get_command(cli)
    try:
        # Without standalone mode click answers a typer.Exit's code instead of raising it.
        answer = command.main(args=argv, prog_name="selfsup", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        return 130
    return answer if isinstance(answer, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    cli = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
    register_server_commands(cli)
    return run_typer(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
