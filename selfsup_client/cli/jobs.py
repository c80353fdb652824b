"""``selfsup jobs``: submit (optionally watching), ls, get, watch, cancel."""

import json
from typing import Annotated, Any

import typer

from selfsup_client.cli.context import client_of
from selfsup_client.cli.datasets import parse_pairs
from selfsup_client.cli.output import JsonFlag, PageLimit, field, reported_errors, say, show
from selfsup_client.cli.watch import watch_job
from selfsup_client.client import Client
from selfsup_client.schemas import Job

jobs = typer.Typer(help="Submit, watch and list training jobs.", no_args_is_help=True)
COLUMNS = [
    ("id", field("id")),
    ("method", field("method")),
    ("dataset", field("dataset_id")),
    ("status", field("status")),
    ("progress", lambda job: f"{job['progress']['fraction']:.0%}"),
    ("model", field("model_id")),
    ("error", field("error")),
]


@jobs.command("submit")
def submit(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="The dataset's id.")],
    method: Annotated[
        str | None,
        typer.Option(help="simclr, byol, bagcse, scarf, clip ... (GET /v1/methods); default: the dataset modality's."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A method parameter, KEY=VALUE (epochs=20); repeat.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label for the job.")] = None,
    watch: Annotated[bool, typer.Option(help="Show live progress until it ends; exit 1 unless it succeeds.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Submit a pretraining job."""
    params = {key: parse_value(value) for key, value in parse_pairs(param or [])}
    with reported_errors(), client_of(ctx) as client:
        job = client.jobs.submit(dataset, method, params, name=name)
        if watch:
            job = watched_to_the_end(client, job)
        show(job, COLUMNS, as_json=as_json)
        exit_unless_succeeded(job, watched=watch)


@jobs.command("watch")
def watch(ctx: typer.Context, job_id: str, as_json: JsonFlag = False) -> None:
    """Show a job's live progress until it ends; exit 1 unless it succeeds."""
    with reported_errors(), client_of(ctx) as client:
        job = watched_to_the_end(client, job_id)
        show(job, COLUMNS, as_json=as_json)
        exit_unless_succeeded(job, watched=True)


@jobs.command("ls")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: PageLimit = 50,
    as_json: JsonFlag = False,
) -> None:
    """List this tenant's jobs, newest first."""
    with reported_errors(), client_of(ctx) as client:
        show(client.jobs.list(status=status, limit=limit), COLUMNS, as_json=as_json, title="jobs")


@jobs.command("get")
def get_job(ctx: typer.Context, job_id: str, as_json: JsonFlag = False) -> None:
    """One job, with its latest metrics."""
    with reported_errors(), client_of(ctx) as client:
        show(client.jobs.get(job_id), COLUMNS, as_json=as_json)


@jobs.command("cancel")
def cancel(ctx: typer.Context, job_id: str, as_json: JsonFlag = False) -> None:
    """Ask a job to stop (it stops at its next step)."""
    with reported_errors(), client_of(ctx) as client:
        show(client.jobs.cancel(job_id), COLUMNS, as_json=as_json)


def watched_to_the_end(client: Client, job: Job | str) -> Job:
    final = watch_job(client, job)
    if final.get("summary"):
        say(str(final["summary"]))
    return final


def exit_unless_succeeded(job: Job, *, watched: bool) -> None:
    if watched and job["status"] != "succeeded":
        say(f"selfsup: job {job['id']} {job['status']}: {job.get('error') or ''}".rstrip(": "))
        raise typer.Exit(1)


def parse_value(raw: str) -> Any:
    """``20`` -> 20, ``0.1`` -> 0.1, ``true`` -> True, ``[1,2]`` -> [1, 2]; anything else stays a string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw
