from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_SHOWN = 1000  # groups, outliers or disagreements one report lists (the counts cover them all)


class DuplicateGroups(BaseModel):
    num_groups: int = Field(description="How many groups there are in all.")
    num_items: int = Field(description="Items in some group: each group keeps one and repeats the rest.")
    groups: list[list[int]] = Field(description="The largest groups first, each its item indices ascending.")


class NearDuplicateGroups(DuplicateGroups):
    threshold: float = Field(description="Items at least this cosine-similar were joined.")


class Outlier(BaseModel):
    index: int
    density: float = Field(description="Mean cosine similarity to the item's nearest neighbours: lowest first.")


class LabelDisagreement(BaseModel):
    index: int
    label: str = Field(description="The item's label.")
    suggested: str = Field(description="The label its neighbours vote for.")
    agreement: float = Field(description="Share of the neighbours' similarity-weighted vote for the suggestion.")


class QualityReport(BaseModel):
    embedding_run_id: str
    num_items: int
    exact_duplicates: DuplicateGroups = Field(description="Items whose canonical content is identical.")
    near_duplicates: NearDuplicateGroups
    outliers: list[Outlier] = Field(description="The items in the sparsest regions of the embedding space.")
    label_disagreements: list[LabelDisagreement] | None = Field(
        description="Labeled items whose neighbours mostly carry another label (likely label errors); null when "
        "the dataset has no labels."
    )


class SelectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    embedding_run_id: str = Field(max_length=40)
    budget: int = Field(ge=1, le=100_000, description="How many items to choose.")
    strategy: Literal["diversity", "typicality", "random"] = Field(
        default="diversity",
        description="diversity: greedy k-center, each pick the item farthest from all chosen (covers the space); "
        "typicality: one dense, representative item per k-means cluster (best for very small budgets); random: "
        "the baseline.",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    exclude: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list, max_length=1_000_000, description="Items already labeled: never chosen again."
    )
    exclude_labeled: bool = Field(default=False, description="Also exclude the items the dataset already labels.")


class SelectionOut(BaseModel):
    embedding_run_id: str
    strategy: str
    budget: int
    seed: int
    indices: list[int] = Field(description="The chosen items, in the order they were chosen.")


class MapPoint(BaseModel):
    index: int
    x: float
    y: float
    label: str | None = None


class EmbeddingMap(BaseModel):
    embedding_run_id: str
    method: str = Field(description="tsne (small runs) or umap.")
    points: list[MapPoint]
