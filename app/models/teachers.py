"""Teachers of distillation jobs: the model a job's ``params.teacher`` names, checked and pinned at submit.

A teacher is either one of the caller's own models, named by id or by one of the tenant's aliases, that
embeds images, or an image model the operator installed in the pretrained folder, named
``pretrained:<name>`` (a prefix neither a model id nor an alias can take: neither may contain ':'), in the
layout a ``pretrained`` start reads (:mod:`selfsup.pretrained_backbones`).

An alias is resolved once, here, and the job stores the model id it named then: an alias moved while the job
waits or is retried must not change what the job learns from (and a checkpoint resumes only with the params it
was written with). A pretrained teacher keeps its name, as a ``pretrained`` start does: the worker finds it in
the pretrained folder of whichever host it lands on.
"""

from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import FieldErrors, NotFound
from app.core.pretrained import NotInstalled, installed_model
from app.models.aliases import resolve_model
from app.models.orm import RegisteredModel
from selfsup.encoder import INPUT_KINDS
from selfsup.pretrained_backbones import PretrainedModelError
from selfsup.pretrained_teachers import check_pretrained_teacher

PRETRAINED_PREFIX = "pretrained:"
TEACHER_LOC = ("body", "params", "teacher")


def pin_teacher(session: Session, *, tenant: str, params: Any, pretrained_dir: Path | None = None) -> Any:
    """``params`` with ``teacher`` replaced by the id of the tenant's model it names, or kept as it is when it
    names an installed pretrained model (checked here, reading its config and the weights' header).

    404 when the tenant has no such model (another tenant's model looks exactly the same), 422 naming the
    field when the model does not embed images, or the pretrained model is not installed or cannot be read.
    """
    name = str(params.teacher)
    if name.startswith(PRETRAINED_PREFIX):
        check_installed_teacher(pretrained_dir, name.removeprefix(PRETRAINED_PREFIX))
        return params
    try:
        model = resolve_model(session, tenant=tenant, name=name)
    except NotFound:
        raise NotFound(f"teacher model {name!r} not found") from None
    if "image" not in INPUT_KINDS.get(model.modality, ()):
        message = f"teacher {name!r} is a {model.modality} model; a teacher must embed images"
        raise FieldErrors([(TEACHER_LOC, message)])
    return replace(params, teacher=model.id)


def check_installed_teacher(pretrained_dir: Path | None, name: str) -> None:
    try:
        check_pretrained_teacher(installed_model(pretrained_dir, name))
    except (NotInstalled, PretrainedModelError) as exc:
        raise FieldErrors([(TEACHER_LOC, f"teacher {PRETRAINED_PREFIX}{name}: {exc}")]) from None


def teacher_summary(model: RegisteredModel) -> dict[str, Any]:
    """What a distilled model records about its teacher."""
    return {"model_id": model.id, "method": model.method, "backbone": model.backbone, "dim": model.dim}


def pretrained_teacher_summary(name: str, *, backbone: str, dim: int) -> dict[str, Any]:
    """What a model distilled from a pretrained teacher records about it: its name instead of a model id."""
    return {"pretrained": name, "method": None, "backbone": backbone, "dim": dim}
