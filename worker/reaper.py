"""Re-dispatches jobs whose worker died (lease expired) and re-rings jobs whose doorbell went unanswered."""

import logging
import os
import threading

from app.core.config import Settings
from app.core.db import db_now, session_factory
from app.core.storage import open_storage
from app.jobs.lease import reap
from app.jobs.service import dispatch
from app.jobs.workdirs import purge_expired_workdirs
from app.uploads.service import expire_uploads, uploads_prefix

log = logging.getLogger(__name__)

# The reaper runs in the worker's main process, which forks Celery's pool processes. A fork taken while the
# reaper is mid-round copies whatever locks it holds (the database pool's, the object-store client's) into
# the child, held by a thread the child does not have: the child then hangs for good on its first use of
# them. Forks wait for the round to end instead; a round is a few short queries.
ROUND_LOCK = threading.Lock()
os.register_at_fork(before=ROUND_LOCK.acquire, after_in_parent=ROUND_LOCK.release, after_in_child=ROUND_LOCK.release)


def reap_once(settings: Settings) -> list[str]:
    with session_factory()() as session:
        job_ids = reap(
            session,
            max_attempts=settings.max_attempts,
            redispatch_after=settings.redispatch_queued_after_seconds,
        )
        for job_id in job_ids:
            dispatch(session, job_id=job_id)
    if job_ids:
        log.info("reaper re-dispatched %s", ", ".join(job_ids))
    purge_once(settings)
    settle_ingests_once(settings)
    return job_ids


def settle_ingests_once(settings: Settings) -> list[str]:
    from worker.ingest import settle_abandoned  # the ingest code loads only where a reaper first needs it

    dataset_ids = settle_abandoned(settings)
    if dataset_ids:
        log.info("reaper failed the datasets of abandoned ingests: %s", ", ".join(dataset_ids))
    return dataset_ids


def purge_once(settings: Settings) -> list[str]:
    """Remove the working directories of jobs that ended and no longer need them."""
    with session_factory()() as session:
        job_ids = purge_expired_workdirs(
            session,
            storage=open_storage(settings),
            now=db_now(session),
            retention_seconds=settings.failed_job_retention_seconds,
        )
    if job_ids:
        log.info("reaper removed the working directories of %s", ", ".join(job_ids))
    expire_unfinished_uploads(settings)
    return job_ids


def expire_unfinished_uploads(settings: Settings) -> list[str]:
    """Forget resumable uploads that stopped receiving parts, and delete what they had received."""
    storage = open_storage(settings)
    with session_factory()() as session:
        upload_ids = expire_uploads(session)
    for upload_id in upload_ids:
        storage.delete(uploads_prefix(upload_id))
    if upload_ids:
        log.info("reaper forgot the unfinished uploads %s", ", ".join(upload_ids))
    return upload_ids


class Reaper:
    """A daemon thread in each worker's main process. Reaping is idempotent, so many reapers are safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="selfsup-reaper", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.reaper_interval_seconds):
            try:
                with ROUND_LOCK:
                    reap_once(self.settings)
            except Exception:  # the database or broker may be briefly away; try again next round
                log.exception("reaper round failed")
