"""One attempt of an embedding run: claim, load the encoder and the dataset locally, embed in shards, publish.

Shards make a retry cheap: each finished shard (vectors and hashes of ``shard_items`` consecutive items) is
stored under ``embedding-run-shards/<run id>/<shard size>/`` at once, so an attempt whose worker was killed is
resumed by the next one after its last finished shard. The finished folder is assembled from the shards,
published under ``embedding-runs/<id>`` and marked succeeded with its counts in one commit; the shards go.
"""

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.cache import BlobCache
from app.core.config import Settings
from app.core.db import session_factory
from app.core.storage import Storage, open_storage
from app.datasets.ingest import LABELS_ARRAY
from app.embedding_runs import files
from app.embedding_runs.attempts import EmbedTask, mark_succeeded, read_run_id, read_task
from app.embedding_runs.files import RunArrays, read_run_arrays
from app.jobs.lease import Claim, finish_claim
from app.models.service import ENCODER_FILE
from selfsup.device import pick_device
from selfsup.encoder import Encoder
from selfsup.errors import SelfSupError
from worker.attempts import outcome, release, staged_attempt
from worker.embedding_items import item_reader
from worker.heartbeat import Heartbeat, LeaseLost
from worker.ingest import ProgressReporter

log = logging.getLogger(__name__)

SHARD_ITEMS = 4096
SHARDS_PREFIX = "embedding-run-shards"
LabelSummary = dict[str, object] | None  # what the run's details say about its labels


class RunGone(Exception):
    """The run or its dataset was deleted before the attempt could embed it."""


class RunCanceled(Exception):
    """A cancel was asked for; the attempt stops after the shard in hand."""


def finish_run_files(folder: Path, arrays: RunArrays, settings: Settings) -> None:
    """Add what the API's search, quality and map routes read (app.curation.analysis) beside the vectors."""
    from app.curation.analysis import write_analysis  # usearch and umap load where a run finishes, not at import

    write_analysis(folder, arrays.vectors, exact_up_to=settings.exact_index_up_to)


@dataclass(frozen=True)
class StoredShards:
    """The finished shards of one run, in storage so that any host's next attempt finds them."""

    storage: Storage
    run_id: str
    shard_items: int

    @property
    def prefix(self) -> str:
        return f"{SHARDS_PREFIX}/{self.run_id}/{self.shard_items}"

    def key(self, index: int) -> str:
        return f"{self.prefix}/{index:06d}.npz"

    def finished(self) -> int:
        """How many shards from the first on are stored (an attempt stores them in order)."""
        stored = {item.key for item in self.storage.list(self.prefix)}
        count = 0
        while self.key(count) in stored:
            count += 1
        return count

    def save(self, index: int, vectors: np.ndarray, hashes: np.ndarray, scratch: Path) -> None:
        path = scratch / f"{index:06d}.npz"
        np.savez(path, vectors=vectors, hashes=hashes)
        self.storage.put_file(path, self.key(index))
        path.unlink()

    def load(self, index: int, scratch: Path) -> tuple[np.ndarray, np.ndarray]:
        path = scratch / f"{index:06d}.npz"
        self.storage.fetch_file(self.key(index), path)
        with np.load(path) as shard:
            vectors, hashes = shard["vectors"], shard["hashes"]
        path.unlink()
        return vectors, hashes

    def remove(self) -> None:
        self.storage.delete(f"{SHARDS_PREFIX}/{self.run_id}")


def staging_prefix(job_id: str) -> str:
    return f"embed-{job_id}-"


def run_embed_claim(claim: Claim, *, settings: Settings, shard_items: int = SHARD_ITEMS) -> str:
    """Embed the claimed run to its end: succeeded, canceled, failed (for good), requeued, or lost."""
    storage = open_storage(settings)
    blobs = BlobCache.from_settings(settings, storage)
    try:
        with staged_attempt(claim, settings, storage, prefix=staging_prefix(claim.job_id)) as (workdir, heartbeat):
            return _attempt(claim, blobs, settings, heartbeat, workdir, shard_items)
    except LeaseLost:
        log.warning("embedding run %s: lease lost; another worker owns it now", claim.job_id)
        return "lease_lost"
    except RunCanceled:
        return _end(claim, storage, "canceled", None, shard_items)
    except (SelfSupError, RunGone) as exc:  # the same model on the same data would fail again
        log.exception("embedding run %s failed", claim.job_id)
        return _end(claim, storage, "failed", str(exc), shard_items)
    except Exception as exc:  # I/O, a lost database, a crashed library: another attempt may succeed
        log.exception("embedding run %s attempt %d failed", claim.job_id, claim.attempt)
        return _retry_or_fail(claim, f"{type(exc).__name__}: {exc}", settings, shard_items)


def _attempt(
    claim: Claim, blobs: BlobCache, settings: Settings, heartbeat: Heartbeat, workdir: Path, shard_items: int
) -> str:
    with session_factory()() as session:
        task = read_task(session, job_id=claim.job_id)
    if task is None:
        raise RunGone("the embedding run or its dataset was deleted before it could run")
    blobs.storage.delete(files.storage_key(task.run_id))  # published by an attempt that died before it committed
    shards = StoredShards(blobs.storage, task.run_id, shard_items)
    reporter = ProgressReporter(claim, heartbeat, interval=settings.progress_interval_seconds)
    with blobs.local(task.model_key) as model_dir, blobs.local(task.dataset_key) as dataset_dir:
        encoder = Encoder.load(model_dir / ENCODER_FILE, device=str(pick_device(settings.device)))
        _embed_shards(task, encoder, dataset_dir, shards, heartbeat, reporter, workdir)
        out_dir = workdir / "run"
        out_dir.mkdir()
        labels = _write_run(task, shards, dataset_dir, out_dir, workdir)
    finish_run_files(out_dir, read_run_arrays(out_dir), settings)
    _publish(claim, blobs.storage, task, out_dir, labels)
    shards.remove()
    return "succeeded"


def _embed_shards(
    task: EmbedTask,
    encoder: Encoder,
    dataset_dir: Path,
    shards: StoredShards,
    heartbeat: Heartbeat,
    reporter: ProgressReporter,
    scratch: Path,
) -> None:
    reader = item_reader(task.modality, dataset_dir, encoder)
    first = shards.finished()
    reporter({"items_done": min(first * shards.shard_items, task.num_items), "items_total": task.num_items})
    for start in range(first * shards.shard_items, task.num_items, shards.shard_items):
        heartbeat.poll_cancel()  # one indexed read per shard: a cancel stops the run at the next shard
        if heartbeat.cancel_requested:
            raise RunCanceled(task.run_id)
        stop = min(start + shards.shard_items, task.num_items)
        vectors, hashes = reader.read(start, stop)
        shards.save(start // shards.shard_items, vectors.astype(task.dtype), hashes, scratch)
        reporter({"items_done": stop})
    reporter.write()  # the final counters


def _write_run(task: EmbedTask, shards: StoredShards, dataset_dir: Path, out_dir: Path, scratch: Path) -> LabelSummary:
    """The run's folder: vectors and hashes from the shards, the dataset's labels, ``run.json``."""
    _assemble(task, shards, out_dir, scratch)
    summary = {
        "model_id": task.model_id,
        "dataset_id": task.dataset_id,
        "modality": task.modality,
        "dim": task.dim,
        "dtype": task.dtype,
        "num_items": task.num_items,
    }
    (out_dir / files.RUN).write_text(json.dumps(summary))
    return _copy_labels(task, dataset_dir, out_dir)


def _assemble(task: EmbedTask, shards: StoredShards, out_dir: Path, scratch: Path) -> None:
    """``vectors.npy`` (N, D) and ``hashes.npy`` (N,) written through memory maps, one shard in memory at a time."""
    shape = (task.num_items, task.dim)
    vectors = np.lib.format.open_memmap(out_dir / files.VECTORS, mode="w+", dtype=task.dtype, shape=shape)
    hashes = np.lib.format.open_memmap(out_dir / files.HASHES, mode="w+", dtype=np.uint64, shape=shape[:1])
    for start in range(0, task.num_items, shards.shard_items):
        chunk, chunk_hashes = shards.load(start // shards.shard_items, scratch)
        vectors[start : start + len(chunk)] = chunk
        hashes[start : start + len(chunk)] = chunk_hashes
    vectors.flush()
    hashes.flush()


def _copy_labels(task: EmbedTask, dataset_dir: Path, out_dir: Path) -> LabelSummary:
    """The dataset's labels (when it has a labels array) and class names; their summary for the run's details."""
    source = dataset_dir / LABELS_ARRAY
    if not source.is_file() or not task.classes:
        return None
    labels = np.load(source).astype(np.int64)
    np.save(out_dir / files.LABELS, labels)
    (out_dir / files.CLASSES).write_text(json.dumps(task.classes, ensure_ascii=False))
    return {"classes": task.classes, "num_labeled": int((labels >= 0).sum())}


def _publish(claim: Claim, storage: Storage, task: EmbedTask, out_dir: Path, labels: LabelSummary) -> None:
    """Publish the folder, then end the job (a fenced write) with the run's counts in one commit; a failure
    before the commit removes the published files (the next attempt removes them first in any case)."""
    key = files.storage_key(task.run_id)
    try:
        storage.publish(out_dir, key)
        size_bytes = storage.size_bytes(key)
        with session_factory()() as session:
            done = mark_succeeded(
                session, claim=claim, run_id=task.run_id, num_items=task.num_items, size_bytes=size_bytes, labels=labels
            )
            if not done:
                session.rollback()
                raise LeaseLost(claim.job_id)
            session.commit()
    except LeaseLost:
        raise  # the prefix is the newer attempt's now: it clears it before it publishes
    except BaseException:
        with contextlib.suppress(Exception):  # the store may be away: the error that matters is the first one
            storage.delete(key)
        raise


def _end(claim: Claim, storage: Storage, status: str, error: str | None, shard_items: int) -> str:
    """End the run for good (canceled, or failed on what another try would meet again) and drop its shards."""
    with session_factory()() as session:
        ended = finish_claim(session, claim=claim, status=status, error=error)
        session.commit()
        run_id = read_run_id(session, job_id=claim.job_id)
    if not ended:
        return "lease_lost"
    if run_id is not None:
        StoredShards(storage, run_id, shard_items).remove()
    return status


def _retry_or_fail(claim: Claim, error: str, settings: Settings, shard_items: int) -> str:
    status = release(claim, error, settings)
    with session_factory()() as session:
        run_id = read_run_id(session, job_id=claim.job_id)
    if status in ("failed", "canceled") and run_id is not None:  # no attempt comes to resume from the shards
        StoredShards(open_storage(settings), run_id, shard_items).remove()
    return outcome(status)
