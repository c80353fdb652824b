"""Model export archives: built once per model and format, in a worker thread, then served from storage.

Each archive is a zip of the model file(s), ``card.json`` and what the modality needs to prepare inputs
(``tokenizer.json``, ``schema.json``). ONNX and TorchScript give one graph per tower: ``model.onnx`` /
``model.pt`` for image, text and table models; ``image.onnx`` and ``text.onnx`` (or ``.pt``) for image-text
models. safetensors gives ``model.safetensors`` and ``config.json``.
"""

import json
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.cache import BlobCache
from app.core.storage import Storage
from app.datasets.orm import Dataset
from app.embeddings.admission import Saturated
from app.jobs.orm import Job
from app.models.orm import RegisteredModel
from app.models.service import ENCODER_FILE
from selfsup.encoder import Encoder
from selfsup.export import model_card, side_files, to_onnx, to_safetensors, to_torchscript, towers

CHUNK_BYTES = 1 << 20
RETRY_AFTER_SECONDS = 5


def exports_prefix(model_id: str) -> str:
    return f"exports/{model_id}"


def export_key(model_id: str, fmt: str) -> str:
    return f"{exports_prefix(model_id)}/{fmt}.zip"


def count_stored_bytes(session: Session, storage: Storage, model: RegisteredModel) -> None:
    """Set the model's share of its tenant's storage quota, its files and its export archives, from what is
    stored; commits. Counted from the listing, not added to: two servers building one archive count it once."""
    stored = [*storage.list(model.storage_key), *storage.list(exports_prefix(model.id))]
    counted = update(RegisteredModel).where(RegisteredModel.id == model.id)
    session.execute(counted.values(size_bytes=sum(item.size for item in stored)))
    session.commit()


def _graphs(write: Callable[..., Path], suffix: str) -> Callable[[Encoder, Path], None]:
    def write_towers(encoder: Encoder, folder: Path) -> None:
        names = towers(encoder)
        for kind in names:
            stem = "model" if len(names) == 1 else kind
            write(encoder, folder / f"{stem}.{suffix}", tower=kind)

    return write_towers


def _safetensors(encoder: Encoder, folder: Path) -> None:
    to_safetensors(encoder, folder)


# Per format: what writes the model file(s) into a folder.
FORMAT_WRITERS: dict[str, Callable[[Encoder, Path], None]] = {
    "onnx": _graphs(to_onnx, "onnx"),
    "torchscript": _graphs(to_torchscript, "pt"),
    "safetensors": _safetensors,
}


def training_card(session: Session, model: RegisteredModel) -> dict[str, Any]:
    """What the model's row, job and dataset say about it, for the card."""
    job = session.get(Job, model.job_id)
    dataset = session.get(Dataset, job.dataset_id) if job is not None and job.dataset_id else None
    stats = None
    if dataset is not None:
        stats = {"id": dataset.id, "name": dataset.name, "modality": dataset.modality, "num_items": dataset.num_items}
        stats["size_bytes"] = dataset.size_bytes
    return {
        "model_id": model.id,
        "created_at": model.created_at.isoformat(),
        "params": job.params if job is not None else {},
        "dataset": stats,
        "metrics": model.details.get("evaluation", {}),
    }


class Exporter:
    """Builds archives one at a time per process (a second concurrent build is refused with 503)."""

    def __init__(self, blobs: BlobCache) -> None:
        self.storage: Storage = blobs.storage
        self.blobs = blobs
        self._busy = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export")

    def is_built(self, model: RegisteredModel, fmt: str) -> bool:
        return self.storage.exists(export_key(model.id, fmt))

    def build(self, *, model: RegisteredModel, fmt: str, card: dict[str, Any]) -> None:
        """Store ``model``'s archive in ``fmt`` (over any there is: the caller asks only when it is missing)."""
        with self.building():
            self._pool.submit(self._build, model.storage_key, fmt, card, export_key(model.id, fmt)).result()

    @contextmanager
    def building(self) -> Iterator[None]:
        """Holds this process's one export slot; 503 with Retry-After at once when it is taken."""
        if not self._busy.acquire(blocking=False):
            raise Saturated("another model export is being built", retry_after=RETRY_AFTER_SECONDS)
        try:
            yield
        finally:
            self._busy.release()

    def _build(self, model_key: str, fmt: str, card: dict[str, Any], key: str) -> None:
        with self.blobs.local(model_key) as folder:
            encoder = Encoder.load(folder / ENCODER_FILE)
        with tempfile.TemporaryDirectory(prefix="export-") as tmp:
            files = Path(tmp) / "files"
            files.mkdir()
            FORMAT_WRITERS[fmt](encoder, files)
            archive = Path(tmp) / "export.zip"
            write_archive(
                archive, files, {"card.json": _json(model_card(encoder, training=card)), **side_files(encoder)}
            )
            self.storage.put_file(archive, key)

    def stream(self, key: str) -> Iterator[bytes]:
        with self.storage.open(key) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk


def write_archive(path: Path, files: Path, extra: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(files.iterdir()):
            archive.write(file, file.name)
        for name, text in extra.items():
            archive.writestr(name, text)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)
