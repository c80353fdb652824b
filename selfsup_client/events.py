"""Reading ``GET /v1/jobs/{id}/events`` (server-sent events), with polling where a server lacks the route."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from selfsup_client.errors import SelfSupError


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


def route_is_missing(error: SelfSupError) -> bool:
    """An older server: no events route (404 from the router rather than for the job, or 405)."""
    return error.status == 405 or (error.status == 404 and error.detail == "Not Found")
