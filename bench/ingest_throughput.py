"""Image ingest throughput, side by side: a plain Pillow loop on one core vs selfsup's ingest on every core.

The bench makes its own photos: --count camera-sized JPEGs (--width x --height, photo-like content with
gradients, edges and sensor grain), stored in a zip as a user would upload them. Two ways to turn them into
(S, S, 3) thumbnails:

  A  the loop most scripts write, in one process: read each file from the zip, then
     ``PIL.Image.open(...).convert("RGB").resize((S, S))``.
  B  selfsup's ingest (``app.datasets.ingest.ingest_image_archive``): archive checks, reading in archive order,
     decoding on a process pool over every core (JPEGs at reduced scale with Pillow's draft mode), format and
     bomb checks, orientation, centre crop, written straight into the memory-mapped array.

The target is B >= 0.8 x cores x A. Rounds are interleaved (A, B, A, B, ...) and the medians reported, so a
machine whose load changes during the run slows both sides alike. B's decoding pool lives as long as the
process that ingests (an API or ingest worker), so its start-up is paid once: the first ingest is run and
printed apart, then not counted.

    python bench/ingest_throughput.py                      # 2000 photos of 640x480 to 32 px
    python bench/ingest_throughput.py --count 500 --size 64 --rounds 1
"""

import argparse
import io
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from app.datasets.archives import ArchiveLimits
from app.datasets.ingest import IngestLimits, ingest_image_archive
from selfsup.data.decoding import available_cores

TARGET = 0.8


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="photos in the archive")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--size", type=int, default=32, help="stored side length")
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


def photo(rng: np.random.Generator, width: int, height: int) -> bytes:
    """A JPEG with what makes photos cost to decode: smooth shading, hard edges and per-pixel noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shading = np.stack([np.sin(x / rng.uniform(30, 120) + c) * np.cos(y / rng.uniform(30, 120)) for c in range(3)], -1)
    pixels = shading * 70 + 128
    for _ in range(6):  # objects: rectangles of flat colour
        x0, y0 = rng.integers(0, width - 40), rng.integers(0, height - 40)
        pixels[y0 : y0 + rng.integers(20, 200), x0 : x0 + rng.integers(20, 200)] = rng.uniform(0, 255, 3)
    pixels += rng.normal(0, 8, pixels.shape)
    buffer = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def make_archive(path: Path, count: int, width: int, height: int) -> int:
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:  # JPEGs do not compress further
        for index in range(count):
            archive.writestr(f"photos/{index:07d}.jpg", photo(rng, width, height))
    return path.stat().st_size


def plain_loop(archive_path: Path, size: int) -> float:
    """A: images per second of the one-process Pillow loop."""
    start = time.perf_counter()
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
        for name in names:
            image = Image.open(io.BytesIO(archive.read(name))).convert("RGB").resize((size, size))
            np.asarray(image)
    return len(names) / (time.perf_counter() - start)


def selfsup_ingest(archive_path: Path, size: int, count: int, work_dir: Path) -> float:
    """B: images per second of our ingest, from the archive to the finished array."""
    limits = IngestLimits(
        archive=ArchiveLimits(max_members=count + 10, max_total_bytes=2**40, max_member_bytes=2**26),
        max_image_pixels=40_000_000,
        max_in_memory_bytes=2**30,
    )
    out_dir = Path(tempfile.mkdtemp(dir=work_dir))
    start = time.perf_counter()
    result = ingest_image_archive(archive_path, filename="photos.zip", out_dir=out_dir, image_size=size, limits=limits)
    elapsed = time.perf_counter() - start
    assert result.num_items == count
    return count / elapsed


def main() -> None:
    args = parse_args()
    cores = available_cores()
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = Path(tmp)
        archive_path = work_dir / "photos.zip"
        size_mb = make_archive(archive_path, args.count, args.width, args.height) / 1e6
        print(f"{args.count} photos, {args.width}x{args.height}, {size_mb:.0f} MB zip -> {args.size} px; {cores} cores")
        cold = selfsup_ingest(archive_path, args.size, args.count, work_dir)
        print(f"  B's first ingest in this process, starting its decoding pool: {cold:.0f} img/s (not counted)")
        plain, ours = [], []
        for round_index in range(args.rounds):
            plain.append(plain_loop(archive_path, args.size))
            ours.append(selfsup_ingest(archive_path, args.size, args.count, work_dir))
            print(f"  round {round_index + 1}: A {plain[-1]:8.0f} img/s   B {ours[-1]:8.0f} img/s")
    a, b = statistics.median(plain), statistics.median(ours)
    print(f"A  plain Pillow loop, 1 core       {a:8.0f} images/s")
    print(f"B  selfsup ingest, {cores} cores        {b:8.0f} images/s  ({b / cores:.0f} per core)")
    print(f"B / A = {b / a:.2f}; B / (cores x A) = {b / (cores * a):.2f} (target >= {TARGET})")


if __name__ == "__main__":
    main()
