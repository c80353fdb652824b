"""``client.jobs``: submit, get, list, cancel, metrics, and wait with progress (events, else polling)."""

import time
from collections.abc import Callable
from typing import Any, cast

import httpx

from selfsup_client.errors import SelfSupError, WaitTimeoutError
from selfsup_client.events import JobEvent, parse_events, route_is_missing
from selfsup_client.schemas import TERMINAL_STATUSES, Job, MetricPoint
from selfsup_client.transport import Transport

ProgressCallback = Callable[[Job], None]
MetricCallback = Callable[[MetricPoint], None]
RECONNECT_DELAY_SECONDS = 1.0
MetricPoints = list[MetricPoint]  # a name, since the class below has a method called list


class Jobs:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def submit(
        self, dataset: str, method: str | None = None, params: dict[str, Any] | None = None, *, name: str | None = None
    ) -> Job:
        """A job on ``dataset``; ``method`` None: the service's default for the dataset's modality."""
        body = {"dataset_id": dataset, "method": method, "params": params or {}, "name": name}
        return cast(Job, self._transport.request("POST", "/v1/jobs", json=body))

    def get(self, job: Job | str) -> Job:
        return cast(Job, self._transport.request("GET", f"/v1/jobs/{job_id(job)}"))

    def list(self, *, status: str | None = None, limit: int = 50, offset: int = 0) -> list[Job]:
        params: dict[str, Any] = {"limit": limit, "offset": offset, **({"status": status} if status else {})}
        return cast(list[Job], self._transport.request("GET", "/v1/jobs", params=params)["items"])

    def count(self, *, status: str | None = None) -> int:
        """How many jobs this tenant has (in ``status``): the page's total, not a page of them."""
        params: dict[str, Any] = {"limit": 1, **({"status": status} if status else {})}
        return int(self._transport.request("GET", "/v1/jobs", params=params)["total"])

    def cancel(self, job: Job | str) -> Job:
        return cast(Job, self._transport.request("POST", f"/v1/jobs/{job_id(job)}/cancel"))

    def metrics(self, job: Job | str, *, kind: str | None = None, limit: int = 1000, offset: int = 0) -> MetricPoints:
        params: dict[str, Any] = {"limit": limit, "offset": offset, **({"kind": kind} if kind else {})}
        history = self._transport.request("GET", f"/v1/jobs/{job_id(job)}/metrics", params=params)
        return cast(MetricPoints, history["points"])

    def wait(
        self,
        job: Job | str,
        *,
        on_progress: ProgressCallback | None = None,
        on_metric: MetricCallback | None = None,
        timeout: float = 24 * 3600.0,
        poll_interval: float = 1.0,
    ) -> Job:
        """Until the job ends; its final state (check ``status``: succeeded, failed or canceled).

        ``on_progress`` gets the job each time it changes, ``on_metric`` each new metrics point (events only).
        Uses the server's event stream, reconnecting when the server closes it; polls where it has none."""
        deadline = time.monotonic() + timeout
        final = self._follow_events(job_id(job), deadline, on_progress, on_metric)
        return final if final is not None else self._poll(job_id(job), deadline, on_progress, poll_interval)

    def _follow_events(
        self, job: str, deadline: float, on_progress: ProgressCallback | None, on_metric: MetricCallback | None
    ) -> Job | None:
        """The final job, or None when the server has no event stream. A refusal (429 past the tenant's open
        streams, say) is retried like any request, then raised."""
        while time.monotonic() < deadline:
            try:
                with self._transport.stream("GET", f"/v1/jobs/{job}/events") as response:
                    for event in parse_events(response.iter_lines()):
                        if (final := _dispatch(event, on_progress, on_metric)) is not None:
                            return final
            except SelfSupError as exc:
                if route_is_missing(exc):
                    return None
                raise
            except httpx.TransportError:
                pass  # the stream's lifetime budget, or a dropped connection: reconnect
            time.sleep(RECONNECT_DELAY_SECONDS)
        raise WaitTimeoutError(f"{job} did not end in time")

    def _poll(self, job: str, deadline: float, on_progress: ProgressCallback | None, interval: float) -> Job:
        last: Job | None = None
        while time.monotonic() < deadline:
            current = self.get(job)
            if on_progress is not None and current != last:
                on_progress(current)
            if current["status"] in TERMINAL_STATUSES:
                return current
            last = current
            time.sleep(interval)
        raise WaitTimeoutError(f"{job} did not end in time")


def _dispatch(event: JobEvent, on_progress: ProgressCallback | None, on_metric: MetricCallback | None) -> Job | None:
    if event.type in ("job", "end") and on_progress is not None:
        on_progress(cast(Job, event.data))
    elif event.type == "metric" and on_metric is not None:
        on_metric(cast(MetricPoint, event.data))
    return cast(Job, event.data) if event.type == "end" else None


def job_id(job: Job | str) -> str:
    return job if isinstance(job, str) else job["id"]
