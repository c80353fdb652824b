"""Errors a service raises on purpose, and how they become HTTP responses.

Field errors use FastAPI's own 422 shape (``{"detail": [{"loc", "msg", "type"}]}``) so that a client sees
one format whether pydantic or a service found the problem.
"""

from collections.abc import Sequence
from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class ServiceError(Exception):
    status_code = 400
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(ServiceError):
    status_code = 401
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class Forbidden(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class PayloadTooLarge(ServiceError):
    status_code = 413


class Unprocessable(ServiceError):
    """Input that is well-formed HTTP but cannot be used (a corrupt image, a bad archive)."""

    status_code = 422


class FieldErrors(ServiceError):
    """One or more named fields are invalid."""

    status_code = 422

    def __init__(self, errors: Sequence[tuple[Sequence[str | int], str]]) -> None:
        self.errors = [{"loc": list(loc), "msg": msg, "type": "value_error"} for loc, msg in errors]
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))


class ServiceUnavailable(ServiceError):
    status_code = 503


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        detail: object = exc.errors if isinstance(exc, FieldErrors) else exc.message
        return JSONResponse(status_code=exc.status_code, content={"detail": detail}, headers=exc.headers)
