"""The service's logs: one JSON line per request and per job event, minus the API keys a careless client puts
in a URL.

Keys belong in the ``Authorization`` header and a key in the query string is refused, but uvicorn's access
log records the request line before anyone looks at it: a key sent as ``?api_key=ssk_...`` would sit in
every log file and log shipper downstream. The filter here rewrites such values before a line is formatted.

Request lines (logger ``selfsup.access``, written by app.monitoring.requests) replace uvicorn's access lines
and carry no path, query string or header at all: the route template, the status, the tenant, the request id.
Job events (logger ``selfsup.jobs``, written by the workers) carry the job id, tenant and what happened.
"""

import copy
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from uvicorn.config import LOGGING_CONFIG

REDACTED = "[redacted]"
SECRET = re.compile(r"ssk_[A-Za-z0-9_-]+", re.IGNORECASE)
QUERY_PARAMETER = re.compile(r"(?P<name>[?&;][^=&;#\s\"]*=)(?P<value>[^&;#\s\"]*)")
SECRET_PARAMETERS = frozenset({"api_key", "apikey", "api-key", "key", "token", "access_token", "authorization"})


def redact(text: str) -> str:
    """``text`` with every query value that is, or is named like, a key replaced, and any bare key too."""
    return SECRET.sub(REDACTED, QUERY_PARAMETER.sub(_redact_parameter, text))


def _redact_parameter(match: re.Match[str]) -> str:
    name, value = unquote_plus(match["name"][1:-1]).lower(), unquote_plus(match["value"]).lower()
    if name in SECRET_PARAMETERS or "ssk_" in value:  # percent-encoding must not smuggle a key past
        return match["name"] + REDACTED
    return match[0]


class RedactSecrets(logging.Filter):
    """Redacts keys in a record's message and arguments (uvicorn passes the request line as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


ACCESS_LOGGER = "selfsup.access"
JOBS_LOGGER = "selfsup.jobs"


class JsonLines(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, and the fields passed as ``extra={"fields":
    {...}}``; string values are redacted like any other line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(record.getMessage()),
        }
        for name, value in getattr(record, "fields", {}).items():
            line[name] = redact(value) if isinstance(value, str) else value
        return json.dumps(line, default=str)


def log_job_event(event: str, *, job_id: str, tenant: str | None = None, **fields: Any) -> None:
    """One JSON line for a job's ``event`` (claimed, epoch, succeeded, failed, ...)."""
    _job_logger().info(event, extra={"fields": {"job_id": job_id, "tenant": tenant, **fields}})


def _job_logger() -> logging.Logger:
    """The job-event logger, writing JSON lines to stderr whatever logging the host process (Celery) set up."""
    logger = logging.getLogger(JOBS_LOGGER)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.__stderr__)  # past Celery's redirect of sys.stderr
        handler.setFormatter(JsonLines())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # Celery's root handler would wrap the line in its own prefix
    return logger


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with :class:`RedactSecrets` on every handler, uvicorn's access lines
    replaced by our JSON request lines."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_secrets": {"()": f"{__name__}.RedactSecrets"}}
    config["formatters"]["json"] = {"()": f"{__name__}.JsonLines"}
    config["handlers"]["json"] = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_secrets"]
    config["loggers"]["uvicorn.access"] = {"handlers": [], "level": "WARNING", "propagate": False}
    config["loggers"][ACCESS_LOGGER] = {"handlers": ["json"], "level": "INFO", "propagate": False}
    return config
