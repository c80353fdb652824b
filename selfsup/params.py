"""Typed, bounded method parameters: one frozen dataclass per method is the single source of truth.

Bounds and help texts are declared with ``Annotated[..., Field(...)]`` on standard dataclasses; pydantic
turns the same declaration into validation and a JSON schema, so the HTTP API and the engine can never
disagree about what a parameter accepts.
"""

import json
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from selfsup.errors import ParamError, ParamIssue

P = TypeVar("P")

BackboneName = Literal["tiny_cnn", "small_cnn", "resnet18", "resnet50", "vit_tiny", "vit_small"]
OptimizerName = Literal["adamw", "sgd", "lars"]
MAX_EPOCHS = 10_000
RUN_LENGTHS = ("epochs", "max_minutes")  # how long a run is: by passes or by time, one of them
MAX_DEVICES = 64  # a host's GPUs; a service bounds it further by what its workers have (SELFSUP_MAX_DEVICES)


@dataclass(frozen=True)
class CommonParams:
    """Parameters every method shares, whatever its modality: for how long and how to optimize."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    epochs: Annotated[int, Field(ge=1, le=MAX_EPOCHS, description="Passes over the dataset.")] = 20
    max_minutes: Annotated[
        float | None,
        Field(
            gt=0,
            le=7 * 24 * 60,
            description="A time budget instead of epochs (give one or the other): the run times its first "
            "steps, then fixes the epochs and steps that fit, the per-epoch probe and checkpoint included, and "
            "its warm-up and cosine schedule end there. Final evaluation and export come after the budget.",
        ),
    ] = None
    batch_size: Annotated[int, Field(ge=2, le=8192, description="Items per step (before views).")] = 256
    optimizer: Annotated[OptimizerName, Field(description="Optimizer.")] = "adamw"
    lr: Annotated[float, Field(gt=0, le=10, description="Peak learning rate after warm-up.")] = 2e-3
    weight_decay: Annotated[float, Field(ge=0, le=1, description="Decoupled weight decay.")] = 1e-4
    warmup_epochs: Annotated[float, Field(ge=0, le=1000, description="Linear warm-up length.")] = 1.0
    seed: Annotated[int, Field(ge=0, le=2**31 - 1, description="Seed for every random draw.")] = 0
    devices: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_DEVICES,
            description="Devices of one host to train on, as one run (DistributedDataParallel): each takes an "
            "equal share of every batch, so batch_size must divide by it.",
        ),
    ] = 1


@dataclass(frozen=True)
class TrainingParams(CommonParams):
    """Parameters every image method shares: the common ones plus the encoder architecture."""

    backbone: Annotated[BackboneName, Field(description="Encoder architecture.")] = "resnet18"
    pretrained: Annotated[
        str | None,
        Field(
            description="Pretrained timm weights to continue from (backbone must be their architecture; a lower "
            "lr suits): over HTTP the name of a model installed in the service's pretrained folder; in the "
            "engine, its local directory."
        ),
    ] = None


def validate_params(cls: type[P], raw: dict[str, Any] | None) -> P:
    """Build ``cls`` from untrusted JSON-shaped input, or raise :class:`ParamError` naming every bad field.

    Strict, with JSON's own types: ``true`` or ``"5"`` is no epoch count (lax mode would take both, and a
    typo'd client would train something it did not ask for), while ``1`` is still a fine learning rate.
    Pydantic's strict Python mode would demand a dataclass instance, so the input is checked as JSON.
    """
    try:
        document = json.dumps(raw or {})
    except (TypeError, ValueError) as exc:
        raise ParamError([ParamIssue(("params",), f"parameters must be JSON values: {exc}")]) from None
    try:
        return TypeAdapter(cls).validate_json(document, strict=True)
    except ValidationError as exc:
        issues = [ParamIssue(("params", *err["loc"]), _message(err)) for err in exc.errors()]
        raise ParamError(issues) from None


def validate_request(cls: type[P], raw: dict[str, Any] | None) -> P:
    """:func:`validate_params` for params a caller chose, which may say how long the run is one way only.

    Resolved params (a job row's, a checkpoint's) hold every field, ``epochs`` at its default beside a
    ``max_minutes``, so they are read back with :func:`validate_params`.
    """
    given = [key for key in RUN_LENGTHS if (raw or {}).get(key) is not None]
    if len(given) > 1:
        message = "give epochs or max_minutes, not both: max_minutes plans the epochs that fit its budget"
        raise ParamError([ParamIssue(("params", key), message) for key in given])
    return validate_params(cls, raw)


def params_schema(cls: type) -> dict[str, Any]:
    """JSON schema with defaults, bounds and descriptions for ``cls``."""
    schema = TypeAdapter(cls).json_schema()
    schema.pop("title", None)
    return schema


def params_to_dict(params: object) -> dict[str, Any]:
    return asdict(params)  # type: ignore[call-overload]


def _message(err: Any) -> str:
    # pydantic calls an extra key "unexpected_keyword_argument" on a dataclass, "extra_forbidden" on a model
    if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        return "unknown parameter"
    return str(err["msg"])
