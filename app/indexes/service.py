"""Search indexes: creating one over a finished embedding run, and answering queries against it."""

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import FieldErrors
from app.core.ids import new_id
from app.core.queries import get_owned, paged
from app.core.storage import Storage
from app.curation.analysis import INDEX_FILE
from app.curation.open_runs import OpenRun
from app.embedding_runs.orm import EmbeddingRun
from app.embedding_runs.service import get_run, ready_run
from app.indexes.orm import SearchIndex
from app.indexes.schemas import Match
from app.models.orm import RegisteredModel


@dataclass(frozen=True)
class SearchTarget:
    """What a search reads, taken from the rows before the session is given back."""

    index: SearchIndex
    run: EmbeddingRun
    model: RegisteredModel


def create_index(
    session: Session, *, tenant: str, run_id: str, kind: str, name: str | None, storage: Storage, max_exact: int
) -> SearchIndex:
    run = ready_run(session, tenant=tenant, run_id=run_id)
    has_graph = storage.exists(f"{run.storage_key}/{INDEX_FILE}")
    resolved = ("hnsw" if has_graph else "exact") if kind == "auto" else kind
    if resolved == "hnsw" and not has_graph:
        message = f"run {run.id!r} has {run.num_items} items, few enough to be searched exactly: it has no hnsw index"
        raise FieldErrors([(("body", "kind"), message)])
    if resolved == "exact" and run.num_items > max_exact:
        message = f"exact search is for runs of up to {max_exact} items (SELFSUP_MAX_EXACT_SEARCH_ITEMS); use hnsw"
        raise FieldErrors([(("body", "kind"), message)])
    index = SearchIndex(
        id=new_id("idx"), tenant=tenant, name=name, embedding_run_id=run.id, kind=resolved, num_items=run.num_items
    )
    session.add(index)
    session.commit()
    return index


def get_index(session: Session, *, tenant: str, index_id: str) -> SearchIndex:
    return get_owned(session, SearchIndex, index_id, tenant=tenant, kind="index")


def list_indexes(session: Session, *, tenant: str, limit: int, offset: int) -> tuple[list[SearchIndex], int]:
    query = select(SearchIndex).where(SearchIndex.tenant == tenant)
    return paged(session, query, order_by=(SearchIndex.created_at.desc(), SearchIndex.id), limit=limit, offset=offset)


def delete_index(session: Session, *, tenant: str, index_id: str) -> None:
    session.delete(get_index(session, tenant=tenant, index_id=index_id))
    session.commit()


def search_target(session: Session, *, tenant: str, index_id: str) -> SearchTarget:
    index = get_index(session, tenant=tenant, index_id=index_id)
    run = get_run(session, tenant=tenant, run_id=index.embedding_run_id)
    model = session.get_one(RegisteredModel, run.model_id)
    return SearchTarget(index, run, model)


def item_vectors(opened: OpenRun, items: list[int]) -> np.ndarray:
    """The stored vectors of ``items`` as queries, (Q, D) float32; 422 naming an index out of range."""
    count = len(opened.arrays.vectors)
    for position, item in enumerate(items):
        if item >= count:
            raise FieldErrors([(("body", "items", position), f"the run has items 0 to {count - 1}, not {item}")])
    return np.asarray(opened.arrays.vectors[np.asarray(items)], dtype=np.float32)


def check_search_work(queries: int, *, kind: str, num_items: int, max_comparisons: int) -> None:
    """An exact search compares every query with every item: its work is bounded like any expensive request."""
    if kind == "exact" and queries * num_items > max_comparisons:
        most = max(1, max_comparisons // max(num_items, 1))
        raise FieldErrors([(("body",), f"an exact search of {num_items} items takes at most {most} queries at once")])


def find_matches(
    opened: OpenRun, queries: np.ndarray, *, kind: str, k: int, exclude: list[int] | None
) -> list[list[Match]]:
    """Top-``k`` matches per query; with ``exclude`` (the query items themselves), each query's own item is
    left out of its matches."""
    extra = 1 if exclude is not None else 0
    scores, indices = opened.index(kind).search(queries, k + extra)
    results = []
    for row, (row_scores, row_indices) in enumerate(zip(scores, indices, strict=True)):
        own = exclude[row] if exclude is not None else -1
        found = [(int(i), float(s)) for i, s in zip(row_indices, row_scores, strict=True) if i >= 0 and i != own]
        results.append([Match(index=i, score=round(s, 6), label=opened.label_of(i)) for i, s in found[:k]])
    return results
