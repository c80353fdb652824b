"""Training throughput, side by side: LightlySSL's reference loop vs selfsup's step vs the model alone.

Same data (scikit-learn's digits upscaled to --image-size), same model (selfsup's SimCLR from the registry),
same optimizer and batch size. Three ways to feed it:

  A  the loop LightlySSL's examples write: a torch DataLoader over PIL images, per-sample torchvision
     transforms (lightly.transforms.SimCLRTransform) in --workers processes, then forward/backward/step.
     Normalize is left out of the transform because selfsup's Backbone normalizes its input itself, so
     every path feeds the model [0, 1] floats and normalizes exactly once.
  B  selfsup: Trainer.fit over the uint8 array: batches gathered ahead on its loader thread (or kept on the
     device when they fit), two views augmented batched on the device (selfsup.augment: fused crop/flip
     and colour transforms), bf16 autocast and channels-last on CUDA.
  C  the model alone: two pre-made view tensors, no augmentation and no indexing; the same
     forward/backward/step with the same autocast and memory format as B. The ceiling for A and B.

Every path reads the loss back from the device every 10 steps, as the Trainer does (each read waits for the
device). data_wait is the share of the timed steps' time the training loop spent waiting for its batch: on
A's DataLoader (and the copy to the device), on B's prefetch queue; C has no data to wait for. Warm-up
steps (DataLoader worker start-up, cuDNN autotuning, allocator growth, compiling) are not timed.

    python bench/train_throughput.py                                  # tiny CNN, 32 px, batch 256
    python bench/train_throughput.py --backbone resnet18 --steps 3 --batch-size 128
    python bench/train_throughput.py --compile                        # B and C through torch.compile
    python bench/train_throughput.py --backbone vit_small --image-size 96 --json out.json

On CUDA each path's peak allocated memory (torch.cuda.max_memory_allocated, the most over its rounds) is
printed too; ``--json`` writes the figures for bench/gpu_check.py.
"""

import argparse
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightly.transforms import SimCLRTransform
from PIL import Image
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, Dataset

from selfsup.augment import BLUR_MIN_SIZE, to_float_images
from selfsup.backbones import backbone_names, create_backbone
from selfsup.data.images import canonical_image
from selfsup.device import autocast_for, keep_freed_memory, memory_format_for, pick_device
from selfsup.methods import SSLMethod, get_method
from selfsup.train.hooks import Metrics, Progress, TrainingHooks
from selfsup.train.loop import Trainer
from selfsup.train.optim import build_optimizer
from selfsup.train.readout import DEFAULT_LOSS_EVERY

Loss = Callable[[list[torch.Tensor]], torch.Tensor]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", choices=backbone_names(), default="tiny_cnn")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per path")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps before timing")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes for A")
    parser.add_argument("--rounds", type=int, default=3, help="A, B, C measured this many times, interleaved")
    parser.add_argument("--compile", action="store_true", help="B and C put the loss through torch.compile")
    parser.add_argument("--json", type=Path, help="also write each path's figures to this file")
    return parser.parse_args()


def digit_images(size: int, count: int) -> np.ndarray:
    """(count, S, S, 3) uint8: the 1797 digits upscaled to ``size`` and repeated up to ``count``."""
    gray = np.round(load_digits().images * (255 / 16)).astype(np.uint8)  # (1797, 8, 8)
    images = np.stack([canonical_image(Image.fromarray(image, mode="L"), size) for image in gray])
    return images[np.arange(count) % len(images)]


def build_model(params: Any, size: int, device: torch.device) -> SSLMethod:
    """selfsup's SimCLR through the registry, with the same seeded init as the Trainer builds."""
    torch.manual_seed(params.seed)
    backbone = create_backbone(params.backbone, image_size=size)
    model = get_method("simclr").method_cls(params, backbone).to(device)
    return model.to(memory_format=memory_format_for(device)).train()


@dataclass(frozen=True)
class Timing:
    seconds: float  # of the timed steps
    waited_s: float  # of which the loop waited for its batch
    peak_bytes: int | None = None  # CUDA memory allocated at most during the whole path; None off CUDA


class EveryFewSteps:
    """Reads the loss back from the device every few steps, as the Trainer does."""

    def __init__(self) -> None:
        self.pending: list[torch.Tensor] = []

    def add(self, loss: torch.Tensor) -> None:
        self.pending.append(loss.detach())
        if len(self.pending) >= DEFAULT_LOSS_EVERY:
            torch.stack(self.pending).cpu()
            self.pending = []


def model_step(optimizer: torch.optim.Optimizer, loss_fn: Loss, views: list[torch.Tensor]) -> torch.Tensor:
    """Forward, backward and optimizer step exactly as the Trainer does them after augmentation."""
    with autocast_for(views[0].device):
        loss = loss_fn(views)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def timed(step: Callable[[], float], warmup: int, steps: int, device: torch.device) -> Timing:
    """``steps`` calls of ``step`` (which returns the seconds it waited for data) after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    synchronize(device)
    started = time.perf_counter()
    waited_s = sum(step() for _ in range(steps))
    synchronize(device)
    return Timing(time.perf_counter() - started, waited_s)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PILImages(Dataset[list[torch.Tensor]]):
    """What torchvision's CIFAR10 does: a uint8 array, one PIL image per __getitem__, then the transform."""

    def __init__(self, images: np.ndarray, transform: Callable[[Image.Image], Any]) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> list[torch.Tensor]:
        return self.transform(Image.fromarray(self.images[index]))


def reference_loop(params: Any, images: np.ndarray, args: argparse.Namespace, device: torch.device) -> Timing:
    """(A) LightlySSL's example loop: DataLoader + per-sample PIL transforms, then the model step."""
    size, memory_format = images.shape[1], memory_format_for(device)
    transform = SimCLRTransform(
        input_size=size,
        cj_strength=params.jitter_strength,  # brightness/contrast/saturation 0.8 s, hue 0.2 s, as selfsup
        min_scale=params.min_scale,
        gaussian_blur=0.5 if size >= BLUR_MIN_SIZE else 0.0,  # selfsup drops blur on small images too
        normalize=None,  # the Backbone normalizes
    )
    loader = DataLoader(
        PILImages(images, transform),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(params.seed),
    )
    model = build_model(params, size, device)
    optimizer = build_optimizer(model, params)
    batches: Iterator[list[torch.Tensor]] = iter(loader)  # workers start here, stop when it is freed
    reads = EveryFewSteps()

    def step() -> float:
        started = time.perf_counter()
        views = [v.to(device, non_blocking=True).contiguous(memory_format=memory_format) for v in next(batches)]
        waited_s = time.perf_counter() - started
        reads.add(model_step(optimizer, model.training_loss, views))
        return waited_s

    return timed(step, args.warmup_steps, args.steps, device)  # returning frees the iterator


class StepClock(TrainingHooks):
    """Times the Trainer's steps after the warm-up ones, from the end of the last warm-up step to the end of
    the last step, and the time its loop waited for batches meanwhile."""

    def __init__(self, warmup: int, steps: int, device: torch.device) -> None:
        self.warmup, self.last, self.device = warmup, warmup + steps, device
        self.trainer: Trainer | None = None
        self.marks: list[tuple[float, float]] = []  # (time, seconds waited so far) at both ends

    def on_step(self, progress: Progress, metrics: Metrics) -> None:
        if progress.step in (self.warmup, self.last) and self.trainer is not None:
            synchronize(self.device)
            self.marks.append((time.perf_counter(), self.trainer.readout.data_wait_s))

    def timing(self) -> Timing:
        (started, waited_before), (ended, waited_after) = self.marks
        return Timing(ended - started, waited_after - waited_before)


def selfsup_loop(params: Any, images: np.ndarray, args: argparse.Namespace, device: torch.device) -> Timing:
    """(B) selfsup's Trainer.fit over the uint8 array, its data pipeline and augmentation batched on the device."""
    clock = StepClock(args.warmup_steps, args.steps, device)
    with tempfile.TemporaryDirectory() as workdir:
        trainer = Trainer(
            "simclr",
            params,
            images,
            workdir=Path(workdir),
            device=str(device),
            hooks=clock,
            probe_size=0,
            max_steps=args.warmup_steps + args.steps,
            compile_step=args.compile,
        )
        clock.trainer = trainer
        trainer.fit()  # its checkpoint at the end is not timed
    return clock.timing()


def model_only_loop(params: Any, images: np.ndarray, args: argparse.Namespace, device: torch.device) -> Timing:
    """(C) The model step alone, on two pre-made views (made once by selfsup's augmentation)."""
    model = build_model(params, images.shape[1], device)
    optimizer = build_optimizer(model, params)
    loss_fn: Loss = torch.compile(model.training_loss) if args.compile else model.training_loss
    batch = torch.from_numpy(images[: args.batch_size]).to(device)
    with torch.no_grad():
        views = model.make_views(to_float_images(batch))
    views = [v.contiguous(memory_format=memory_format_for(device)) for v in views]
    reads = EveryFewSteps()

    def step() -> float:
        reads.add(model_step(optimizer, loss_fn, views))
        return 0.0  # no data

    return timed(step, args.warmup_steps, args.steps, device)


def main() -> None:
    args = parse_args()
    device = pick_device(None if args.device == "auto" else args.device)
    if device.type == "cpu":
        keep_freed_memory()  # what the Trainer does on CPU; applied before any path, so all three get it
    params = get_method("simclr").validate(
        {"backbone": args.backbone, "batch_size": args.batch_size, "epochs": 1, "warmup_epochs": 0}
    )
    images = digit_images(args.image_size, args.batch_size * (args.warmup_steps + args.steps))
    paths = {
        "A  lightly reference: DataLoader + PIL transforms": reference_loop,
        "B  selfsup Trainer.fit (batched on device)": selfsup_loop,
        "C  model only (pre-made views)": model_only_loop,
    }
    runs: dict[str, list[Timing]] = {name[0]: [] for name in paths}
    for _ in range(args.rounds):  # interleaved rounds, so a noisy neighbour hits every path alike
        for name, run in paths.items():
            runs[name[0]].append(with_peak_memory(run, params, images, args, device))
            gc.collect()  # let A's DataLoader workers exit before the next path is timed
            time.sleep(0.5)
    report(args, device, len(images), list(paths), runs)


def with_peak_memory(
    run: Callable[[Any, np.ndarray, argparse.Namespace, torch.device], Timing],
    params: Any,
    images: np.ndarray,
    args: argparse.Namespace,
    device: torch.device,
) -> Timing:
    """``run``'s timing with the peak CUDA memory allocated while it ran (model, optimizer, activations)."""
    if device.type != "cuda":
        return run(params, images, args, device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    timing = run(params, images, args, device)
    return replace(timing, peak_bytes=torch.cuda.max_memory_allocated(device))


def peak_gib(timings: list[Timing]) -> float | None:
    peaks = [t.peak_bytes for t in timings if t.peak_bytes is not None]
    return max(peaks) / 2**30 if peaks else None


def report(
    args: argparse.Namespace, device: torch.device, num_images: int, names: list[str], runs: dict[str, list[Timing]]
) -> None:
    rates = {key: [args.steps * args.batch_size / t.seconds for t in timings] for key, timings in runs.items()}
    median = {key: statistics.median(values) for key, values in rates.items()}
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(
        f"torch {torch.__version__} | device {device}{gpu} | threads {torch.get_num_threads()} | "
        f"A workers {args.workers} | compile {args.compile}\n{args.backbone}, {args.image_size} px, batch "
        f"{args.batch_size}, {args.steps} timed steps after {args.warmup_steps} warm-up, {num_images} images\n"
    )
    wait = {key: statistics.median(t.waited_s / t.seconds for t in timings) for key, timings in runs.items()}
    peak = {key: peak_gib(timings) for key, timings in runs.items()}
    print(f"{'path':<52} {'samples/s':>10} {'s/step':>8} {'data_wait':>10} {'peak GiB':>9}   rounds (samples/s)")
    for name in names:
        key = name[0]
        each = ", ".join(f"{r:.0f}" for r in rates[key])
        gib = "n/a" if peak[key] is None else f"{peak[key]:.2f}"
        step_s = args.batch_size / median[key]
        print(f"{name:<52} {median[key]:>10.1f} {step_s:>8.3f} {wait[key]:>10.3f} {gib:>9}   {each}")
    print(
        f"\nB/A = {median['B'] / median['A']:.2f}x   B/C = {median['B'] / median['C']:.2f}"
        f"   (medians of {args.rounds} rounds)"
    )
    if args.json:
        figures = {key: {"samples_per_s": median[key], "data_wait": wait[key], "peak_gib": peak[key]} for key in runs}
        setup = {"device": str(device), "backbone": args.backbone, "image_size": args.image_size}
        args.json.write_text(json.dumps({**setup, "batch_size": args.batch_size, "paths": figures}, indent=2))


if __name__ == "__main__":
    main()
