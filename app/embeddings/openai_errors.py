"""Errors in OpenAI's shape for the OpenAI-compatible routes, and only there.

OpenAI answers every failure with ``{"error": {"message", "type", "param", "code"}}`` and uses 400 where
FastAPI uses 422; its client libraries read that shape (the ``openai`` package picks its exception class from
the status, and shows ``message``). The rest of our API keeps FastAPI's ``{"detail": ...}``, so instead of
global exception handlers, :class:`OpenAIRoute` translates what its routes raise, dependencies included
(the admission gate's 503, the key check's 401), keeping headers such as ``Retry-After`` and
``WWW-Authenticate``.
"""

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from app.core.errors import FieldErrors, ServiceError, json_safe
from app.embeddings.openai_schemas import INPUT_SHAPES


class OpenAIError(Exception):
    """An error this module's routes raise with OpenAI's fields spelled out."""

    def __init__(self, status_code: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status_code, self.message, self.param, self.code = status_code, message, param, code


class OpenAIRoute(APIRoute):
    """A route whose errors come out in OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def openai_shaped(request: Request) -> Response:
            try:
                return await handler(request)
            except (OpenAIError, ServiceError, RequestValidationError, HTTPException) as exc:
                return error_response(exc)

        return openai_shaped


def error_response(exc: Exception) -> JSONResponse:
    if isinstance(exc, OpenAIError):
        return _respond(exc.status_code, exc.message, param=exc.param, code=exc.code)
    if isinstance(exc, RequestValidationError):
        message, param = _validation_message(exc.errors())
        return _respond(400, message, param=param)
    if isinstance(exc, FieldErrors):
        message, param = _field_message(exc.errors)
        return _respond(400, message, param=param)
    if isinstance(exc, ServiceError):
        return _respond(exc.status_code, exc.message, headers=exc.headers)
    assert isinstance(exc, HTTPException)  # a body refused while read (too large, NaN, nested too deep)
    return _respond(exc.status_code, _detail_message(exc.detail), headers=exc.headers)


def _respond(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    status = 400 if status == 422 else status  # OpenAI says 400 for every request it cannot use
    kind, default_code = _kind(status)
    error = {"message": message, "type": kind, "param": param, "code": code or default_code}
    return JSONResponse({"error": json_safe(error)}, status_code=status, headers=headers)


def _kind(status: int) -> tuple[str, str | None]:
    """OpenAI's ``type`` for a status, and its ``code`` where the status alone decides it."""
    if status == 401:
        return "invalid_request_error", "invalid_api_key"
    if status == 429:
        return "requests", "rate_limit_exceeded"
    if status >= 500:
        return "server_error", None
    return "invalid_request_error", None


def _validation_message(errors: Sequence[Any]) -> tuple[str, str | None]:
    """The first problem pydantic found, in words, and the top-level field it is in."""
    error = errors[0]
    loc = [part for part in error["loc"] if part != "body"]
    if error["type"] == "json_invalid":
        return f"the request body is not valid JSON: {error.get('ctx', {}).get('error', error['msg'])}", None
    if not loc or not isinstance(loc[0], str):
        return "the request body must be a JSON object", None
    param = loc[0]
    if error["type"] == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}", param
    if error["type"] == "missing":
        return f"'{param}' is required", param
    if error["type"] == "value_error":  # our own validators' words, which leave the field's name to us
        return f"'{param}' {error['msg'].removeprefix('Value error, ')}", param
    if param == "input":  # a union's failure lists every alternative; one sentence says it better
        return f"'input' must be {INPUT_SHAPES}", param
    return f"'{param}': {error['msg']}", param


def _field_message(errors: Sequence[dict[str, Any]]) -> tuple[str, str | None]:
    """A service's named field, ``["body", "input", 3]``, as ``input[3]``."""
    loc = [part for part in errors[0]["loc"] if part != "body"]
    if not loc:
        return errors[0]["msg"], None
    where = str(loc[0]) + "".join(f"[{part}]" for part in loc[1:])
    return f"{where}: {errors[0]['msg']}", str(loc[0])


def _detail_message(detail: object) -> str:
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return str(detail[0].get("msg", detail))
    return str(detail)
