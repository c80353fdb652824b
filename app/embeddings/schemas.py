from pydantic import BaseModel, Field

MAX_INPUTS = 256


class EmbedRequest(BaseModel):
    inputs: list[str] = Field(min_length=1, max_length=MAX_INPUTS, description="Images as base64 strings or data URLs.")


class EmbedResponse(BaseModel):
    model: str
    dim: int
    embeddings: list[list[float]]
