"""Creating, checking, listing and revoking API keys."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth import secrets
from app.auth.orm import ApiKey
from app.core.db import utcnow
from app.core.errors import NotFound, Unprocessable
from app.core.ids import new_id

SCOPES = ("read", "write", "admin")  # each includes the ones before it
DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its tenant and its scopes."""

    key_id: str
    tenant: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        return any(SCOPES.index(held) >= SCOPES.index(scope) for held in self.scopes)


def create_key(
    session: Session, *, name: str, tenant: str, scopes: list[str], secret: str | None = None
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its secret, which is never retrievable again."""
    if unknown := sorted(set(scopes) - set(SCOPES)):
        raise Unprocessable(f"unknown scopes {unknown}; known: {', '.join(SCOPES)}")
    secret = secret or secrets.new_secret()
    if not secrets.is_well_formed(secret):
        raise Unprocessable("a key must look like 'ssk_' followed by at least 32 URL-safe characters")
    key = ApiKey(
        id=new_id("key"),
        name=name,
        tenant=tenant,
        scopes=sorted(set(scopes), key=SCOPES.index),
        prefix=secrets.shown_prefix(secret),
        secret_hash=secrets.digest(secret),
    )
    session.add(key)
    session.commit()
    return key, secret


def authenticate(session: Session, *, secret: str) -> Principal | None:
    """The principal behind a presented secret, or None if it is unknown or revoked."""
    if not secrets.is_well_formed(secret):
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == secrets.digest(secret)))
    if key is None or key.revoked_at is not None:
        return None
    return Principal(key_id=key.id, tenant=key.tenant, scopes=tuple(key.scopes))


def list_keys(session: Session, *, limit: int, offset: int) -> tuple[list[ApiKey], int]:
    total = session.scalar(select(func.count()).select_from(ApiKey)) or 0
    rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id).limit(limit).offset(offset))
    return list(rows), total


def revoke_key(session: Session, *, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"key {key_id!r} not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.commit()
    return key


def has_any_key(session: Session) -> bool:
    return session.scalar(select(ApiKey.id).limit(1)) is not None
