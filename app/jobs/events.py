"""``GET /v1/jobs/{id}/events``: a job's changes as server-sent events, read from the database.

Each open stream polls the job every ``event_stream_poll_seconds`` in a worker thread (never on the event
loop) and sends ``job`` when the job as ``GET /v1/jobs/{id}`` shows it changed, ``metric`` for each history
point written since the stream opened, and ``end`` with the final job, after which it closes. Its budget: at
most ``tenant_max_event_streams`` open per tenant in this process (429 past it), and at most
``event_stream_max_seconds`` each, after which it closes without ``end`` and the client reconnects.
"""

import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.core.db import session_factory
from app.jobs.orm import JobMetric
from app.jobs.schemas import JobOut, MetricPoint
from app.jobs.service import TERMINAL_STATES, get_job
from app.quotas.errors import QuotaExceeded

KEEPALIVE_SECONDS = 15.0
POINTS_PER_POLL = 500  # a burst of history is sent over several polls rather than read at once


class StreamSlots:
    """Open event streams per tenant, at most ``limit`` each (route threads take slots; streams give them back)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, tenant: str) -> Callable[[], None]:
        """A slot for ``tenant``, or :class:`QuotaExceeded`; returns what gives it back."""
        with self._lock:
            if self._open.get(tenant, 0) >= self.limit:
                raise QuotaExceeded(
                    f"this tenant already has {self.limit} job event streams open (the limit); close one",
                    retry_after=5,
                )
            self._open[tenant] = self._open.get(tenant, 0) + 1
        return lambda: self._give_back(tenant)

    def _give_back(self, tenant: str) -> None:
        with self._lock:
            self._open[tenant] -= 1
            if not self._open[tenant]:
                del self._open[tenant]


@dataclass(frozen=True)
class StreamBudget:
    poll_seconds: float
    max_seconds: float


@dataclass(frozen=True)
class Snapshot:
    job: JobOut
    points: list[tuple[int, MetricPoint]]  # (history row id, point), oldest first


def read_snapshot(*, tenant: str, job_id: str, after: int) -> Snapshot:
    """The job and its history points with row ids above ``after``."""
    with session_factory()() as session:
        job = JobOut.from_row(get_job(session, tenant=tenant, job_id=job_id))
        rows = session.scalars(
            select(JobMetric).where(JobMetric.job_id == job_id, JobMetric.id > after).order_by(JobMetric.id)
        ).fetchmany(POINTS_PER_POLL)
        return Snapshot(job, [(row.id, MetricPoint.model_validate(row)) for row in rows])


def last_point_id(*, job_id: str) -> int:
    """Where the stream's history starts: points already written are for ``GET /v1/jobs/{id}/metrics``."""
    with session_factory()() as session:
        return int(session.scalar(select(func.max(JobMetric.id)).where(JobMetric.job_id == job_id)) or 0)


def sse(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


async def job_events(*, tenant: str, job_id: str, budget: StreamBudget) -> AsyncIterator[bytes]:
    """The stream's bytes: ``job`` first, then changes until the job ends or the budget's lifetime passes."""
    after = await run_in_threadpool(last_point_id, job_id=job_id)
    started = last_sent = time.monotonic()
    shown: str | None = None
    while time.monotonic() - started < budget.max_seconds:
        snapshot = await run_in_threadpool(read_snapshot, tenant=tenant, job_id=job_id, after=after)
        chunks = [sse("metric", point.model_dump_json()) for _, point in snapshot.points]
        after = snapshot.points[-1][0] if snapshot.points else after
        if (job := snapshot.job.model_dump_json()) != shown:
            chunks.append(sse("job", job))
            shown = job
        ended = snapshot.job.status in TERMINAL_STATES and len(snapshot.points) < POINTS_PER_POLL
        if ended:
            chunks.append(sse("end", job))
        if not chunks and time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            chunks.append(b": keep-alive\n\n")
        if chunks:
            yield b"".join(chunks)
            last_sent = time.monotonic()
        if ended:
            return
        await anyio.sleep(budget.poll_seconds)


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` that gives its slot back however it ends: done, client gone, or never started."""

    def __init__(self, body: AsyncIterator[bytes], *, on_close: Callable[[], None]) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # proxies must not hold events back
        super().__init__(body, media_type="text/event-stream", headers=headers)
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()
