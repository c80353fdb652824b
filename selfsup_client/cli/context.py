"""Where the commands find their server and key: flags, then SELFSUP_URL / SELFSUP_API_KEY, then (for the
operator on the server's own machine) the admin key file that ``selfsup up`` wrote."""

import os
from dataclasses import dataclass
from pathlib import Path

import typer

from selfsup_client.client import DEFAULT_URL, Client

ADMIN_KEY_FILE = "admin-key.txt"  # app.auth.bootstrap writes it; not imported: the client stands alone


@dataclass
class Connection:
    url: str | None
    api_key: str | None

    def client(self) -> Client:
        return Client(self.url, self.api_key or local_admin_key())

    @property
    def shown_url(self) -> str:
        return self.url or os.environ.get("SELFSUP_URL") or DEFAULT_URL


def local_key_file() -> Path:
    return Path(os.environ.get("SELFSUP_DATA_DIR", ".selfsup")).resolve() / ADMIN_KEY_FILE


def local_admin_key() -> str | None:
    if os.environ.get("SELFSUP_API_KEY"):
        return None  # Client reads it
    try:
        return local_key_file().read_text().strip() or None
    except OSError:
        return None


def client_of(ctx: typer.Context) -> Client:
    connection: Connection = ctx.find_object(Connection) or Connection(None, None)
    return connection.client()
