"""Distillation on the quality bench: does a tiny student learn a big SSL teacher's neighbourhoods, and what
does it save at serving time?

On scikit-learn's handwritten digits (bench/quality_data.py) at --image-size px, in one run:

  teacher   --teacher-backbone (resnet18) trained by SimCLR for --teacher-epochs
  student   --student-backbone (tiny_cnn) trained by ``distill`` from that teacher for --epochs
  baseline  the same student architecture trained by SimCLR alone for --epochs (same batch size, seed)

and for each: kNN top-1 and linear-probe accuracy on held-out labels (never seen in training; the 80/20 split
of bench/quality.py), MFLOPs per image of one embedding forward pass (torch's FlopCounterMode: 2 per
multiply-accumulate) and embed throughput (images/s through ``embedder`` in eval mode, measured back to back
in the same process, so the ratio is what to read under a loaded machine).

    python bench/distill.py                                  # CPU: a few minutes at the defaults
    python bench/distill.py --teacher-epochs 20 --epochs 20  # closer to the README's figures
"""

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from quality_data import BenchSet, digits_set
from torch.utils.flop_counter import FlopCounterMode

from selfsup.encoder import Encoder
from selfsup.eval import embedder
from selfsup.eval.probes import evaluate_with_labels
from selfsup.methods import get_method
from selfsup.train.loop import Trainer

THROUGHPUT_IMAGES = 1024  # embedded per timing; the best of THROUGHPUT_REPEATS is kept
THROUGHPUT_REPEATS = 3


@dataclass(frozen=True)
class Row:
    name: str
    backbone: str
    knn: float
    linear: float
    mflops: float
    images_per_s: float
    train_s: float


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher-backbone", default="resnet18")
    parser.add_argument("--student-backbone", default="tiny_cnn")
    parser.add_argument("--teacher-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10, help="the student's and the SimCLR baseline's")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--num-items", type=int, default=None, help="the first N digits only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args()


def train(method: str, params: dict[str, Any], bench: BenchSet, args: argparse.Namespace, **kw: Any) -> Trainer:
    spec = get_method(method)
    resolved = spec.validate({"batch_size": args.batch_size, "seed": args.seed, **params})
    with tempfile.TemporaryDirectory() as workdir:
        trainer = Trainer(spec, resolved, bench.data, workdir=Path(workdir), device=args.device, **kw)
        trainer.fit()
    return trainer


def mflops_per_image(trainer: Trainer, image_size: int) -> float:
    """One image's embedding forward pass (backbone and pooling, as served), in MFLOPs."""
    images = torch.rand(1, 3, image_size, image_size, device=trainer.device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        trainer.model.eval()
        trainer.model.backbone(images)
    return counter.get_total_flops() / 1e6


def images_per_second(trainer: Trainer, count: int) -> float:
    embed = embedder(trainer.model, trainer.data, trainer.device)
    indices = np.arange(min(count, len(trainer.data)))
    embed(indices[:64])  # warm-up: first-call allocations
    best = float("inf")
    for _ in range(THROUGHPUT_REPEATS):
        started = time.perf_counter()
        embed(indices)
        best = min(best, time.perf_counter() - started)
    return len(indices) / best


def measure(name: str, trainer: Trainer, bench: BenchSet, args: argparse.Namespace, train_s: float) -> Row:
    embed = embedder(trainer.model, trainer.data, trainer.device)
    scores = evaluate_with_labels(embed, embed, bench.labels, seed=args.seed)  # the random-init twin is not read
    return Row(
        name,
        trainer.model.backbone.spec.name,
        scores["knn_top1"],
        scores["linear_probe"],
        mflops_per_image(trainer, args.image_size),
        images_per_second(trainer, THROUGHPUT_IMAGES),
        train_s,
    )


def timed(build: Any) -> tuple[Trainer, float]:
    started = time.perf_counter()
    trainer = build()
    return trainer, time.perf_counter() - started


def teacher_encoder(trainer: Trainer) -> Encoder:
    """The trained teacher as the worker hands one to a distillation: exported, loaded back, frozen."""
    with tempfile.TemporaryDirectory() as folder:
        return Encoder.load(trainer.export_encoder(Path(folder) / "encoder.pt"))


def print_table(rows: list[Row]) -> None:
    header = f"{'model':<26}{'backbone':<11}{'kNN':>7}{'linear':>8}{'MFLOPs/img':>12}{'embed img/s':>13}{'train s':>9}"
    print(header + "\n" + "-" * len(header))
    for row in rows:
        print(
            f"{row.name:<26}{row.backbone:<11}{row.knn:>7.3f}{row.linear:>8.3f}{row.mflops:>12.1f}"
            f"{row.images_per_s:>13.0f}{row.train_s:>9.0f}"
        )
    teacher, student = rows[0], rows[1]
    print(
        f"\nstudent vs teacher: kNN {100 * (student.knn - teacher.knn):+.1f} points, "
        f"{teacher.mflops / student.mflops:.0f}x fewer FLOPs, {student.images_per_s / teacher.images_per_s:.1f}x "
        "embed throughput"
    )


def main() -> None:
    args = parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    bench = digits_set(args.image_size, args.num_items)
    print(f"{bench.summary}, device {args.device}, batch {args.batch_size}, seed {args.seed}")
    common = {"warmup_epochs": 1.0}
    teacher, teacher_s = timed(
        lambda: train(
            "simclr", {**common, "backbone": args.teacher_backbone, "epochs": args.teacher_epochs}, bench, args
        )
    )
    student_params = {**common, "backbone": args.student_backbone, "epochs": args.epochs, "teacher": "bench-teacher"}
    student, student_s = timed(lambda: train("distill", student_params, bench, args, teacher=teacher_encoder(teacher)))
    alone, alone_s = timed(
        lambda: train("simclr", {**common, "backbone": args.student_backbone, "epochs": args.epochs}, bench, args)
    )
    print_table(
        [
            measure(f"teacher (simclr, {args.teacher_epochs} ep)", teacher, bench, args, teacher_s),
            measure(f"student (distill, {args.epochs} ep)", student, bench, args, student_s),
            measure(f"student (simclr, {args.epochs} ep)", alone, bench, args, alone_s),
        ]
    )


if __name__ == "__main__":
    main()
