from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models.aliases import MODEL_ID_PREFIX
from app.models.orm import ModelAlias, RegisteredModel

# A letter or digit first: ".", ".." and names like "-x" read as paths or options wherever an alias travels.
ALIAS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class ModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    job_id: str
    method: str
    backbone: str
    modality: str
    dim: int
    created_at: datetime
    evaluation: dict[str, Any] = Field(
        default_factory=dict,
        description="The job's final representation metrics: label-free (rankme, alignment, uniformity, "
        "embedding_std, mean_cosine, participation_ratio, warning) and, for labeled datasets, kNN and "
        "linear-probe accuracy vs random init and vs the modality's classical baseline (baseline, "
        "knn_top1_baseline, linear_probe_baseline).",
    )
    aliases: list[str] = Field(default_factory=list, description="The names that resolve to this model, sorted.")
    teacher: dict[str, Any] | None = Field(
        default=None,
        description="For a distilled model, the model it learned from: its model_id, method, backbone and dim "
        "(the id even when the job named it by an alias). None for every other model.",
    )

    @classmethod
    def from_row(cls, row: RegisteredModel, *, aliases: Sequence[str] = ()) -> "ModelOut":
        fields = ModelOut.model_validate(row).model_dump(exclude={"evaluation", "aliases", "teacher"})
        details = {"evaluation": row.details.get("evaluation", {}), "teacher": row.details.get("teacher")}
        return cls.model_validate({**fields, **details, "aliases": aliases})


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: Annotated[
        str,
        Field(
            pattern=ALIAS_PATTERN,
            description="1 to 100 letters, digits or '-', '_', '.', starting with a letter or digit; "
            "not starting with 'mdl_' (model ids do).",
            examples=["products-prod"],
        ),
    ]

    @field_validator("alias")
    @classmethod
    def not_like_a_model_id(cls, alias: str) -> str:
        # Ids and aliases share the ``model`` field of POST /v1/embeddings: an alias like an id would be
        # shadowed by (or could one day shadow) a real model.
        if alias.lower().startswith(MODEL_ID_PREFIX):
            raise ValueError(f"an alias must not start with {MODEL_ID_PREFIX!r}, which model ids use")
        return alias


class AliasOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    alias: str
    model_id: str
    updated_at: datetime

    @classmethod
    def from_row(cls, row: ModelAlias) -> "AliasOut":
        return cls.model_validate(row)
