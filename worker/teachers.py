"""A distillation job's teacher, loaded: the tenant's model its params were pinned to at submit, read from
storage, or the operator's pretrained model it names, read from this host's pretrained folder (see
:mod:`app.models.teachers`)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.cache import BlobCache
from app.core.db import session_factory
from app.core.errors import NotFound
from app.models.service import ENCODER_FILE, get_model
from app.models.teachers import PRETRAINED_PREFIX, pretrained_teacher_summary, teacher_summary
from selfsup.encoder import Encoder
from selfsup.pretrained_teachers import load_pretrained_teacher
from worker.attempts import JobSetupError


@dataclass(frozen=True)
class LoadedTeacher:
    encoder: Encoder  # on the CPU: the Trainer moves it to the training device
    summary: dict[str, Any]  # recorded in the distilled model's details


def load_teacher(
    teacher: str, *, tenant: str, blobs: BlobCache, pretrained_dir: Path, image_size: int
) -> LoadedTeacher:
    """The job's teacher as a frozen encoder: ``pretrained:<name>`` from ``pretrained_dir`` at the student's
    ``image_size``, else the tenant's model of that id."""
    if teacher.startswith(PRETRAINED_PREFIX):
        return _pretrained_teacher(teacher.removeprefix(PRETRAINED_PREFIX), pretrained_dir, image_size)
    return _tenant_teacher(teacher, tenant=tenant, blobs=blobs)


def _pretrained_teacher(name: str, pretrained_dir: Path, image_size: int) -> LoadedTeacher:
    """The name was checked at submit to be no path; a folder removed or spoiled since fails the job, naming it
    (PretrainedModelError, never retried)."""
    encoder = load_pretrained_teacher(pretrained_dir / name, image_size=image_size)
    return LoadedTeacher(
        encoder, pretrained_teacher_summary(name, backbone=encoder.backbone.spec.name, dim=encoder.dim)
    )


def _tenant_teacher(model_id: str, *, tenant: str, blobs: BlobCache) -> LoadedTeacher:
    """The job's tenant's model ``model_id``, read through the blob cache.

    The tenant is asked again here, not only at submit: a worker never reads another tenant's model, whatever
    a job row says.
    """
    with session_factory()() as session:
        try:
            model = get_model(session, tenant=tenant, model_id=model_id)
        except NotFound:
            raise JobSetupError(f"the teacher model {model_id!r} is gone") from None
        summary, key = teacher_summary(model), model.storage_key
    with blobs.local(key) as folder:  # the weights are in memory once loaded; the cached file may go
        encoder = Encoder.load(folder / ENCODER_FILE)
    return LoadedTeacher(encoder, summary)
