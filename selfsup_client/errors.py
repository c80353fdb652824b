"""Exceptions for what the server refused: each carries the HTTP status and the server's own message."""

from typing import Any

import httpx


class SelfSupError(Exception):
    """A refusal or failure; ``status`` is the HTTP status (None when there was no answer at all)."""

    def __init__(self, message: str, *, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message if status is None else f"{status}: {message}")
        self.message = message
        self.status = status
        self.detail = detail


class AuthenticationError(SelfSupError):
    """401: no key, or one the server does not know (SELFSUP_API_KEY)."""


class PermissionDeniedError(SelfSupError):
    """403: the key lacks the scope the call needs."""


class NotFoundError(SelfSupError):
    """404: no such resource for this key's tenant."""


class ConflictError(SelfSupError):
    """409: the resource is not in a state that allows this (a dataset still processing, say)."""


class PayloadTooLargeError(SelfSupError):
    """413: more than the server's budget allows."""


class ValidationError(SelfSupError):
    """422: bad input; the message names the field and the problem."""


class RateLimitedError(SelfSupError):
    """429 after the retries ran out: the tenant's quota."""


class ServiceUnavailableError(SelfSupError):
    """503 after the retries ran out: the server is saturated or a dependency is down."""


class JobFailedError(SelfSupError):
    """A job or dataset ended failed (or canceled); ``detail`` is its final JSON."""


class WaitTimeoutError(SelfSupError):
    """A wait ran past its timeout."""


ERRORS_BY_STATUS: dict[int, type[SelfSupError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def error_from_response(response: httpx.Response) -> SelfSupError:
    detail = _detail(response)
    kind = ERRORS_BY_STATUS.get(response.status_code, SelfSupError)
    return kind(describe_detail(detail) or response.reason_phrase, status=response.status_code, detail=detail)


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text[:2000]
    if isinstance(body, dict):
        # Ours say {"detail": ...}; the OpenAI-compatible routes say {"error": {"message": ...}}.
        error = body.get("error")
        return body.get("detail", error.get("message") if isinstance(error, dict) else body)
    return body


def describe_detail(detail: Any) -> str:
    """FastAPI's list of field errors as one line: ``body.name: Field required; ...``."""
    if isinstance(detail, list):
        return "; ".join(_describe_one(error) for error in detail)
    return "" if detail is None else str(detail)


def _describe_one(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", error))
