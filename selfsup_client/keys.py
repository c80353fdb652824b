"""``client.keys`` (admin keys): create, list, revoke."""

from typing import Any, cast

from selfsup_client.schemas import Key
from selfsup_client.transport import Transport


class Keys:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def create(self, name: str, *, scopes: list[str] | None = None, tenant: str | None = None) -> Key:
        """The new key, with its secret in ``key`` (shown this once)."""
        body: dict[str, Any] = {
            "name": name,
            **({"scopes": scopes} if scopes else {}),
            **({"tenant": tenant} if tenant else {}),
        }
        return cast(Key, self._transport.request("POST", "/v1/keys", json=body))

    def list(self, *, tenant: str | None = None, limit: int = 50, offset: int = 0) -> list[Key]:
        """This tenant's keys; an operator key sees every tenant's, or only ``tenant``'s."""
        params: dict[str, Any] = {"limit": limit, "offset": offset, **({"tenant": tenant} if tenant else {})}
        page = self._transport.request("GET", "/v1/keys", params=params)
        return cast(list[Key], page["items"])

    def revoke(self, key_id: str) -> None:
        self._transport.request("DELETE", f"/v1/keys/{key_id}")
