"""Celery tasks. Named ``domain.action``, they take ids only and re-read the rows."""

import os
import socket

from app.core.config import get_settings
from app.core.db import session_factory
from app.core.queue import CLASSIFY_TASK, EMBED_TASK, INGEST_TASK, TRAIN_TASK, get_celery
from app.jobs.scheduling import claim_next

celery = get_celery()


@celery.task(name=TRAIN_TASK)
def train(job_id: str) -> str:
    """Claim the fairest queued job (``job_id``, the doorbell's, is only a hint) and train it.

    The claim comes before torch is imported, so a doorbell that finds nothing to claim (a duplicate, a job
    canceled while queued) costs the worker a database round trip, not a second of imports.
    """
    settings = get_settings()
    with session_factory()() as session:
        claim = claim_next(session, worker=_worker_name(), lease_seconds=settings.lease_seconds, hint=job_id)
    if claim is None:
        return "skipped"
    from worker.training import run_claim  # torch is imported in the pool process only, never in the parent

    return run_claim(claim, settings=settings)


@celery.task(name=INGEST_TASK)
def ingest(job_id: str) -> str:
    """Claim the fairest queued ingest job (``job_id`` is only a hint) and ingest its upload."""
    settings = get_settings()
    with session_factory()() as session:
        claim = claim_next(
            session, worker=_worker_name(), lease_seconds=settings.lease_seconds, hint=job_id, kind="ingest"
        )
    if claim is None:
        return "skipped"
    from worker.ingest import run_ingest_claim  # the decoders and tokenizers load in the pool process only

    return run_ingest_claim(claim, settings=settings)


@celery.task(name=EMBED_TASK)
def embed_run(job_id: str) -> str:
    """Claim the fairest queued embedding run (``job_id`` is only a hint) and embed its dataset."""
    settings = get_settings()
    with session_factory()() as session:
        claim = claim_next(
            session, worker=_worker_name(), lease_seconds=settings.lease_seconds, hint=job_id, kind="embed"
        )
    if claim is None:
        return "skipped"
    from worker.embedding_runs import run_embed_claim  # torch is imported in the pool process only

    return run_embed_claim(claim, settings=settings)


@celery.task(name=CLASSIFY_TASK)
def train_classifier(job_id: str) -> str:
    """Claim the fairest queued classifier job (``job_id`` is only a hint) and fit it."""
    settings = get_settings()
    with session_factory()() as session:
        claim = claim_next(
            session, worker=_worker_name(), lease_seconds=settings.lease_seconds, hint=job_id, kind="classify"
        )
    if claim is None:
        return "skipped"
    from worker.classifiers import run_classify_claim  # scikit-learn loads in the pool process only

    return run_classify_claim(claim, settings=settings)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
