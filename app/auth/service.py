"""Creating, checking, listing and revoking API keys, and who may do which to whose keys.

A key belongs to one tenant. An ``admin`` manages the keys of its own tenant only; the ``operator`` scope,
held by the bootstrap key, manages every tenant's. Nobody grants, or takes away, more than it holds.
"""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth import secrets
from app.auth.orm import ApiKey
from app.core.db import utcnow
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.ids import new_id

SCOPES = ("read", "write", "admin", "operator")  # each includes the ones before it
OPERATOR = "operator"
DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its tenant and its scopes."""

    key_id: str
    tenant: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        return any(SCOPES.index(held) >= SCOPES.index(scope) for held in self.scopes)

    def manages(self, tenant: str) -> bool:
        """Whether this principal may create, list and revoke keys of ``tenant``."""
        return tenant == self.tenant or self.allows(OPERATOR)


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


def issue_key(
    session: Session, *, caller: Principal, name: str, tenant: str | None, scopes: list[str]
) -> tuple[ApiKey, str]:
    """A key created by ``caller``: in its own tenant unless it is an operator, never above its own scopes."""
    tenant = tenant or caller.tenant
    if not caller.manages(tenant):
        raise Forbidden(
            f"creating a key for tenant {tenant!r} needs the '{OPERATOR}' scope; "
            f"this key manages only its own tenant {caller.tenant!r}"
        )
    _check_within_reach(caller, scopes, doing="grant the scopes")
    return create_key(session, name=name, tenant=tenant, scopes=scopes)


def authenticate(session: Session, *, secret: str) -> Principal | None:
    """The principal behind a presented secret, or None if it is unknown or revoked."""
    if not secrets.is_well_formed(secret):
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == secrets.digest(secret)))
    if key is None or key.revoked_at is not None:
        return None
    return Principal(key_id=key.id, tenant=key.tenant, scopes=tuple(key.scopes))


def list_keys(
    session: Session, *, caller: Principal, tenant: str | None, limit: int, offset: int
) -> tuple[list[ApiKey], int]:
    """The keys ``caller`` manages: its tenant's, or for an operator every tenant's (``tenant`` narrows it)."""
    if tenant is not None and not caller.manages(tenant):
        raise Forbidden(f"listing the keys of tenant {tenant!r} needs the '{OPERATOR}' scope")
    if tenant is None and not caller.allows(OPERATOR):
        tenant = caller.tenant
    where = [] if tenant is None else [ApiKey.tenant == tenant]
    total = session.scalar(select(func.count()).select_from(ApiKey).where(*where)) or 0
    query = select(ApiKey).where(*where).order_by(ApiKey.created_at.desc(), ApiKey.id)
    return list(session.scalars(query.limit(limit).offset(offset))), total


def revoke_key(session: Session, *, caller: Principal, key_id: str) -> ApiKey:
    """Revoke a key ``caller`` manages; another tenant's key is as unknown to an admin as a missing one."""
    key = session.get(ApiKey, key_id)
    if key is None or not caller.manages(key.tenant):
        raise NotFound(f"key {key_id!r} not found")
    _check_within_reach(caller, key.scopes, doing="revoke a key holding")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.commit()
    return key


def has_any_key(session: Session) -> bool:
    return session.scalar(select(ApiKey.id).limit(1)) is not None


def _check_within_reach(caller: Principal, scopes: list[str], *, doing: str) -> None:
    # Scopes nest, so a key never handles one above its own: an admin could otherwise mint an operator key,
    # or lock the operator out by revoking the bootstrap key of its tenant.
    if beyond := [scope for scope in scopes if scope in SCOPES and not caller.allows(scope)]:
        raise Forbidden(f"this key cannot {doing} {beyond}: it holds only {list(caller.scopes)}")
