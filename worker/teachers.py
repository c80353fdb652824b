"""A distillation job's teacher, loaded from storage: the model its params were pinned to at submit (see
:mod:`app.models.teachers`, where pretrained teachers would be resolved too once they exist)."""

from dataclasses import dataclass
from typing import Any

from app.core.cache import BlobCache
from app.core.db import session_factory
from app.core.errors import NotFound
from app.models.service import ENCODER_FILE, get_model
from app.models.teachers import teacher_summary
from selfsup.encoder import Encoder
from worker.attempts import JobSetupError


@dataclass(frozen=True)
class LoadedTeacher:
    encoder: Encoder  # on the CPU: the Trainer moves it to the training device
    summary: dict[str, Any]  # recorded in the distilled model's details


def load_teacher(model_id: str, *, tenant: str, blobs: BlobCache) -> LoadedTeacher:
    """The job's tenant's model ``model_id`` as a frozen encoder, read through the blob cache.

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
