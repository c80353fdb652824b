"""How commands answer: a rich table for people, JSON for scripts, one line on stderr for errors."""

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from selfsup_client.errors import SelfSupError

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")]
# 200: the API's own bound on a page.
PageLimit = Annotated[int, typer.Option(min=1, max=200, help="At most this many, newest first.")]
stdout = Console()
stderr = Console(stderr=True)
Column = tuple[str, Callable[[Any], object]]


def show(rows: Any, columns: Sequence[Column], *, as_json: bool, title: str | None = None) -> None:
    """``rows``: one object or a list of them (the API's JSON)."""
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=title)
    for heading, _ in columns:
        table.add_column(heading)
    for row in rows if isinstance(rows, list) else [rows]:
        table.add_row(*("" if (cell := value(row)) is None else str(cell) for _, value in columns))
    stdout.print(table)


def field(name: str) -> Callable[[Any], object]:
    return lambda row: row.get(name)


@contextmanager
def reported_errors() -> Iterator[None]:
    """A refusal becomes one line naming the status and the server's message, and exit status 1."""
    try:
        yield
    except SelfSupError as exc:
        stderr.print(f"selfsup: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    except OSError as exc:
        stderr.print(f"selfsup: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None


def say(message: str) -> None:
    print(message, file=sys.stderr)
