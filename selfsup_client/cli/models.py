"""``selfsup models`` (ls, get, alias, export) and ``selfsup embed``."""

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from selfsup_client.cli.context import client_of
from selfsup_client.cli.output import JsonFlag, PageLimit, field, reported_errors, say, show

models = typer.Typer(help="List, name and export trained models.", no_args_is_help=True)
COLUMNS = [
    ("id", field("id")),
    ("method", field("method")),
    ("backbone", field("backbone")),
    ("modality", field("modality")),
    ("dim", field("dim")),
    ("aliases", lambda model: ", ".join(model.get("aliases", []))),
]
TEXT_SUFFIXES = (".txt",)


@models.command("ls")
def list_models(ctx: typer.Context, limit: PageLimit = 50, as_json: JsonFlag = False) -> None:
    """List this tenant's models, newest first."""
    with reported_errors(), client_of(ctx) as client:
        show(client.models.list(limit=limit), COLUMNS, as_json=as_json, title="models")


@models.command("get")
def get_model(ctx: typer.Context, model: str, as_json: JsonFlag = False) -> None:
    """One model (by id or alias), with its evaluation."""
    with reported_errors(), client_of(ctx) as client:
        show(client.models.get(model), COLUMNS, as_json=as_json)


@models.command("alias")
def alias(ctx: typer.Context, model: str, name: str) -> None:
    """Point the alias NAME at MODEL (an alias can then stand for the id anywhere)."""
    with reported_errors(), client_of(ctx) as client:
        client.models.set_alias(model, name)
        say(f"{name} -> {model}")


@models.command("export")
def export(
    ctx: typer.Context,
    model: str,
    format: Annotated[str, typer.Option(help="onnx, torchscript or safetensors.")] = "onnx",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Default: MODEL.FORMAT here.")] = None,
) -> None:
    """Download a model to run elsewhere."""
    with reported_errors(), client_of(ctx) as client:
        path = client.models.export(model, format, output or Path(f"{model}.{format}"))
        say(f"wrote {path}")


def embed(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="A model id or alias.")],
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Images; or .txt, one text a line.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where the (N, D) float32 array goes.")] = Path(
        "vectors.npy"
    ),
) -> None:
    """Embed image files (or the lines of .txt files) and save the vectors as a .npy file."""
    with reported_errors(), client_of(ctx) as client:
        if all(path.suffix.lower() in TEXT_SUFFIXES for path in files):
            texts = [line for path in files for line in path.read_text().splitlines() if line.strip()]
            vectors = client.models.embed(model, texts=texts)
        else:
            vectors = client.models.embed(model, images=files)
        np.save(output, vectors)
        say(f"wrote {output}: {vectors.shape[0]} vectors of {vectors.shape[1]} dimensions")
