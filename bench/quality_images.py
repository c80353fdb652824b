"""Our default SimCLR against LightlySSL's reference loop (bench/reference_simclr.py), side by side on one image set.

Every row is probed on the same stratified 80/20 split by the same independent kNN (k=20, cosine) and linear
probe (selfsup.eval.probes): raw pixels; the reference loop's small CNN trained and at its random init; and for
each of our presets (--presets), our default SimCLR (its own params, only backbone, epochs, batch and seed set)
trained and at its random init. Both sides run the same epochs of the same batch on the same images.

    python bench/quality.py --vs-reference                        # mnist (5000), 5 epochs of 256, conv4
    python bench/quality_images.py --presets tiny_cnn,small_cnn --seeds 0,1
    python bench/quality_images.py --reference-backbone resnet18  # the example's own backbone (slow on CPU)

Measured (2 CPU cores shared with other jobs; 2000 of the MNIST images, 5 epochs of 256, 400 test items, so one
probe's standard error is ~1.5 points), kNN / linear, trained (random init), with SimCLR's defaults as they are now
(temperature 0.2, min_scale 0.08, jitter_strength 1.0, lr 1e-3; ours and the reference from separate runs):

    seed  raw pixels   lightly conv4 (0.39M)          our tiny_cnn (0.09M)           our small_cnn (0.39M)
    0     .895 / .877  .882 / .955 (.875 / .915) 309s  .710 / .762 (.598 / .667) 115s  .897 / .968 (.875 / .915) 198s
    1     .900 / .880  .897 / .950 (.873 / .938) 265s  .738 / .782 (.652 / .757) 115s  .905 / .960 (.873 / .938) 189s

The reference's figures move between runs of one seed (the run this table replaced: .870 / .960 and .912 / .953);
ours repeat to the digit.
"""

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from image_sets import IMAGE_SETS, default_image_set, load_images
from reference_simclr import REFERENCE_BACKBONES, reference_embedder, train_reference

from selfsup.eval import embedder
from selfsup.eval.baselines import pixel_features
from selfsup.eval.probes import labeled_split, probe_accuracies
from selfsup.methods import get_method
from selfsup.train.loop import Trainer

Embed = Callable[[np.ndarray], np.ndarray]


@dataclass
class Side:
    """One trained encoder and its random init, as embedders of item indices."""

    name: str
    encoder: str
    trained: Embed
    random_init: Embed
    seconds: float
    loss: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presets", default="tiny_cnn,small_cnn", help="our backbones to compare, comma-separated")
    parser.add_argument("--reference-backbone", choices=sorted(REFERENCE_BACKBONES), default="conv4")
    parser.add_argument("--image-set", choices=sorted(IMAGE_SETS), default=None, help="default: mnist if installed")
    parser.add_argument("--skip-reference", action="store_true", help="our presets only, e.g. for ablations")


def ours(images: np.ndarray, preset: str, args: argparse.Namespace, seed: int, overrides: dict[str, Any]) -> Side:
    """Our SimCLR with its defaults on ``preset`` (``overrides``, e.g. from SELFSUP_BENCH_TUNED, replace them)."""
    spec = get_method("simclr")
    budget = {"backbone": preset, "epochs": args.epochs, "batch_size": args.batch_size, "seed": seed}
    params = spec.validate({**budget, **overrides})
    with tempfile.TemporaryDirectory() as workdir:
        trainer = Trainer(spec, params, images, workdir=Path(workdir), device=args.device, probe_size=0)
        random_init = Trainer(spec, params, images, workdir=Path(workdir), device=args.device, probe_size=0)
        started = time.perf_counter()
        result = trainer.fit()
        seconds = time.perf_counter() - started
    trained_embed = embedder(trainer.model, trainer.data, trainer.device)
    random_embed = embedder(random_init.model, random_init.data, trainer.device)
    loss = result.metrics.get("epoch_loss", float("nan"))
    return Side("ours SimCLR", preset, trained_embed, random_embed, seconds, loss)


def reference(images: np.ndarray, args: argparse.Namespace, seed: int) -> Side:
    started = time.perf_counter()
    run = train_reference(
        images, backbone=args.reference_backbone, epochs=args.epochs, batch_size=args.batch_size, seed=seed
    )
    seconds = time.perf_counter() - started
    encoder = f"{args.reference_backbone} ({run.num_parameters / 1e6:.2f}M)"
    trained, random_init = reference_embedder(run.trained, images), reference_embedder(run.random_init, images)
    return Side("lightly ref", encoder, trained, random_init, seconds, run.epoch_loss)


def scores(side: Side, labels: np.ndarray, split: tuple[np.ndarray, np.ndarray]) -> dict[str, dict[str, float]]:
    everything = np.arange(len(labels))
    return {
        "trained": probe_accuracies(side.trained(everything), labels, *split),
        "random init": probe_accuracies(side.random_init(everything), labels, *split),
    }


def print_row(name: str, encoder: str, init: str, probe: dict[str, float], seconds: str, loss: str) -> None:
    knn, linear = probe["knn_top1"], probe["linear_probe"]
    print(f"{name:<13}{encoder:<20}{init:<13}{knn:>7.3f}{linear:>8.3f}{seconds:>9}{loss:>8}", flush=True)


def run_seed(images: np.ndarray, labels: np.ndarray, args: argparse.Namespace, seed: int) -> None:
    split = labeled_split(labels, seed=seed)
    overrides: dict[str, Any] = json.loads(os.environ.get("SELFSUP_BENCH_TUNED", "{}")).get("simclr", {})
    print(f"\nseed {seed} | our overrides: {overrides or 'none'}")
    print(f"{'loop':<13}{'encoder':<20}{'init':<13}{'kNN':>7}{'linear':>8}{'time s':>9}{'loss':>8}")
    print_row("raw pixels", "-", "-", probe_accuracies(pixel_features(images), labels, *split), "-", "-")
    sides: list[Callable[[], Side]] = [] if args.skip_reference else [lambda: reference(images, args, seed)]
    sides += [partial(ours, images, preset, args, seed, overrides) for preset in presets(args)]
    for make in sides:
        side = make()
        for init, probe in scores(side, labels, split).items():
            trained = init == "trained"
            seconds, loss = (f"{side.seconds:.0f}", f"{side.loss:.3f}") if trained else ("-", "-")
            print_row(side.name, side.encoder, init, probe, seconds, loss)


def presets(args: argparse.Namespace) -> list[str]:
    return [name.strip() for name in args.presets.split(",") if name.strip()]


def main(args: argparse.Namespace) -> None:
    image_set = args.image_set or default_image_set()
    images, labels = load_images(image_set, args.image_size, args.num_items)
    print(
        f"torch {torch.__version__} | device {args.device} | threads {torch.get_num_threads()} | {len(images)} "
        f"{image_set} images at {args.image_size} px | {args.epochs} epochs of batch {args.batch_size} on both "
        f"sides | probes: kNN k=20 cosine, linear probe, on one stratified 80/20 split per seed"
    )
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    for seed in seeds:
        run_seed(images, labels, args, seed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--num-items", type=int, default=None, help="use the first N images only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None, help="comma-separated seeds, each a full run (default: --seed)")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_args())
