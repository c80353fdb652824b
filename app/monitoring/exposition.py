"""The text /metrics answers: this process's (or, in multiprocess mode, every API process's) instruments,
then the figures read at scrape time.

Multiprocess mode: with several uvicorn workers each process counts only its own requests, so a scrape, which
reaches one of them, would see a fraction. Point ``PROMETHEUS_MULTIPROC_DIR`` at an empty folder, writable by
the API, before the processes start (``selfsup api`` does that, under the data dir, when
``SELFSUP_API_WORKERS`` > 1): each then writes its values to files there and every scrape sums them.
"""

import os
import shutil
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.registry import Collector

from app.monitoring.collectors import GpuCollector, JobsCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Exposition:
    """What one API process shows at /metrics."""

    def __init__(self, *, jobs_cache_seconds: float) -> None:
        self.scraped = CollectorRegistry(auto_describe=False)  # figures computed per scrape, in this process
        collectors: tuple[Collector, ...] = (JobsCollector(cache_seconds=jobs_cache_seconds), GpuCollector())
        for collector in collectors:
            self.scraped.register(collector)

    def render(self) -> bytes:
        """Prometheus text format: the instruments' families, then the scraped ones (no name is in both)."""
        return generate_latest(_instruments()) + generate_latest(self.scraped)


def _instruments() -> CollectorRegistry:
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    summed = CollectorRegistry()
    multiprocess.MultiProcessCollector(summed)  # reads every process's files on each scrape
    return summed


def prepare_multiprocess_dir(data_dir: Path, *, workers: int) -> Path | None:
    """For ``selfsup api`` before uvicorn starts ``workers`` processes: an emptied folder for their metric
    files, named in the environment the processes inherit; None with one worker or a folder set already.

    Emptied because files of processes gone (a previous run) would otherwise be counted again.
    """
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        return None
    folder = data_dir / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder
