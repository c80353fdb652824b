"""Label efficiency: how few labels a few-shot classifier on our embeddings needs, and how fast search is.

Part 1, per modality (the labeled sets of bench/quality_data.py: digits, docstrings, a table): features from
(a) the raw baseline of bench/quality.py, (b) the encoder at random init, (c) the encoder after a short
self-supervised pretraining (the modality's DEFAULT_METHODS entry, tiny architecture, on every item, no
labels). All are L2-normalized, as the service serves them. A stratified 30% of the items is held out; for a
budget of 1, 2, 5, 10 and 20 labels per class on average (budget x classes items of the train part), each
selection strategy of selfsup.curation.selection picks which train items get labels, fit_classifier fits on
them, and the test accuracy (mean over --seeds) is printed. "full" fits on every train label. Each row ends
with the smallest budget reaching --target x the best full-label accuracy of the modality: the label savings.

Part 2: recall@10 of HnswIndex against ExactIndex, build time and per-query latency (batch of 1, p50/p99) on
synthetic clustered 128-d float16 unit vectors (--search-sizes).

    python bench/label_efficiency.py                       # every modality, then 100k and 1M vectors
    python bench/label_efficiency.py --modalities image --search-sizes 100000
    python bench/label_efficiency.py --quick               # smoke run: tiny sets, 1 epoch, 2k vectors
"""

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from quality_data import ARCHITECTURES, MODALITIES, TABLES, BenchSet, load_set
from search_speed import print_search_table, search_rows

from selfsup.curation.fewshot import fit_classifier
from selfsup.curation.selection import STRATEGIES, select_items
from selfsup.eval import embedder
from selfsup.eval.probes import labeled_split
from selfsup.methods import get_method
from selfsup.train.loop import Trainer

# The method a user gets without asking for one, per modality: the most-cited method of each family we serve.
DEFAULT_METHODS = {"image": "simclr", "text": "simcse", "tabular": "scarf"}
PRETRAIN = {
    "image": {"epochs": 8, "batch_size": 256},
    "text": {"epochs": 8, "batch_size": 64},
    "tabular": {"epochs": 30, "batch_size": 128},
}
BUDGETS = (1, 2, 5, 10, 20)  # labels per class, on average
QUICK = {"num_items": 300, "epochs": 1, "seeds": 1, "search_sizes": "2000"}


@dataclass
class Row:
    features: str
    strategy: str
    accuracy: dict[str, float]  # budget ("1", ..., "full") -> mean test accuracy


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modalities", default=",".join(MODALITIES))
    parser.add_argument("--table", choices=TABLES, default=TABLES[0])
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--num-items", type=int, default=None, help="use the first N items of each set")
    parser.add_argument("--epochs", type=int, default=None, help=f"pretraining epochs (default: {PRETRAIN})")
    parser.add_argument("--seeds", type=int, default=3, help="selections averaged per cell")
    parser.add_argument("--target", type=float, default=0.9, help="share of the best full-label accuracy")
    parser.add_argument("--search-sizes", default="100000,1000000", help="comma-separated; empty: skip")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help=f"smoke run, overriding the options above: {QUICK}")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    return args


def unit_rows(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def feature_sets(bench: BenchSet, modality: str, args: argparse.Namespace) -> dict[str, np.ndarray]:
    """raw / random-init / pretrained (N, D) unit features of every item; prints the pretraining time."""
    spec = get_method(DEFAULT_METHODS[modality])
    budget = dict(PRETRAIN[modality], **({"epochs": args.epochs} if args.epochs else {}))
    architecture = dict(ARCHITECTURES[modality]) | ({"max_length": 64} if modality == "text" else {})
    params = spec.validate({**architecture, **budget, "seed": 0})
    everything = np.arange(len(bench.labels))
    with tempfile.TemporaryDirectory() as workdir:
        trainer = Trainer(spec, params, bench.data, workdir=Path(workdir), device=args.device, probe_size=0)
        random_features = embedder(trainer.model, trainer.data, trainer.device)(everything)  # before training
        started = time.perf_counter()
        trainer.fit()
        print(f"  pretrained {spec.name} for {budget['epochs']} epochs in {time.perf_counter() - started:.0f} s")
        trained = embedder(trainer.model, trainer.data, trainer.device)(everything)
    return {
        bench.raw_name: unit_rows(bench.raw),
        "random init": unit_rows(random_features),
        spec.name: unit_rows(trained),
    }


def test_accuracy(vectors: np.ndarray, labels: np.ndarray, picked: np.ndarray, test: np.ndarray, seed: int) -> float:
    """Accuracy on ``test`` of a classifier fitted on ``picked``; one class picked -> it is always predicted."""
    names = [str(label) for label in labels[picked]]
    if len(set(names)) < 2:
        return float(np.mean(labels[test] == labels[picked[0]]))
    classifier = fit_classifier(vectors[picked], names, seed=seed, folds=1).classifier  # folds=1: no CV needed
    return float(np.mean(np.array(classifier.predict(vectors[test])) == labels[test].astype(str)))


def strategy_row(
    name: str, vectors: np.ndarray, labels: np.ndarray, strategy: str, split: tuple[np.ndarray, np.ndarray], seeds: int
) -> Row:
    train, test = split
    num_classes = len(np.unique(labels[train]))
    accuracy: dict[str, float] = {}
    for per_class in BUDGETS:
        budget = min(per_class * num_classes, len(train))
        scores = []
        for seed in range(seeds):
            picked = train[select_items(vectors[train], budget=budget, strategy=strategy, seed=seed)]
            scores.append(test_accuracy(vectors, labels, picked, test, seed))
        accuracy[str(per_class)] = float(np.mean(scores))
    accuracy["full"] = test_accuracy(vectors, labels, train, test, 0)
    return Row(name, strategy, accuracy)


def print_label_table(rows: list[Row], target_share: float) -> None:
    columns = [*map(str, BUDGETS), "full"]
    header = f"{'features':<14}{'strategy':<12}" + "".join(f"{c:>8}" for c in columns) + "   labels/class to target"
    print(header + "\n" + "-" * len(header))
    target = target_share * max(row.accuracy["full"] for row in rows)
    for row in rows:
        reached = next((c for c in columns[:-1] if row.accuracy[c] >= target), None)
        cells = "".join(f"{row.accuracy[c]:>8.3f}" for c in columns)
        print(f"{row.features:<14}{row.strategy:<12}{cells}   {reached or '> ' + columns[-2]}")
    print(f"target: {target:.3f} = {target_share:.0%} of the best full-label accuracy")


def label_savings(rows: list[Row], target_share: float) -> str:
    """One line: labels per class the best row needs to reach the target, and random selection on raw features."""
    target = target_share * max(row.accuracy["full"] for row in rows)

    def needed(row: Row) -> float:
        return next((b for b in BUDGETS if row.accuracy[str(b)] >= target), float("inf"))

    def shown(row: Row) -> str:
        return f"{row.features} + {row.strategy} needs " + (
            f"{needed(row)} labels/class" if needed(row) < float("inf") else f"more than {BUDGETS[-1]} labels/class"
        )

    best = min(rows, key=needed)
    return f"to reach {target:.3f}: {shown(best)}, {shown(rows[0])}"  # rows[0]: raw features, random selection


def run_modality(modality: str, args: argparse.Namespace) -> None:
    bench = load_set(modality, count=args.num_items, image_size=args.image_size, table=args.table, max_length=64)
    print(f"\n== {modality}: {bench.summary}")
    split = labeled_split(bench.labels, test_fraction=0.3, seed=0)
    print(f"  {len(split[0])} train / {len(split[1])} test items, stratified")
    rows = [
        strategy_row(name, vectors, bench.labels, strategy, split, args.seeds)
        for name, vectors in feature_sets(bench, modality, args).items()
        for strategy in STRATEGIES
    ]
    print()
    print_label_table(rows, args.target)
    print(label_savings(rows, args.target))


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__} | device {args.device} | threads {torch.get_num_threads()} | seeds {args.seeds}")
    for modality in [m.strip() for m in args.modalities.split(",") if m.strip()]:
        run_modality(modality, args)
    sizes = [int(size) for size in str(args.search_sizes).split(",") if size.strip()]
    if sizes:
        print("\n== search: HNSW (usearch, f16) against exact, 128-d clustered unit vectors, k=10")
        print_search_table(search_rows(sizes))


if __name__ == "__main__":
    main()
