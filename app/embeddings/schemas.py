from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, Field, model_validator

MAX_INPUTS = 256
MAX_TOKENS_PER_INPUT = 8192  # models read at most 4096 (the upload's max_length bound); the rest is cut anyway
INPUT_FIELDS = ("inputs", "texts", "token_ids", "rows")


class EmbedRequest(BaseModel):
    """Exactly one of the fields, the one the model takes: image models ``inputs``, text models ``texts`` or
    ``token_ids``, table models ``rows``, image-text models ``inputs`` or ``texts``."""

    ONE_OF: ClassVar[tuple[str, ...]] = INPUT_FIELDS  # a subclass may add fields of its own to choose from

    inputs: list[str] | None = Field(
        default=None, min_length=1, max_length=MAX_INPUTS, description="Images as base64 strings or data URLs."
    )
    texts: list[str] | None = Field(default=None, min_length=1, max_length=MAX_INPUTS, description="Texts.")
    token_ids: list[Annotated[list[int], Field(max_length=MAX_TOKENS_PER_INPUT)]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_INPUTS,
        description="Texts already tokenized with the model's tokenizer (content tokens, no special tokens).",
    )
    rows: list[dict[str, Any]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_INPUTS,
        description="Table rows keyed by column name; a missing column is imputed as in training.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name in self.ONE_OF if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"send exactly one of {', '.join(self.ONE_OF)} (got {len(given)})")
        return self

    @property
    def field(self) -> str:
        return next(name for name in self.ONE_OF if getattr(self, name) is not None)


class EmbedResponse(BaseModel):
    model: str
    dim: int
    embeddings: list[list[float]]
