"""The selfsup command: client commands for a running server, plus the server commands where the server is
installed. Server URL and key: --url and --api-key, else SELFSUP_URL and SELFSUP_API_KEY, else (on the
server's own machine) the admin key file that selfsup up wrote."""

import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from selfsup_client.cli.context import Connection, client_of, local_key_file
from selfsup_client.cli.datasets import datasets
from selfsup_client.cli.jobs import jobs
from selfsup_client.cli.keys import keys
from selfsup_client.cli.models import embed, models
from selfsup_client.cli.output import JsonFlag, field, reported_errors, show

cli = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
cli.add_typer(datasets, name="datasets", rich_help_panel="Client")
cli.add_typer(jobs, name="jobs", rich_help_panel="Client")
cli.add_typer(models, name="models", rich_help_panel="Client")
cli.add_typer(keys, name="keys", rich_help_panel="Client")
cli.command("embed", rich_help_panel="Client")(embed)


@cli.callback()
def connect(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="The server (SELFSUP_URL; default http://127.0.0.1:8000).")] = None,
    api_key: Annotated[str | None, typer.Option(help="An API key (SELFSUP_API_KEY).", show_default=False)] = None,
) -> None:
    ctx.obj = Connection(url, api_key)


@cli.command("status", rich_help_panel="Client")
def status(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Whether the server answers and is ready, and where this machine keeps a local server's data and key."""
    connection: Connection = ctx.ensure_object(Connection)
    with reported_errors(), client_of(ctx) as client:
        report = {"url": connection.shown_url, "local_key_file": str(local_key_file()), **client.ready()}
        report["datasets"] = client.datasets.count()
        report["jobs_running"] = client.jobs.count(status="running")
        show(report, [(name, field(name)) for name in report], as_json=as_json)


def build() -> typer.Typer:
    try:
        from app.cli import register_server_commands  # only where the server is installed
    except ImportError:
        return cli
    register_server_commands(cli)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from app.cli import run_typer
    except ImportError:
        command = typer.main.get_command(build())
        return int(command.main(args=argv, prog_name="selfsup") or 0)  # exits itself
    return run_typer(build(), argv)


if __name__ == "__main__":
    sys.exit(main())
