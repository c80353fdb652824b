"""``selfsup keys`` (an admin key): create, ls, revoke."""

from typing import Annotated

import typer

from selfsup_client.cli.context import client_of
from selfsup_client.cli.output import JsonFlag, PageLimit, field, reported_errors, say, show

keys = typer.Typer(help="Create, list and revoke API keys (needs an admin key).", no_args_is_help=True)
COLUMNS = [
    ("id", field("id")),
    ("name", field("name")),
    ("tenant", field("tenant")),
    ("scopes", lambda key: ",".join(key.get("scopes", []))),
    ("prefix", field("prefix")),
    ("created", field("created_at")),
    ("revoked", field("revoked_at")),
]
Tenant = Annotated[str | None, typer.Option(help="Another tenant's (an operator key only).", show_default=False)]


@keys.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A label for the key.")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", "-s", help="read, write, admin or operator; repeat. Default: read, write."),
    ] = None,
    tenant: Tenant = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a key and print its secret, this once."""
    with reported_errors(), client_of(ctx) as client:
        key = client.keys.create(name, scopes=scope, tenant=tenant)
        show(key, [*COLUMNS[:5], ("key", field("key"))], as_json=as_json)
        say("the secret is shown this once: store it now")


@keys.command("ls")
def list_keys(
    ctx: typer.Context,
    tenant: Tenant = None,
    limit: PageLimit = 50,
    as_json: JsonFlag = False,
) -> None:
    """List this tenant's keys (an operator key: every tenant's), newest first; secrets are never shown."""
    with reported_errors(), client_of(ctx) as client:
        show(client.keys.list(tenant=tenant, limit=limit), COLUMNS, as_json=as_json, title="keys")


@keys.command("revoke")
def revoke(ctx: typer.Context, key_id: str) -> None:
    """Revoke a key: it stops working at once."""
    with reported_errors(), client_of(ctx) as client:
        client.keys.revoke(key_id)
        say(f"revoked {key_id}")
