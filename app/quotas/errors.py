"""The error a tenant gets when it is over one of its limits."""

from app.core.errors import ServiceError


class QuotaExceeded(ServiceError):
    """429: the message names the limit and its value; Retry-After only where the limit frees up by itself."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        super().__init__(message, headers=headers)
