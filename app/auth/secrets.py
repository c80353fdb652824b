"""Key material: random secrets with a recognizable prefix, stored only as SHA-256 digests.

A 256-bit random secret cannot be guessed or brute-forced from its digest, so a fast hash is enough here
(slow password hashes exist for low-entropy, human-chosen secrets).
"""

import hashlib
import hmac
import secrets

from app.core.config import KEY_PATTERN

KEY_PREFIX = "ssk_"
SHOWN_PREFIX_LENGTH = 12


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def shown_prefix(secret: str) -> str:
    return secret[:SHOWN_PREFIX_LENGTH]


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def is_well_formed(secret: str) -> bool:
    return bool(KEY_PATTERN.match(secret))
