"""Reading ``GET /v1/jobs/{id}/events`` (server-sent events), with polling where a server lacks the route."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class JobEvent:
    """``type`` is ``job`` (data: the job), ``metric`` (data: one metrics point) or ``end`` (the final job)."""

    type: str
    data: Any


def parse_events(lines: Iterator[str]) -> Iterator[JobEvent]:
    """The text/event-stream framing: ``event:`` and ``data:`` lines, a blank line ends an event, ``:`` a
    comment (the keep-alive)."""
    kind, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield JobEvent(kind, json.loads("\n".join(data)))
            kind, data = "message", []
        elif line.startswith("event:"):
            kind = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].removeprefix(" "))


def stream_is_missing(response: httpx.Response) -> bool:
    """An older server: no events route (404 from the router rather than for the job, or 405)."""
    if response.status_code == 405:
        return True
    if response.status_code != 404:
        return False
    response.read()
    return _detail(response) == "Not Found"


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail")
    except (ValueError, AttributeError):
        return None
