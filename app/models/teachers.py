"""Teachers of distillation jobs: the model a job's ``params.teacher`` names, checked and pinned at submit.

A teacher is one of the caller's own models, named by id or by one of the tenant's aliases, that embeds
images. The alias is resolved once, here, and the job stores the model id it named then: an alias moved while
the job waits or is retried must not change what the job learns from (and a checkpoint resumes only with the
params it was written with).

Extension point: operator-installed pretrained image models, named ``pretrained:<name>`` (a prefix neither a
model id nor an alias can take: neither may contain ':'), are refused for now. Once the service has a folder
of pretrained image models, resolve them in :func:`pin_teacher` and load them in ``worker.teachers``.
"""

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import FieldErrors, NotFound
from app.models.aliases import resolve_model
from app.models.orm import RegisteredModel
from selfsup.encoder import INPUT_KINDS

PRETRAINED_PREFIX = "pretrained:"
TEACHER_LOC = ("body", "params", "teacher")


def pin_teacher(session: Session, *, tenant: str, params: Any) -> Any:
    """``params`` with ``teacher`` replaced by the id of the tenant's model it names.

    404 when the tenant has no such model (another tenant's model looks exactly the same), 422 naming the
    field when the model does not embed images or the name is a pretrained one.
    """
    name = str(params.teacher)
    if name.startswith(PRETRAINED_PREFIX):
        message = "pretrained teachers are not available on this service yet; name one of your models (id or alias)"
        raise FieldErrors([(TEACHER_LOC, message)])
    try:
        model = resolve_model(session, tenant=tenant, name=name)
    except NotFound:
        raise NotFound(f"teacher model {name!r} not found") from None
    if "image" not in INPUT_KINDS.get(model.modality, ()):
        message = f"teacher {name!r} is a {model.modality} model; a teacher must embed images"
        raise FieldErrors([(TEACHER_LOC, message)])
    return replace(params, teacher=model.id)


def teacher_summary(model: RegisteredModel) -> dict[str, Any]:
    """What a distilled model records about its teacher."""
    return {"model_id": model.id, "method": model.method, "backbone": model.backbone, "dim": model.dim}
