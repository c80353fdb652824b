from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scope = Literal["read", "write", "admin", "operator"]
TENANT_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # "tenants" or "scope" must not quietly yield a default key

    name: str = Field(min_length=1, max_length=200)
    tenant: str | None = Field(
        default=None,
        pattern=TENANT_PATTERN,
        description="Defaults to the caller's tenant; another tenant needs an operator key.",
    )
    scopes: list[Scope] = Field(
        default=["read", "write"],
        min_length=1,
        max_length=4,
        description="read < write < admin < operator, each including the ones before; at most the caller's own.",
    )


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    tenant: str
    scopes: list[str]
    prefix: str = Field(description="The first characters of the key, to recognize it.")
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret. It is shown this once and cannot be retrieved again.")
