"""What every job kind's attempt shares: a private staging folder and a heartbeat for the attempt's life, and
the way a failed attempt hands its job back (queued for another try, or failed for good).

Each kind keeps its own policy (which errors another attempt could fix) in its runner; the frame is here.
"""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.config import Settings
from app.core.db import session_factory
from app.core.storage import Storage
from app.jobs.lease import Claim, release_for_retry
from app.jobs.service import dispatch
from worker.heartbeat import Heartbeat


class JobSetupError(Exception):
    """The job cannot run as stored (its dataset is gone, say); retrying would not help."""


# A runner's outcome for the job status release_for_retry leaves ("" when another worker holds the lease now).
_OUTCOME_OF_STATUS = {"queued": "requeued", "": "lease_lost"}


@contextmanager
def staged_attempt(
    claim: Claim, settings: Settings, storage: Storage, *, prefix: str
) -> Iterator[tuple[Path, Heartbeat]]:
    """A fresh staging folder for this attempt (what killed attempts of the job under ``prefix`` left behind is
    cleared first) and the claim's heartbeat, both ended with the block."""
    storage.clear_staging(prefix)
    workdir = storage.staging_dir(f"{prefix}{claim.attempt}")
    try:
        with Heartbeat(
            claim, lease_seconds=settings.lease_seconds, cancel_poll_seconds=settings.cancel_poll_seconds
        ) as heartbeat:
            yield workdir, heartbeat
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def release(claim: Claim, error: str, settings: Settings, *, retry: bool = True) -> str:
    """Hand the job back after a failed attempt: queued (and its doorbell rung) while attempts are left and
    ``retry`` allows, else failed with ``error``. Returns the job's status: queued, failed, canceled (it was
    canceled meanwhile), or "" when the lease was lost."""
    with session_factory()() as session:
        status = release_for_retry(session, claim=claim, error=error, max_attempts=settings.max_attempts, retry=retry)
        if status == "queued":
            dispatch(session, job_id=claim.job_id)
    return status


def outcome(status: str) -> str:
    """The runner's outcome for the job status :func:`release` returned."""
    return _OUTCOME_OF_STATUS.get(status, status)
