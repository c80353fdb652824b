"""Bodies of ``POST /v1/embeddings``, field for field as OpenAI's embeddings API defines them.

https://platform.openai.com/docs/api-reference/embeddings/create
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from app.embeddings.schemas import MAX_INPUTS, MAX_TOKENS_PER_INPUT

TokenIds = list[Annotated[StrictInt, Field(ge=0)]]
# Strict: JSON numbers are never read as strings, nor 1.0 as a token id, as OpenAI refuses them too.
EmbeddingInput = StrictStr | list[StrictStr] | list[TokenIds] | TokenIds
INPUT_SHAPES = "a string, an array of strings, an array of token ids, or an array of token id arrays"


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    input: EmbeddingInput = Field(
        description=f"What to embed: {INPUT_SHAPES}, at most {MAX_INPUTS} inputs. Image models take images as "
        "data URLs (``data:image/png;base64,...``) or plain base64 strings."
    )
    model: StrictStr = Field(min_length=1, max_length=200, description="A model id (mdl_...) or one of its aliases.")
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="``float`` arrays, or ``base64`` of little-endian float32 bytes."
    )
    dimensions: Annotated[StrictInt, Field(ge=1)] | None = Field(
        default=None, description="Only the model's own size: our encoders are not trained to be truncated."
    )
    user: StrictStr | None = Field(default=None, max_length=256, description="Accepted for compatibility; unused.")

    @field_validator("input", mode="before")
    @classmethod
    def sized(cls, value: object) -> object:
        """Counts checked before the union is tried: pydantic tries each of its four shapes over every item and
        collects an error per item, so 12 million token ids held the event loop for 23 s before "too long"."""
        if not isinstance(value, list):
            return value
        if value and isinstance(value[0], int):  # one input's token ids
            _check_tokens(value, "holds")
        elif len(value) > MAX_INPUTS:
            raise ValueError(f"holds {len(value)} inputs; at most {MAX_INPUTS} are allowed per request")
        else:
            for index, item in enumerate(value):
                if isinstance(item, list):
                    _check_tokens(item, f"item {index} holds")
        return value

    @field_validator("input")
    @classmethod
    def bounded(cls, value: EmbeddingInput) -> EmbeddingInput:
        items = _as_items(value)
        if not items:
            raise ValueError("must not be an empty array")
        if len(items) > MAX_INPUTS:
            raise ValueError(f"holds {len(items)} inputs; at most {MAX_INPUTS} are allowed per request")
        for index, item in enumerate(items):
            if not item:
                raise ValueError(f"item {index} is empty")
        return value

    def items(self) -> list[str] | list[list[int]]:
        """The inputs one per embedding: a lone string or a lone token id array is one input."""
        return _as_items(self.input)


def _check_tokens(ids: list[object], what: str) -> None:
    if len(ids) > MAX_TOKENS_PER_INPUT:
        raise ValueError(f"{what} {len(ids)} token ids; at most {MAX_TOKENS_PER_INPUT} are allowed per input")


def _as_items(value: EmbeddingInput) -> list[str] | list[list[int]]:
    if isinstance(value, str):
        return [value]
    if value and isinstance(value[0], int):
        return [value]  # a flat array is one input's token ids
    return value  # type: ignore[return-value]


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    embedding: list[float] | str = Field(description="Floats, or base64 of little-endian float32 bytes.")
    index: int


class Usage(BaseModel):
    prompt_tokens: int = Field(description="Tokens read from text inputs; 0 for images.")
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str = Field(description="The id of the model that answered (an alias resolves to it).")
    usage: Usage


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, requests (429) or server_error, as OpenAI uses them.")
    param: str | None = Field(description="The request field at fault, when one is.")
    code: str | None = Field(description="A stable code where one applies: invalid_api_key, model_not_found, ...")


class ErrorResponse(BaseModel):
    error: ErrorDetail
