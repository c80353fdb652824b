"""The search half of bench/label_efficiency.py: HNSW (usearch) against exact search on synthetic vectors."""

import time
from dataclasses import dataclass

import numpy as np

from selfsup.curation.search import ExactIndex, HnswIndex, VectorIndex, recall_at_k

DIM = 128
CLUSTERS_PER_MILLION = 1000  # ~1000 items a cluster, as embeddings of a real set cluster by content
NUM_QUERIES = 1000  # recall is measured on these ...
LATENCY_QUERIES = 300  # ... latency on the first of them, one at a time
EXACT_LATENCY_QUERIES = 30
K = 10


EXPANSIONS = (128, 256)  # HNSW search breadth: the default and double


@dataclass
class SearchRow:
    size: int
    expansion: int
    build_s: float
    recall: float
    hnsw_ms: tuple[float, float]  # p50, p99 per query
    exact_ms: tuple[float, float]


def clustered_vectors(count: int, seed: int, *, centres: np.ndarray) -> np.ndarray:
    """(count, DIM) float16 unit rows around ``centres``, made in blocks (1M rows are 256 MB as float16)."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, DIM), np.float16)
    for start in range(0, count, 100_000):
        size = min(100_000, count - start)
        rows = centres[rng.integers(len(centres), size=size)] + 0.6 * rng.standard_normal((size, DIM)) / np.sqrt(DIM)
        out[start : start + size] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def latency_ms(index: VectorIndex, queries: np.ndarray) -> tuple[float, float]:
    """p50 and p99 of one-query searches, milliseconds."""
    seconds = []
    for query in queries:
        started = time.perf_counter()
        index.search(query[None], K)
        seconds.append(time.perf_counter() - started)
    p50, p99 = np.percentile(seconds, [50, 99]) * 1000
    return float(p50), float(p99)


def search_rows_of_size(size: int) -> list[SearchRow]:
    rng = np.random.default_rng(size)
    centres = rng.standard_normal((max(10, size * CLUSTERS_PER_MILLION // 1_000_000), DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)  # unit centres, noise of norm 0.6: cos ~0.75 within
    vectors = clustered_vectors(size, seed=1, centres=centres)
    queries = clustered_vectors(NUM_QUERIES, seed=2, centres=centres).astype(np.float32)
    started = time.perf_counter()
    hnsw = HnswIndex.build(vectors)
    build_s = time.perf_counter() - started
    exact = ExactIndex(vectors)
    truth = exact.search(queries, K)[1]
    exact_ms = latency_ms(exact, queries[:EXACT_LATENCY_QUERIES])
    rows = []
    for expansion in EXPANSIONS:
        hnsw.expansion_search = expansion
        recall = recall_at_k(hnsw.search(queries, K)[1], truth)
        rows.append(SearchRow(size, expansion, build_s, recall, latency_ms(hnsw, queries[:LATENCY_QUERIES]), exact_ms))
    return rows


def search_rows(sizes: list[int]) -> list[SearchRow]:
    rows = []
    for size in sizes:
        rows += search_rows_of_size(size)
        print(f"  {size} vectors: built in {rows[-1].build_s:.0f} s", flush=True)
    return rows


def print_search_table(rows: list[SearchRow]) -> None:
    header = f"{'vectors':>10}{'ef':>6}{'build s':>10}{'recall@10':>11}{'hnsw p50 ms':>13}{'p99 ms':>9}"
    header += f"{'exact p50 ms':>14}{'p99 ms':>9}"
    print(header + "\n" + "-" * len(header))
    for r in rows:
        print(
            f"{r.size:>10}{r.expansion:>6}{r.build_s:>10.1f}{r.recall:>11.3f}{r.hnsw_ms[0]:>13.3f}{r.hnsw_ms[1]:>9.3f}"
            f"{r.exact_ms[0]:>14.2f}{r.exact_ms[1]:>9.2f}"
        )
