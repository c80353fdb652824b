"""One training attempt of one job: claim, materialize the data, train, report, register the model."""

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.access_log import log_job_event
from app.core.cache import BlobCache
from app.core.config import Settings
from app.core.db import db_now, session_factory
from app.core.ids import new_id
from app.core.storage import Storage, open_storage
from app.datasets.orm import Dataset
from app.jobs.lease import (
    Claim,
    claim_job,
    enter_phase,
    finish_claim,
    holds_claim,
    record_progress,
)
from app.jobs.orm import Job
from app.jobs.workdirs import remove_workdirs, workdir_key
from app.models.service import ENCODER_FILE, add_model, model_key
from selfsup.device import pick_device
from selfsup.errors import SelfSupError
from selfsup.methods import get_method
from selfsup.train.hooks import Metrics, Progress, TrainingHooks
from selfsup.train.launch import rank_processes
from selfsup.train.loop import Trainer, TrainResult
from worker.attempts import JobSetupError, outcome, release
from worker.checkpoints import StoredCheckpoint
from worker.data import job_data
from worker.evaluation import dataset_labels, final_report, reportable
from worker.heartbeat import Heartbeat, LeaseLost
from worker.ranks import RankJob
from worker.teachers import LoadedTeacher, load_teacher

log = logging.getLogger(__name__)


class TrainingClock:
    """Seconds of training left at this attempt's own rate so far: counted from the first step it saw, so a
    resumed attempt's rate is not inflated by the steps an earlier attempt did."""

    def __init__(self) -> None:
        self._start: tuple[float, int] | None = None

    def see(self, progress: Progress) -> None:
        if self._start is None:
            self._start = (time.monotonic(), progress.step)

    def eta_seconds(self, progress: Progress) -> float | None:
        if self._start is None or progress.step <= self._start[1] or not progress.total_steps:
            return None  # no rate yet, or a max_minutes run that has not planned its steps
        started, first_step = self._start
        per_step = (time.monotonic() - started) / (progress.step - first_step)
        return round(max(progress.total_steps - progress.step, 0) * per_step, 1)


class JobHooks(TrainingHooks):
    """Reports progress to the job row at most every few seconds, relays cancel and lease loss, and uploads
    each checkpoint the trainer writes to storage."""

    def __init__(self, claim: Claim, heartbeat: Heartbeat, *, interval: float, checkpoint: StoredCheckpoint) -> None:
        self.claim, self.heartbeat, self.interval = claim, heartbeat, interval
        self.checkpoint = checkpoint
        self.stored_bytes = checkpoint.stored_bytes()  # counts toward the tenant's stored bytes
        self.embedding_dim = 0  # known once the trainer has built the model
        self._last_write = 0.0
        self.clock = TrainingClock()
        self.tenant: str | None = None  # for the job-event log lines

    def on_step(self, progress: Progress, metrics: Metrics) -> None:
        self.clock.see(progress)
        if time.monotonic() - self._last_write >= self.interval:
            self._write(progress, metrics, kind="step")

    def on_epoch_end(self, progress: Progress, metrics: Metrics) -> None:
        self._write(progress, metrics, kind="epoch")
        loss = metrics.get("epoch_loss")
        log_job_event("epoch", job_id=self.claim.job_id, tenant=self.tenant, epoch=progress.epoch, epoch_loss=loss)

    def should_stop(self) -> bool:
        if self.heartbeat.lost:
            raise LeaseLost(self.claim.job_id)
        return self.heartbeat.cancel_requested

    def may_publish_checkpoint(self) -> bool:
        """Only the attempt that holds the lease may replace the job's checkpoint; a superseded one stops."""
        with session_factory()() as session:
            if not holds_claim(session, claim=self.claim):
                raise LeaseLost(self.claim.job_id)
        return True

    def on_checkpoint(self, path: Path, progress: Progress) -> None:
        """Upload it, asking again first: the lease may have gone while the file was written."""
        self.may_publish_checkpoint()
        self.checkpoint.publish(path)
        self.stored_bytes = self.checkpoint.stored_bytes()

    def write_final(self, progress: Progress, report: dict[str, Any]) -> None:
        self._write(progress, report, kind="final")

    def _write(self, progress: Progress, metrics: Metrics | dict[str, Any], *, kind: str) -> None:
        report = metrics if kind == "final" else reportable(metrics, self.embedding_dim)
        with session_factory()() as session:
            status = record_progress(
                session,
                claim=self.claim,
                epoch=progress.epoch,
                step=progress.step,
                total_steps=progress.total_steps,
                epochs=progress.epochs,
                metrics=report,
                kind=kind,
                checkpoint_bytes=self.stored_bytes,
                eta_seconds=None if kind == "final" else self.clock.eta_seconds(progress),
            )
        self._last_write = time.monotonic()
        if not status.held:
            raise LeaseLost(self.claim.job_id)
        self.heartbeat.cancel_requested |= status.cancel_requested


def run_job(job_id: str, *, settings: Settings, worker_name: str) -> str:
    """Claim job ``job_id`` itself, not the next in fair order (the Celery task uses that), and train it."""
    with session_factory()() as session:
        claim = claim_job(session, job_id=job_id, worker=worker_name, lease_seconds=settings.lease_seconds)
    if claim is None:
        log.info("job %s: nothing to claim (duplicate doorbell, canceled or taken)", job_id)
        return "skipped"
    return run_claim(claim, settings=settings)


def run_claim(claim: Claim, *, settings: Settings) -> str:
    """Train the claimed job to its end: succeeded, canceled, requeued for another attempt, or failed."""
    job_id = claim.job_id
    storage = open_storage(settings)
    blobs = BlobCache.from_settings(settings, storage)
    workdir = blobs.workdir(workdir_key(job_id), owner=f"attempt-{claim.attempt}")
    heartbeat = Heartbeat(claim, lease_seconds=settings.lease_seconds, cancel_poll_seconds=settings.cancel_poll_seconds)
    try:
        with heartbeat, ExitStack() as held:
            run = _prepare(claim, blobs, workdir, settings, heartbeat, held)
            return _conclude(claim, run, run.trainer.fit(), storage)
    except LeaseLost:
        log.warning("job %s: lease lost; another worker owns it now", job_id)
        return "lease_lost"
    except (SelfSupError, JobSetupError) as exc:  # retrying cannot help: same data, same params (out of memory too)
        log.exception("job %s failed", job_id)
        return outcome(release(claim, str(exc), settings, retry=False))
    except Exception as exc:  # I/O, a lost database, a crashed library: another attempt may succeed
        log.exception("job %s attempt %d failed", job_id, claim.attempt)
        return outcome(release(claim, f"{type(exc).__name__}: {exc}", settings))
    finally:
        # What matters is in storage now; a later attempt (on any host) fetches it again.
        blobs.drop_workdir(workdir)


@dataclass(frozen=True)
class PreparedRun:
    trainer: Trainer
    hooks: JobHooks
    labels: np.ndarray | None  # (N,) class indices, -1 unlabeled; only for evaluation
    heldout: Any = None  # image-text pairs kept out of training, for retrieval recall
    teacher: dict[str, Any] | None = None  # a distillation's teacher, as the model's details record it


def _prepare(
    claim: Claim, blobs: BlobCache, workdir: Path, settings: Settings, heartbeat: Heartbeat, held: ExitStack
) -> PreparedRun:
    """Build the trainer over a local copy of the dataset (held in the cache until the attempt ends) and a local
    working folder holding the job's stored checkpoint, if it has one; a distillation also loads its teacher.
    A job on several devices starts its other ranks here (held until the attempt ends); this process is rank 0."""
    with session_factory()() as session:
        job = session.get_one(Job, claim.job_id)
        if job.dataset_id is None:
            raise JobSetupError("the job's dataset was deleted before it could train")
        dataset = session.get_one(Dataset, job.dataset_id)
        method, raw_params, data_key, modality = job.method, job.params, dataset.storage_key, dataset.modality
        tenant = job.tenant
    spec = get_method(method)
    params = spec.validate(raw_params)  # ``pretrained`` stays a name: see worker.data
    dataset_dir = held.enter_context(blobs.local(data_key))
    checkpoint = StoredCheckpoint(blobs.storage, claim.job_id)
    checkpoint.restore(workdir)
    data = job_data(modality, dataset_dir, params, settings=settings, workdir=workdir)
    teacher = _teacher(params, tenant, blobs, settings, data.train) if spec.takes_teacher else None
    hooks = JobHooks(claim, heartbeat, interval=settings.progress_interval_seconds, checkpoint=checkpoint)
    hooks.tenant = tenant
    rank_job = RankJob(method, params, modality, dataset_dir, workdir, settings)
    ranks = held.enter_context(rank_processes(rank_job, params.devices, pick_device(settings.device)))
    trainer = Trainer(
        method,
        params,
        data.train,
        workdir=workdir,
        device=settings.device,
        hooks=hooks,
        checkpoint_every_s=settings.checkpoint_interval_seconds,
        teacher=teacher.encoder if teacher is not None else None,
        ranks=ranks,
    )
    hooks.embedding_dim = trainer.model.embedding_dim
    summary = teacher.summary if teacher is not None else None
    return PreparedRun(trainer, hooks, dataset_labels(dataset_dir), data.heldout, summary)


def _teacher(params: Any, tenant: str, blobs: BlobCache, settings: Settings, data: Any) -> LoadedTeacher:
    """A distillation's teacher; a pretrained one is built at the student's image size."""
    size = int(data.image_size)
    return load_teacher(
        params.teacher, tenant=tenant, blobs=blobs, pretrained_dir=settings.pretrained_dir, image_size=size
    )


def _conclude(claim: Claim, run: PreparedRun, result: TrainResult, storage: Storage) -> str:
    if result.status == "canceled":
        with session_factory()() as session:
            finish_claim(session, claim=claim, status="canceled", step=result.progress.step)
            session.commit()
        return "canceled"
    _enter_phase(claim, "evaluating")  # probes on a big dataset take a while after the last step
    report = final_report(run.trainer, result.metrics, run.labels, run.heldout)
    run.hooks.write_final(result.progress, report)
    _enter_phase(claim, "exporting")
    details = {"evaluation": report, **({"teacher": run.teacher} if run.teacher is not None else {})}
    return _register_model(claim, run.trainer, storage, details)


def _enter_phase(claim: Claim, phase: str) -> None:
    with session_factory()() as session:
        if not enter_phase(session, claim=claim, phase=phase):
            raise LeaseLost(claim.job_id)


def _register_model(claim: Claim, trainer: Trainer, storage: Storage, details: dict[str, Any]) -> str:
    """Publish the encoder files, then mark the job succeeded and add the model in one transaction."""
    model_id = new_id("mdl")
    staged = storage.staging_dir()
    trainer.export_encoder(staged / ENCODER_FILE)
    storage.publish(staged, model_key(model_id))
    size_bytes = storage.size_bytes(model_key(model_id))
    backbone = trainer.model.backbone
    with session_factory()() as session:
        progress = trainer.progress()
        succeeded = finish_claim(
            session,
            claim=claim,
            status="succeeded",
            model_id=model_id,
            epoch=progress.epoch,
            step=progress.step,
        )
        if not succeeded:
            session.rollback()
            storage.delete(model_key(model_id))
            raise LeaseLost(claim.job_id)
        add_model(
            session,
            tenant=session.get_one(Job, claim.job_id).tenant,
            model_id=model_id,
            job_id=claim.job_id,
            method=trainer.spec.name,
            backbone=backbone.spec.name,
            modality=trainer.data.modality,
            dim=trainer.model.embedding_dim,
            details=details,
            size_bytes=size_bytes,
        )
        session.commit()
        # The encoder is exported; the checkpoint is no longer needed.
        remove_workdirs(session, storage=storage, job_ids=[claim.job_id], now=db_now(session))
    return "succeeded"
