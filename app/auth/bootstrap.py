"""The bootstrap key: the operator's, created on first start so that a fresh install can be used at all.

It holds the ``operator`` scope (every tenant's keys); tenants get ``admin`` keys scoped to themselves.
"""

import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.orm import ApiKey
from app.auth.secrets import digest
from app.auth.service import DEFAULT_TENANT, OPERATOR, create_key, has_any_key
from app.core.config import Settings
from app.core.db import session_factory

ADMIN_KEY_FILE = "admin-key.txt"
BOOTSTRAP_NAME = "bootstrap admin"


def ensure_admin_key(settings: Settings) -> str | None:
    """Create the bootstrap key if needed; return its secret only when it was generated here.

    With ``SELFSUP_BOOTSTRAP_ADMIN_KEY`` set, that key is created once (a later revocation sticks). Without
    it, a random key is generated only when no key exists at all, and saved to a file only the owner can read.
    """
    configured = settings.bootstrap_admin_key
    with session_factory()() as session:
        _promote_bootstrap_keys(session, configured)
        if configured is not None:
            if session.scalar(select(ApiKey.id).where(ApiKey.secret_hash == digest(configured))) is None:
                create_key(session, name=BOOTSTRAP_NAME, tenant=DEFAULT_TENANT, scopes=[OPERATOR], secret=configured)
            return None
        if has_any_key(session):
            return None
        _, secret = create_key(session, name=BOOTSTRAP_NAME, tenant=DEFAULT_TENANT, scopes=[OPERATOR])
    _write_private(settings.data_dir / ADMIN_KEY_FILE, secret + "\n")
    return secret


def promote_bootstrap_keys(settings: Settings) -> None:
    """Give an older install's bootstrap key the ``operator`` scope it now needs (scopes is JSON: no migration)."""
    with session_factory()() as session:
        _promote_bootstrap_keys(session, settings.bootstrap_admin_key)


def _promote_bootstrap_keys(session: Session, configured: str | None) -> None:
    # The generated key is the first key ever stored (it is made only when none exists); a key that merely
    # took its name later does not qualify. The configured one is known by its secret.
    first = session.scalar(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id).limit(1))
    candidates = [first] if first is not None and first.name == BOOTSTRAP_NAME else []
    if configured is not None:
        candidates += session.scalars(select(ApiKey).where(ApiKey.secret_hash == digest(configured)))
    for key in candidates:
        if key.tenant == DEFAULT_TENANT and "admin" in key.scopes and OPERATOR not in key.scopes:
            key.scopes = [OPERATOR]
    session.commit()


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # also when the file already existed with wider permissions
