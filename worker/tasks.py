"""Celery tasks, one per job kind (worker.kinds). Named ``domain.action``, they take ids only and re-read the
rows: the id a doorbell carries is only a hint, and the fairest queued job of the kind is claimed."""

import os
import socket

from app.core.config import get_settings
from app.core.queue import get_celery
from worker.kinds import JOB_KINDS, JobKind, run_next

celery = get_celery()


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _register(kind: JobKind) -> None:
    def answer_doorbell(job_id: str) -> str:
        return run_next(kind.name, get_settings(), worker_name=_worker_name(), hint=job_id)

    answer_doorbell.__name__ = answer_doorbell.__qualname__ = f"run_{kind.name}"
    celery.task(name=kind.task)(answer_doorbell)


for _kind in JOB_KINDS.values():
    _register(_kind)
