"""Celery tasks. Named ``domain.action``, they take ids only and re-read the rows."""

import os
import socket

from app.core.config import get_settings
from app.core.queue import TRAIN_TASK, get_celery

celery = get_celery()


@celery.task(name=TRAIN_TASK)
def train(job_id: str) -> str:
    """Claim job ``job_id`` and train it; a duplicate or stale doorbell finds nothing to claim and returns."""
    from worker.training import run_job  # torch is imported in the pool process only, never in the parent

    return run_job(job_id, settings=get_settings(), worker_name=f"{socket.gethostname()}:{os.getpid()}")
