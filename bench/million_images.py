"""Data at real scale: ingest a million small JPEGs at 32 px, then train 200 steps of the tiny preset on them.

Three stages, each measured on its own:

  1  generate: --images photo-like JPEGs of 41 to 64 px a side (``ingest_throughput.photo``: shading, flat
     objects, sensor grain), streamed into one uncompressed .tar on disk by a process pool on every core.
  2  ingest: in a child process, the service's own image ingest (``app.datasets.ingest.ingest_image_archive``
     with the limits ``app.datasets.modalities.ingest_limits(Settings())`` builds, SELFSUP_* variables included)
     into ``images.npy``; wall time, images/s, the child's peak RSS (VmHWM, imports included) and the peaks of
     its anonymous and file-backed resident memory (the array is memory-mapped: its written pages count in
     RSS), and the peaks of its children (decoding processes, a resource tracker).
  3  train: in another child, ``selfsup.train.loop.Trainer`` (SimCLR, ``tiny_cnn``, --batch-size 256) on the
     memory-mapped array for --steps steps (``max_steps``; an epoch of 1M images is 3906 steps): the loss at
     the start and the end, steps/s, the child's peak RSS, and the range of item indices the batches drew.

Everything lives in a temporary folder that is removed at the end (the tar and the array of 1M images take
about 2.6 and 3.1 GB). Progress lines go to stderr; the table to stdout, and as JSON to --json.

    python bench/million_images.py --images 20000
    nice -n 10 python bench/million_images.py --images 1000000 --json /work/bench-1m.json
"""

import argparse
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from ingest_throughput import photo

from selfsup.data.decoding import available_cores

CHUNK = 1000  # images per generation task
SIDES = (41, 65)  # photo() places objects up to 40 px in from an edge, so a side must exceed 40
STATUS_FIELDS = ("VmHWM", "VmRSS", "RssAnon", "RssFile")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--image-size", type=int, default=32, help="stored side length")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--ingest-child", nargs=3, metavar=("TAR", "OUT", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--train-child", nargs=3, metavar=("ARRAY", "STEPS", "BATCH"), help=argparse.SUPPRESS)
    return parser.parse_args()


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """Memory counters of a process from /proc, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {name: int(fields[name].split()[0]) for name in STATUS_FIELDS if name in fields}


def jpeg_chunk(start: int, count: int) -> list[bytes]:
    """``count`` JPEGs, seeded by their first index so that any split of the work makes the same images."""
    rng = np.random.default_rng(start)
    return [photo(rng, int(rng.integers(*SIDES)), int(rng.integers(*SIDES))) for _ in range(count)]


def write_tar(path: Path, count: int) -> float:
    """Stream ``count`` JPEGs into an uncompressed tar; a few chunks in flight bound the memory. Returns seconds."""
    started, written, every = time.perf_counter(), 0, max(count // 20, CHUNK)
    pending: deque[Future[list[bytes]]] = deque()
    starts = iter(range(0, count, CHUNK))
    with ProcessPoolExecutor(available_cores()) as pool, tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for _ in range(2 * available_cores()):
            if (start := next(starts, None)) is not None:
                pending.append(pool.submit(jpeg_chunk, start, min(CHUNK, count - start)))
        while pending:
            for data in pending.popleft().result():
                info = tarfile.TarInfo(f"images/{written:07d}.jpg")
                info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
                tar.addfile(info, io.BytesIO(data))
                written += 1
                if written % every == 0:
                    say(f"generated {written}/{count} images, {written / (time.perf_counter() - started):.0f}/s")
            if (start := next(starts, None)) is not None:
                pending.append(pool.submit(jpeg_chunk, start, min(CHUNK, count - start)))
    return time.perf_counter() - started


class MemoryWatch(threading.Thread):
    """Samples this process's anonymous and file-backed resident memory (VmHWM has only their sum's peak) and
    prints a progress line now and then, when ``describe`` is given: it says where the work is."""

    def __init__(self, describe: Callable[[], str] | None, every_s: float = 30.0) -> None:
        super().__init__(daemon=True)
        self.describe, self.every_s = describe, every_s
        self.peaks = {"RssAnon": 0, "RssFile": 0}
        self.stopped = threading.Event()

    def run(self) -> None:
        last_line = time.monotonic()
        while not self.stopped.wait(0.5):
            status = proc_status()
            for name in self.peaks:
                self.peaks[name] = max(self.peaks[name], status.get(name, 0))
            if self.describe and time.monotonic() - last_line >= self.every_s:
                rss, mapped = status["VmRSS"] / 1024, status["RssFile"] / 1024
                say(f"{self.describe()}; RSS {rss:.0f} MB (mapped files {mapped:.0f})")
                last_line = time.monotonic()


def mapped_mb(path: Path) -> float:
    """How much of ``path`` this process has resident through its memory maps."""
    kib, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            if "-" in line.split(" ", 1)[0]:  # a mapping's header line: "start-end perms offset dev inode path"
                inside = line.rstrip().endswith(str(path))
            elif inside and line.startswith("Rss:"):
                kib += int(line.split()[1])
    return kib / 1024


def archive_position(path: Path) -> str:
    """How far this process has read into ``path``: the listing reads every header once, decoding then reads
    every member."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                with open(f"/proc/self/fdinfo/{fd}") as info:
                    position = int(info.readline().split()[1])
                return f"ingest at {100 * position / path.stat().st_size:.0f}% of the archive"
        except OSError:
            continue
    return "ingest starting"


def child_processes() -> list[int]:
    pids: list[int] = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as children:
                pids += [int(pid) for pid in children.read().split()]
        except FileNotFoundError:  # a thread that ended since the listing (the pool's own come and go)
            continue
    return pids


def ingest_child(tar: Path, out_dir: Path, image_size: int) -> dict[str, Any]:
    """The ingest stage, in its own process: exactly the service's call with the service's limits."""
    from app.core.config import Settings
    from app.datasets.ingest import IMAGES_FILE, ingest_image_archive
    from app.datasets.modalities import ingest_limits

    imported_kib = proc_status()["VmHWM"]  # the floor: what the service's modules take before any work
    out_dir.mkdir()
    watch = MemoryWatch(lambda: archive_position(tar))
    watch.start()
    started = time.perf_counter()
    result = ingest_image_archive(
        tar, filename="images.tar", out_dir=out_dir, image_size=image_size, limits=ingest_limits(Settings())
    )
    seconds = time.perf_counter() - started
    watch.stopped.set()
    watch.join()
    return {
        "seconds": seconds,
        "images": result.num_items,
        "images_per_s": result.num_items / seconds,
        "peak_rss_mb": proc_status()["VmHWM"] / 1024,
        "imported_rss_mb": imported_kib / 1024,
        "peak_anon_mb": watch.peaks["RssAnon"] / 1024,
        "peak_mapped_file_mb": watch.peaks["RssFile"] / 1024,
        "children_peak_rss_mb": [proc_status(pid)["VmHWM"] / 1024 for pid in child_processes()],
        "images_npy_mb": (out_dir / IMAGES_FILE).stat().st_size / 1e6,
    }


def train_child(array_path: Path, steps: int, batch_size: int) -> dict[str, Any]:
    """The training stage, in its own process: the engine's Trainer on the memory-mapped array."""
    from training_watch import StepWatch, WatchedImages

    from selfsup.data.images import load_image_array
    from selfsup.methods import get_method
    from selfsup.train.loop import Trainer

    imported_kib = proc_status()["VmHWM"]
    data = WatchedImages(load_image_array(array_path))
    epochs = math.ceil(steps / (len(data) // batch_size))  # 1 at 1M images; more when a small run needs them
    params = get_method("simclr").validate(
        {"backbone": "tiny_cnn", "batch_size": batch_size, "epochs": epochs, "warmup_epochs": 0}
    )
    watch, memory = StepWatch(data, print_every=max(steps // 10, 1), say=say), MemoryWatch(None)
    memory.start()
    with tempfile.TemporaryDirectory() as workdir:
        trainer = Trainer("simclr", params, data, workdir=Path(workdir), hooks=watch, max_steps=steps)
        say(f"training {steps} steps on {trainer.device}, {len(data)} items, {len(trainer.batches)} steps per epoch")
        started = time.perf_counter()
        result = trainer.fit()
        seconds = time.perf_counter() - started
    memory.stopped.set()
    memory.join()
    return {
        **watch.summary(len(data)),
        "device": str(trainer.device),
        "status": result.status,
        "fit_seconds": seconds,
        "peak_rss_mb": proc_status()["VmHWM"] / 1024,
        "imported_rss_mb": imported_kib / 1024,
        "peak_anon_mb": memory.peaks["RssAnon"] / 1024,
        "peak_mapped_file_mb": memory.peaks["RssFile"] / 1024,
        "array_mapped_mb": mapped_mb(array_path),  # file pages, the kernel's read-around included
        "probe": {k: v for k, v in result.metrics.items() if k in ("rankme", "alignment", "uniformity")},
    }


def run_child(*arguments: str) -> dict[str, Any]:
    """Run this file as a child (stderr, its progress, passes through) and read its last line of JSON."""
    done = subprocess.run([sys.executable, __file__, *arguments], stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the child {arguments[0]} failed with exit code {done.returncode}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


TABLE = [  # (row, template over the report)
    ("images", "{images}, {cores} cores, load average {load_before:.2f} before, {load_after:.2f} after"),
    ("generate", "{generate[seconds]:.0f} s, {generate[images_per_s]:.0f} img/s, tar {generate[tar_mb]:.0f} MB"),
    ("ingest", "{ingest[seconds]:.0f} s, {ingest[images_per_s]:.0f} img/s, images.npy {ingest[images_npy_mb]:.0f} MB"),
    (
        "ingest peak RSS",
        "{ingest[peak_rss_mb]:.0f} MB ({ingest[imported_rss_mb]:.0f} after imports; sampled: anon "
        "{ingest[peak_anon_mb]:.0f}, mapped files {ingest[peak_mapped_file_mb]:.0f})",
    ),
    ("its children's peaks", "{children} MB"),
    (
        "train",
        "{train[steps]} steps on {train[device]}, {train[steps_per_s]:.2f} steps/s, "
        "{train[samples_per_s]:.0f} samples/s, fit {train[fit_seconds]:.0f} s",
    ),
    (
        "loss",
        "{train[loss_start_mean]:.3f} -> {train[loss_end_mean]:.3f} (means of the first and last 10 steps; "
        "step 1 {train[loss_first]:.3f}, last {train[loss_last]:.3f})",
    ),
    (
        "indices drawn",
        "{train[index_min]}..{train[index_max]} of 0..{last_index}, {train[distinct_items]} distinct, "
        "{train[tenths_of_array_hit]}/10 tenths of the array",
    ),
    (
        "train peak RSS",
        "{train[peak_rss_mb]:.0f} MB ({train[imported_rss_mb]:.0f} after imports; sampled: anon "
        "{train[peak_anon_mb]:.0f}, mapped files {train[peak_mapped_file_mb]:.0f}, of it images.npy "
        "{train[array_mapped_mb]:.0f})",
    ),
]


def table(report: dict[str, Any]) -> str:
    children = ", ".join(f"{mb:.0f}" for mb in report["ingest"]["children_peak_rss_mb"])
    values = {**report, "children": children, "last_index": report["images"] - 1}
    return "\n".join(f"{name:<20} {template.format(**values)}" for name, template in TABLE)


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"images": args.images, "cores": available_cores(), "load_before": os.getloadavg()[0]}
    tar = work / "images.tar"
    say(f"writing {args.images} JPEGs into {tar}")
    seconds = write_tar(tar, args.images)
    report["generate"] = {"seconds": seconds, "images_per_s": args.images / seconds, "tar_mb": tar.stat().st_size / 1e6}
    say(f"tar: {report['generate']['tar_mb']:.0f} MB in {seconds:.0f} s; ingesting in a child process")
    out = work / "dataset"
    report["ingest"] = run_child("--ingest-child", str(tar), str(out), str(args.image_size))
    tar.unlink()  # no longer needed: leave the disk to the array
    say(f"ingested in {report['ingest']['seconds']:.0f} s; training in a child process")
    report["train"] = run_child("--train-child", str(out / "images.npy"), str(args.steps), str(args.batch_size))
    report["load_after"] = os.getloadavg()[0]
    return report


def main() -> None:
    args = parse_args()
    if args.ingest_child:
        tar, out, size = args.ingest_child
        print(json.dumps(ingest_child(Path(tar), Path(out), int(size))))
        return
    if args.train_child:
        array, steps, batch = args.train_child
        print(json.dumps(train_child(Path(array), int(steps), int(batch))))
        return
    work = Path(tempfile.mkdtemp(prefix="selfsup-million-"))
    try:
        report = bench(args, work)
    finally:
        shutil.rmtree(work)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
