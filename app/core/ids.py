"""Public identifiers: a short type prefix and 96 random bits, e.g. ``job_3f9c0a...``."""

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
