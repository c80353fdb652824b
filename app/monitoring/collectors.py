"""Metrics read at scrape time: jobs from the database (cached briefly), and GPU memory of this process.

Workers report their throughput in each job's latest metrics (``samples_per_second`` and
``data_wait_fraction`` of a training step, ``items_done`` of an ingest), so /metrics reads them from the
job rows instead of asking every worker: the numbers are as fresh as the workers' progress writes.
"""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from app.core.db import session_factory
from app.jobs.orm import Job

MAX_RUNNING_READ = 1000  # running jobs are bounded by the workers; the cap keeps one scrape cheap regardless


@dataclass(frozen=True)
class JobFigures:
    counts: list[tuple[str, str, int]]  # (kind, status, jobs)
    running: list[tuple[str, dict[str, Any], datetime | None]]  # (kind, latest metrics, started_at)


def read_job_figures() -> JobFigures:
    """Two queries: jobs grouped by kind and status, and the latest metrics of running jobs."""
    with session_factory()() as session:
        grouped = session.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status))
        counts = [(kind, status, int(n)) for kind, status, n in grouped]
        rows = session.execute(
            select(Job.kind, Job.metrics, Job.started_at).where(Job.status == "running").limit(MAX_RUNNING_READ)
        )
        running = [(kind, metrics or {}, started) for kind, metrics, started in rows]
    return JobFigures(counts, running)


class JobsCollector(Collector):
    """Jobs by kind and status, and the workers' throughput, from the database at most every ``cache_seconds``."""

    def __init__(self, *, cache_seconds: float) -> None:
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()  # concurrent scrapes share one read
        self._figures: JobFigures | None = None
        self._read_at = float("-inf")

    def collect(self) -> Iterator[Metric]:
        figures = self._cached()
        jobs = GaugeMetricFamily(
            "selfsup_jobs", "Jobs by kind (train, ingest, ...) and status.", labels=["kind", "status"]
        )
        for kind, status, count in figures.counts:
            jobs.add_metric([kind, status], count)
        yield jobs
        yield from throughput_families(figures.running, now=datetime.now(UTC))

    def _cached(self) -> JobFigures:
        with self._lock:
            if self._figures is None or time.monotonic() - self._read_at >= self.cache_seconds:
                self._figures = read_job_figures()
                self._read_at = time.monotonic()
            return self._figures


def throughput_families(running: list[tuple[str, dict[str, Any], datetime | None]], *, now: datetime) -> list[Metric]:
    """Summed samples/s of running training jobs (their latest step), their mean data-wait fraction, and
    running ingests' items/s averaged since each started."""
    training = [metrics for kind, metrics, _ in running if kind == "train"]
    samples = GaugeMetricFamily(
        "selfsup_training_samples_per_second", "Summed latest samples/s of the running training jobs."
    )
    samples.add_metric([], sum(float(m.get("samples_per_second", 0.0)) for m in training))
    waits = [float(m["data_wait_fraction"]) for m in training if "data_wait_fraction" in m]
    wait = GaugeMetricFamily(
        "selfsup_training_data_wait_fraction",
        "Mean, over running training jobs, of the share of a step spent waiting for its batch.",
    )
    wait.add_metric([], sum(waits) / len(waits) if waits else 0.0)
    ingest = GaugeMetricFamily(
        "selfsup_ingest_items_per_second", "Summed items/s of running ingests, since each began."
    )
    ingest.add_metric([], sum(_items_per_second(m, started, now) for kind, m, started in running if kind == "ingest"))
    return [samples, wait, ingest]


def _items_per_second(metrics: dict[str, Any], started: datetime | None, now: datetime) -> float:
    if started is None:
        return 0.0
    seconds = (now - started.replace(tzinfo=started.tzinfo or UTC)).total_seconds()
    return float(metrics.get("items_done", 0)) / seconds if seconds > 0 else 0.0


class GpuCollector(Collector):
    """Memory that this process's torch holds on each GPU; nothing where CUDA has not been started here (it is
    never started just to be measured)."""

    def collect(self) -> Iterator[Metric]:
        import torch

        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return
        allocated = GaugeMetricFamily("selfsup_gpu_memory_allocated_bytes", "GPU memory in tensors.", labels=["device"])
        reserved = GaugeMetricFamily(
            "selfsup_gpu_memory_reserved_bytes", "GPU memory held by torch's allocator.", labels=["device"]
        )
        for index in range(torch.cuda.device_count()):
            allocated.add_metric([str(index)], torch.cuda.memory_allocated(index))
            reserved.add_metric([str(index)], torch.cuda.memory_reserved(index))
        yield allocated
        yield reserved
