"""``selfsup datasets``: upload, ls, get."""

from pathlib import Path
from typing import Annotated, Any

import typer

from selfsup_client.cli.context import client_of
from selfsup_client.cli.output import JsonFlag, PageLimit, field, reported_errors, say, show

datasets = typer.Typer(help="Upload and list datasets.", no_args_is_help=True)
COLUMNS = [
    ("id", field("id")),
    ("name", field("name")),
    ("modality", field("modality")),
    ("status", field("status")),
    ("items", field("num_items")),
    ("error", field("error")),
]


@datasets.command("upload")
def upload(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="An archive, .csv, .jsonl, .txt ...")],
    name: Annotated[str | None, typer.Option(help="Default: the file's name.")] = None,
    modality: Annotated[str, typer.Option(help="image, text, tabular or image_text.")] = "image",
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="An upload form field, KEY=VALUE (image_size=32).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait until ingested (exits 1 if ingest fails).")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Upload a file (resumable above 64 MiB) and wait until a worker has ingested it."""
    options: dict[str, Any] = dict(parse_pairs(option or []))
    with reported_errors(), client_of(ctx) as client:
        dataset = client.datasets.upload(path, name=name, modality=modality, **options)
        if wait:
            say(f"{dataset['id']}: ingesting ...")
            dataset = client.datasets.wait_ready(dataset)
        show(dataset, COLUMNS, as_json=as_json)


@datasets.command("ls")
def list_datasets(ctx: typer.Context, limit: PageLimit = 50, as_json: JsonFlag = False) -> None:
    """List this tenant's datasets, newest first."""
    with reported_errors(), client_of(ctx) as client:
        show(client.datasets.list(limit=limit), COLUMNS, as_json=as_json, title="datasets")


@datasets.command("get")
def get_dataset(ctx: typer.Context, dataset_id: str, as_json: JsonFlag = False) -> None:
    """One dataset, with its ingest progress."""
    with reported_errors(), client_of(ctx) as client:
        show(client.datasets.get(dataset_id), COLUMNS, as_json=as_json)


def parse_pairs(pairs: list[str]) -> list[tuple[str, str]]:
    parsed = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: write KEY=VALUE")
        parsed.append((key.strip(), value))
    return parsed
