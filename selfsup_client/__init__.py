"""A Python client for a selfsup server: ``from selfsup_client import Client, SelfSupError``."""

from selfsup_client.client import Client
from selfsup_client.errors import (
    AuthenticationError,
    ConflictError,
    JobFailedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    SelfSupError,
    ServiceUnavailableError,
    ValidationError,
    WaitTimeoutError,
)
from selfsup_client.events import JobEvent
from selfsup_client.transport import Retry, RetryHook

__all__ = [
    "AuthenticationError",
    "Client",
    "ConflictError",
    "JobEvent",
    "JobFailedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "Retry",
    "RetryHook",
    "SelfSupError",
    "ServiceUnavailableError",
    "ValidationError",
    "WaitTimeoutError",
]
