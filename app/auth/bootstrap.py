"""The first admin key: created on first start so that a fresh install can be used at all."""

import os
from pathlib import Path

from sqlalchemy import select

from app.auth.orm import ApiKey
from app.auth.secrets import digest
from app.auth.service import DEFAULT_TENANT, create_key, has_any_key
from app.core.config import Settings
from app.core.db import session_factory

ADMIN_KEY_FILE = "admin-key.txt"


def ensure_admin_key(settings: Settings) -> str | None:
    """Create the bootstrap admin key if needed; return its secret only when it was generated here.

    With ``SELFSUP_BOOTSTRAP_ADMIN_KEY`` set, that key is created once (a later revocation sticks). Without
    it, a random admin key is generated only when no key exists at all, and saved to a file only the owner
    can read.
    """
    configured = settings.bootstrap_admin_key
    with session_factory()() as session:
        if configured is not None:
            if session.scalar(select(ApiKey.id).where(ApiKey.secret_hash == digest(configured))) is None:
                create_key(session, name="bootstrap admin", tenant=DEFAULT_TENANT, scopes=["admin"], secret=configured)
            return None
        if has_any_key(session):
            return None
        _, secret = create_key(session, name="bootstrap admin", tenant=DEFAULT_TENANT, scopes=["admin"])
    _write_private(settings.data_dir / ADMIN_KEY_FILE, secret + "\n")
    return secret


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # also when the file already existed with wider permissions
