"""uvicorn's logging, minus the API keys a careless client puts in a URL.

Keys belong in the ``Authorization`` header and a key in the query string is refused, but uvicorn's access
log records the request line before anyone looks at it: a key sent as ``?api_key=ssk_...`` would sit in
every log file and log shipper downstream. The filter here rewrites such values before a line is formatted.
"""

import copy
import logging
import re
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


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with :class:`RedactSecrets` on every handler."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_secrets": {"()": f"{__name__}.RedactSecrets"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_secrets"]
    return config
