"""One ingest attempt of one dataset: claim, fetch the upload, ingest it, publish it whole, mark it ready.

Nothing half-written outlives an attempt: its work lies in a staging directory named after the job and the
attempt (removed when it ends, and by the next attempt or the reaper if its process was killed); the dataset
is published under ``datasets/<id>`` (one rename on a local disk, an upload to an object store) just before the
commit that marks it ready, and removed again if that commit fails; a retried attempt first removes what an
earlier one may have published without committing.
"""

import contextlib
import logging
import time
from pathlib import Path

from app.core.config import Settings
from app.core.db import session_factory
from app.core.errors import PayloadTooLarge, Unprocessable
from app.core.storage import Storage, open_storage
from app.core.storage.imports import ImportRefused
from app.datasets.ingest import Ingested
from app.datasets.ingest_jobs import (
    IngestTask,
    abandoned_ingests,
    dataset_key,
    fail_dataset,
    mark_failed,
    mark_ready,
    read_task,
    staging_prefix,
)
from app.datasets.modalities import run_ingest
from app.jobs.lease import Claim, report_counters
from app.quotas import service as quotas
from app.quotas.errors import QuotaExceeded
from worker.attempts import outcome, release, staged_attempt
from worker.heartbeat import Heartbeat, LeaseLost
from worker.sources import fetch_source

log = logging.getLogger(__name__)

# What fails a dataset for good: the input (or the tenant's room for it) is what it is, another try would not help.
BAD_INPUT = (Unprocessable, PayloadTooLarge, QuotaExceeded, ImportRefused)


class DatasetGone(Exception):
    """The dataset was deleted before its ingest ran."""


class ProgressReporter:
    """Passes the ingest's counters to the job row, fenced by the claim, at most every ``interval`` seconds."""

    def __init__(self, claim: Claim, heartbeat: Heartbeat, *, interval: float) -> None:
        self.claim, self.heartbeat, self.interval = claim, heartbeat, interval
        self.counters: dict[str, int] = {}
        self._last_write = float("-inf")

    def __call__(self, counters: dict[str, int]) -> None:
        self.counters.update(counters)
        if self.heartbeat.lost:
            raise LeaseLost(self.claim.job_id)
        if time.monotonic() - self._last_write >= self.interval:
            self.write()

    def write(self) -> None:
        with session_factory()() as session:
            held = report_counters(session, claim=self.claim, metrics=dict(self.counters))
        self._last_write = time.monotonic()
        if not held:
            raise LeaseLost(self.claim.job_id)


def run_ingest_claim(claim: Claim, *, settings: Settings) -> str:
    """Ingest the claimed job's upload to its end: succeeded, failed (bad input: for good), requeued, or lost."""
    storage = open_storage(settings)
    try:
        with staged_attempt(claim, settings, storage, prefix=staging_prefix(claim.job_id)) as (workdir, heartbeat):
            return _attempt(claim, storage, settings, heartbeat, workdir)
    except LeaseLost:
        log.warning("ingest %s: lease lost; another worker owns it now", claim.job_id)
        return "lease_lost"
    except BAD_INPUT as exc:
        log.info("ingest %s failed: %s", claim.job_id, str(exc))
        return _fail(claim, storage, str(exc))
    except DatasetGone as exc:
        return _retry_or_fail(claim, str(exc), settings, retry=False)
    except Exception as exc:  # I/O, a lost database, a crashed library: another attempt may succeed
        log.exception("ingest %s attempt %d failed", claim.job_id, claim.attempt)
        return _retry_or_fail(claim, f"{type(exc).__name__}: {exc}", settings, retry=True)


def _attempt(claim: Claim, storage: Storage, settings: Settings, heartbeat: Heartbeat, workdir: Path) -> str:
    with session_factory()() as session:
        task = read_task(session, job_id=claim.job_id)
    if task is None:
        raise DatasetGone("the dataset was deleted before it could be ingested")
    storage.delete(dataset_key(task.dataset_id))  # published by an attempt that died before it committed
    upload = workdir / "upload"
    fetch_source(storage, task.source, upload, settings=settings, tenant=task.tenant)
    out_dir = workdir / "dataset"
    out_dir.mkdir()
    reporter = ProgressReporter(claim, heartbeat, interval=settings.progress_interval_seconds)
    reporter({"bytes_total": task.source.size_bytes})
    result = run_ingest(
        task.modality,
        upload,
        filename=task.source.filename,
        out_dir=out_dir,
        options=task.options,
        settings=settings,
        progress=reporter,
    )
    reporter.write()  # the final counters
    _publish(claim, storage, settings, task, out_dir, result)
    _delete_upload(storage, task.source.keys)
    return "succeeded"


def _publish(
    claim: Claim, storage: Storage, settings: Settings, task: IngestTask, out_dir: Path, result: Ingested
) -> None:
    """Publish the dataset's files, then, under the tenant's lock, check its room and end the job (a fenced write)
    with the dataset ready, in one commit. Published files no row points at yet are invisible; a failure before
    the commit removes them (and the next attempt removes them first in any case).

    Publishing comes before the lock, not under it: into an object store it is an upload of gigabytes, and no
    transaction may stay open that long."""
    key = dataset_key(task.dataset_id)
    try:
        storage.publish(out_dir, key)
        with session_factory()() as session:
            quotas.lock_tenant(session, tenant=task.tenant)
            # The processing dataset already counts its upload's bytes, which go once it is ready.
            growth = result.size_bytes - task.source.size_bytes
            if growth > 0:
                limits = quotas.TenantLimits.from_settings(settings)
                quotas.check_stored_bytes(session, tenant=task.tenant, limits=limits, adding=growth)
            if not mark_ready(
                session, claim=claim, dataset_id=task.dataset_id, result=result, filename=task.source.filename
            ):
                session.rollback()
                raise LeaseLost(claim.job_id)
            session.commit()
    except LeaseLost:
        raise  # the prefix is the newer attempt's now: it clears it before it publishes
    except BaseException:
        with contextlib.suppress(Exception):  # the store may be away: the error that matters is the first one
            storage.delete(key)
        raise


def _fail(claim: Claim, storage: Storage, error: str) -> str:
    with session_factory()() as session:
        task = read_task(session, job_id=claim.job_id)
        if task is None or not mark_failed(session, claim=claim, dataset_id=task.dataset_id, error=error):
            return "lease_lost"
    _delete_upload(storage, task.source.keys)
    return "failed"


def _retry_or_fail(claim: Claim, error: str, settings: Settings, *, retry: bool) -> str:
    status = release(claim, error, settings, retry=retry)
    if status == "failed":
        settle_abandoned(settings)  # the dataset fails with the job
    return outcome(status)


def settle_abandoned(settings: Settings) -> list[str]:
    """Fail the ``processing`` datasets whose ingest job ended without them (its attempts ran out, say), and
    remove their uploads and staging; the reaper runs this every round. Returns the datasets' ids."""
    storage = open_storage(settings)
    with session_factory()() as session:
        found = abandoned_ingests(session)
        for item in found:
            fail_dataset(session, dataset_id=item.dataset_id, error=item.error)
        session.commit()
    for item in found:
        _delete_upload(storage, item.upload_keys)
        storage.clear_staging(staging_prefix(item.job_id))
    return [item.dataset_id for item in found]


def _delete_upload(storage: Storage, keys: list[str]) -> None:
    for key in keys:
        storage.delete(key)
