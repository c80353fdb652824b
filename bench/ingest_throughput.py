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

Text, instead of images, with --text-gb: a corpus of that many GB is written to disk (words drawn from a
Zipf-like vocabulary, lines of a few to a few hundred words and one in a thousand of about a megabyte), then
ingested by ``app.datasets.text_ingest.ingest_text`` in a child process; the child's peak RSS (VmHWM, imports
included) and MB/s are printed (target: 2 GB under 1.5 GB peak RSS).

    python bench/ingest_throughput.py --text-gb 2
    python bench/ingest_throughput.py --csv-gb 2           # a 2 GB CSV table instead: peak RSS and MB/s
"""

import argparse
import io
import json
import statistics
import subprocess
import sys
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
    parser.add_argument(
        "--csv-gb", type=float, default=0, help="instead: ingest a CSV of this many GB, report peak RSS and MB/s"
    )
    parser.add_argument("--text-gb", type=float, default=0, help="bench text ingest on a corpus this size instead")
    parser.add_argument("--ingest-text", nargs=2, metavar=("CORPUS", "OUT"), help=argparse.SUPPRESS)  # the child
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
    )
    out_dir = Path(tempfile.mkdtemp(dir=work_dir))
    start = time.perf_counter()
    result = ingest_image_archive(archive_path, filename="photos.zip", out_dir=out_dir, image_size=size, limits=limits)
    elapsed = time.perf_counter() - start
    assert result.num_items == count
    return count / elapsed


CSV_CHUNK_ROWS = 200_000
CSV_WORDS = [f"{kind}_{i}" for kind in ("red", "blue", "green", "grey") for i in range(40)]


def csv_chunk(rng: np.random.Generator, rows: int) -> "object":
    """~20 columns like a real export: 8 measurements (5% missing), 4 integer counts, 5 categories (some
    missing), 3 booleans written true/false."""
    import pyarrow as pa

    columns: dict[str, object] = {}
    for j in range(8):
        values = np.round(rng.normal(100 * j, 10 + j, rows), 3)
        columns[f"measure_{j}"] = pa.array(values, mask=rng.random(rows) < 0.05)
    for j in range(4):
        columns[f"count_{j}"] = pa.array(rng.integers(0, 10 ** (j + 2), rows))
    words = pa.array(CSV_WORDS)
    for j in range(5):
        codes = pa.array(rng.integers(0, 10 + 30 * j, rows), mask=rng.random(rows) < 0.02)
        columns[f"category_{j}"] = words.take(codes)
    for j in range(3):
        columns[f"flag_{j}"] = pa.array(rng.random(rows) < 0.3 + 0.2 * j)
    return pa.table(columns)


def write_csv(path: Path, target_bytes: int) -> int:
    """A CSV of about ``target_bytes`` (header once, then chunks until it is reached); returns its rows."""
    import pyarrow.csv as pacsv

    rng, rows = np.random.default_rng(0), 0
    with path.open("wb") as handle:
        while handle.tell() < target_bytes:
            table = csv_chunk(rng, CSV_CHUNK_ROWS)
            pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=rows == 0))  # type: ignore[arg-type]
            rows += CSV_CHUNK_ROWS
    return rows


def ingest_csv_child(path: Path, out_dir: Path, seconds: "object") -> None:
    """The child process: our table ingest of ``path``, as the API runs it; puts on the queue its peak RSS
    once the API's modules are imported (torch among them: the floor any API process starts from), then its
    seconds."""
    import resource

    from app.datasets.ingest import IngestOptions
    from app.datasets.table_ingest import ingest_table

    seconds.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # type: ignore[attr-defined]

    limits = IngestLimits(
        archive=ArchiveLimits(max_members=10, max_total_bytes=2**40, max_member_bytes=2**40),
        max_image_pixels=40_000_000,
    )
    start = time.perf_counter()
    ingest_table(path, filename="table.csv", out_dir=out_dir, options=IngestOptions(image_size=32), limits=limits)
    seconds.put(time.perf_counter() - start)  # type: ignore[attr-defined]


def csv_bench(gigabytes: float) -> None:
    """Table ingest at scale: write a CSV of ``gigabytes``, ingest it in a child process, print the child's
    peak RSS (what streaming bounds: target < 1.5 GB at 2 GB of CSV) and the ingest's MB/s."""
    import multiprocessing
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        rows = write_csv(path, int(gigabytes * 1e9))
        size_mb = path.stat().st_size / 1e6
        print(f"CSV: {size_mb:.0f} MB, {rows} rows, 20 columns (8 numeric, 4 integer, 5 categorical, 3 boolean)")
        context = multiprocessing.get_context("spawn")
        seconds = context.Queue()
        child = context.Process(target=ingest_csv_child, args=(path, Path(tmp) / "dataset", seconds))
        child.start()
        imported_mb, elapsed = seconds.get(), seconds.get()
        child.join()
        assert child.exitcode == 0, f"the ingest failed (exit code {child.exitcode})"
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    print(f"table ingest: {elapsed:.1f} s, {size_mb / elapsed:.1f} MB/s")
    print(f"child peak RSS {peak_mb:.0f} MB ({imported_mb:.0f} MB of it once the API's modules were imported)")


TEXT_TARGET_RSS_GB = 1.5
VOCABULARY = 50_000
LONG_LINE_EVERY = 1000  # lines; each such line is about a megabyte


def make_text_corpus(path: Path, size_bytes: int) -> int:
    """Write about ``size_bytes`` of text: Zipf-distributed words of 2 to 12 letters, ``\\n``-separated lines of
    lognormal length (median about 40 words), and now and then one of about 150k words. Returns the line count."""
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    words = [rng.choice(letters, rng.integers(2, 13)).tobytes() for _ in range(VOCABULARY)]
    spaced, ended = (
        np.array([w + b" " for w in words], dtype=object),
        np.array([w + b"\n" for w in words], dtype=object),
    )
    weights = 1.0 / np.arange(1, VOCABULARY + 1) ** 1.1
    weights /= weights.sum()
    written, lines = 0, 0
    with path.open("wb") as handle:
        while written < size_bytes:
            lengths = np.maximum(1, rng.lognormal(np.log(40), 1.0, 20_000).astype(np.int64))
            lengths[rng.random(len(lengths)) < 1 / LONG_LINE_EVERY] = 150_000
            picks = rng.choice(VOCABULARY, int(lengths.sum()), p=weights)
            pieces = spaced[picks]
            ends = np.cumsum(lengths) - 1
            pieces[ends] = ended[picks[ends]]
            written += handle.write(b"".join(pieces.tolist()))
            lines += len(lengths)
    return lines


def ingest_text_child(corpus: Path, out_dir: Path) -> None:
    """In the child: ingest ``corpus`` as a plain .txt upload and print what it took, as JSON."""
    from app.datasets.ingest import IngestOptions
    from app.datasets.text_ingest import ingest_text

    limits = IngestLimits(
        archive=ArchiveLimits(max_members=1, max_total_bytes=2**40, max_member_bytes=2**40),
        max_image_pixels=1,
    )
    options = IngestOptions(image_size=32, vocab_size=8000, max_length=128)
    start = time.perf_counter()
    result = ingest_text(corpus, filename="corpus.txt", out_dir=out_dir, options=options, limits=limits)
    seconds = time.perf_counter() - start
    with open("/proc/self/status") as status:  # the peak of this process since exec, imports included
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "peak_kib": peak_kib, "items": result.num_items, "details": result.details}))


def text_bench(gigabytes: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        start = time.perf_counter()
        lines = make_text_corpus(corpus, int(gigabytes * 1e9))
        size = corpus.stat().st_size
        print(f"text corpus: {size / 1e9:.2f} GB, {lines} lines, written in {time.perf_counter() - start:.0f} s")
        child = [sys.executable, __file__, "--ingest-text", str(corpus), str(Path(tmp) / "dataset")]
        done = subprocess.run(child, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the ingest child failed:\n{done.stderr}")
    report = json.loads(done.stdout.splitlines()[-1])
    # Not getrusage(RUSAGE_CHILDREN): its ru_maxrss also counts the parent's pages the child shared between fork
    # and exec, here the corpus writer's.
    peak_gb = report["peak_kib"] * 1024 / 1e9
    seconds = report["seconds"]
    print(f"  ingested {report['items']} documents in {seconds:.0f} s: {size / 1e6 / seconds:.1f} MB/s")
    print(f"  details: {json.dumps(report['details'])}")
    print(f"  child's peak RSS {peak_gb:.2f} GB (target < {TEXT_TARGET_RSS_GB} GB)")


def main() -> None:
    args = parse_args()
    if args.ingest_text:
        ingest_text_child(Path(args.ingest_text[0]), Path(args.ingest_text[1]))
        return
    if args.text_gb:
        text_bench(args.text_gb)
        return
    if args.csv_gb:
        csv_bench(args.csv_gb)
        return
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
