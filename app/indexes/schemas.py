from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.embeddings.schemas import INPUT_FIELDS, EmbedRequest

MAX_K = 1000
MAX_ITEM_QUERIES = 1000  # stored items as queries cost one vector read each, no embedding


class IndexIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    embedding_run_id: str = Field(max_length=40)
    kind: Literal["auto", "exact", "hnsw"] = Field(
        default="auto",
        description="exact: every vector is compared (best for up to tens of thousands of items); hnsw: the "
        "approximate graph index the run built (only runs larger than SELFSUP_EXACT_INDEX_UP_TO have one); auto: "
        "hnsw where the run has it, else exact.",
    )
    name: str | None = Field(default=None, max_length=200)


class IndexOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str | None
    embedding_run_id: str
    kind: str
    num_items: int
    created_at: datetime


class SearchRequest(EmbedRequest):
    """Queries as stored items of the run (``items``: their indices, "more like this") or as raw inputs the
    run's model embeds first (``inputs`` images, ``texts``, ``token_ids`` or ``rows``). An image-text model's run
    holds image vectors: ``texts`` search images by caption-like text, and images search images."""

    model_config = ConfigDict(extra="forbid")
    ONE_OF: ClassVar[tuple[str, ...]] = ("items", *INPUT_FIELDS)

    k: int = Field(default=10, ge=1, le=MAX_K, description="Matches per query.")
    items: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None, min_length=1, max_length=MAX_ITEM_QUERIES, description="Indices of stored items to query with."
    )


class Match(BaseModel):
    index: int = Field(description="The matching item's index in the dataset (GET /v1/datasets/{id}/items/{index}).")
    score: float = Field(description="Cosine similarity to the query, in [-1, 1].")
    label: str | None = None


class QueryResult(BaseModel):
    query: int = Field(description="The query's position in the request.")
    matches: list[Match]


class SearchResponse(BaseModel):
    index_id: str
    kind: str
    results: list[QueryResult]

    @classmethod
    def build(cls, index_id: str, kind: str, matches: list[list[Match]]) -> "SearchResponse":
        return cls(
            index_id=index_id, kind=kind, results=[QueryResult(query=i, matches=m) for i, m in enumerate(matches)]
        )
