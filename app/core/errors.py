"""Errors a service raises on purpose, and how they become HTTP responses.

Field errors use FastAPI's own 422 shape (``{"detail": [{"loc", "msg", "type"}]}``) so that a client sees
one format whether pydantic or a service found the problem.
"""

import logging
import math
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException

from app.core.storage import StorageError

log = logging.getLogger(__name__)


REFUSAL_REASON = "refusal_reason"  # request state: why a 429/503 was answered, for the refusals metric


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class Unauthorized(ServiceError):
    status_code = 401

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


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
    app.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _data_error)  # type: ignore[arg-type]
    app.add_exception_handler(StorageError, _storage_error)  # type: ignore[arg-type]


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    if exc.status_code in (429, 503):
        setattr(request.state, REFUSAL_REASON, _snake_case(type(exc).__name__))
    detail: object = exc.errors if isinstance(exc, FieldErrors) else exc.message
    return JSONResponse(status_code=exc.status_code, content={"detail": json_safe(detail)}, headers=exc.headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own 422, but able to quote any input (NaN, a lone surrogate, bytes that are not UTF-8) and
    bounded: echoing every error with its whole input turned a 60 MB body into an 80 MB answer that took 94 s
    to build on the event loop. The first errors are shown, each input quoted in a few hundred characters."""
    errors = exc.errors()
    shown = [_bounded_error(error) for error in errors[:MAX_SHOWN_ERRORS]]
    if len(errors) > MAX_SHOWN_ERRORS:
        more = len(errors) - MAX_SHOWN_ERRORS
        shown.append({"loc": ["body"], "msg": f"and {more} more errors like these", "type": "too_many_errors"})
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(json_safe(shown))})


MAX_SHOWN_ERRORS = 20
MAX_QUOTED_CHARS = 200
MAX_QUOTED_ITEMS = 8


def _bounded_error(error: dict[str, Any]) -> dict[str, Any]:
    bounded = {key: value for key, value in error.items() if key not in ("input", "ctx")}
    if "input" in error:
        bounded["input"] = quoted(error["input"])
    if isinstance(error.get("ctx"), dict):
        bounded["ctx"] = {key: quoted(value) for key, value in error["ctx"].items()}
    return bounded


def quoted(value: object, depth: int = 0) -> object:
    """``value`` cut to a few hundred characters: a long string is shortened, a large or deep array or object
    is described rather than copied."""
    if isinstance(value, str | bytes):
        return value if len(value) <= MAX_QUOTED_CHARS else f"{value[:MAX_QUOTED_CHARS]!r}... ({len(value)} long)"
    if isinstance(value, list | tuple | dict):
        if len(value) > MAX_QUOTED_ITEMS or depth >= 2:
            return f"<{'an object' if isinstance(value, dict) else 'an array'} of {len(value)} items>"
        if isinstance(value, dict):
            return {quoted(str(key), depth + 1): quoted(item, depth + 1) for key, item in value.items()}
        return [quoted(item, depth + 1) for item in value]
    if isinstance(value, int) and value.bit_length() > 64:  # str() of a huge integer is itself slow, or refused
        return f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, int | float | bool) or value is None:
        return value
    return quoted(str(value), depth)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """A body FastAPI could not parse (too deep for the parser, an integer of 5000 digits) is a 422 that says why;
    FastAPI's own answer is a bare 400 "There was an error parsing the body"."""
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, RecursionError | ValueError):
        reason = "nested too deeply" if isinstance(cause, RecursionError) else str(cause)
        error = {"loc": ["body"], "msg": f"cannot be parsed: {reason}", "type": "value_error"}
        return JSONResponse(status_code=422, content={"detail": [json_safe(error)]})
    return await http_exception_handler(request, exc)


async def _storage_error(request: Request, exc: StorageError) -> JSONResponse:
    """The object store is away: the client may retry; where the store is stays in the log, not the answer."""
    log.error("%s %s: %s", request.method, request.url.path, exc)
    detail = "blob storage is not answering; try again shortly"
    return JSONResponse(status_code=503, content={"detail": detail}, headers={"Retry-After": "10"})


async def _data_error(request: Request, exc: DataError) -> JSONResponse:
    """A value the database refuses (a NUL character, a number out of its range) came from the request."""
    reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
    log.warning("%s %s: the database refused a value: %s", request.method, request.url.path, reason)
    detail = f"a value in this request cannot be stored or compared: {reason}"
    return JSONResponse(status_code=422, content={"detail": json_safe(detail)})


def json_safe(value: object) -> object:
    """``value`` with what JSON cannot carry spelled out: non-finite floats as text, lone surrogates escaped,
    bytes decoded. Error details quote client input, and that input can hold all three."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value
