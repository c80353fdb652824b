"""Text ingest in bounded memory: a child process ingests a corpus with one very long line, and its peak memory
grows by a small multiple of that line, not by the corpus times the overhead of every copy made of it."""

import json
import subprocess
import sys
from pathlib import Path

LINE_BYTES = 48 * 1024**2
CHILD = """
import json, sys
from pathlib import Path
from app.datasets.archives import ArchiveLimits
from app.datasets.ingest import IngestLimits, IngestOptions
from app.datasets.text_ingest import ingest_text

limits = IngestLimits(
    archive=ArchiveLimits(max_members=10, max_total_bytes=2**34, max_member_bytes=2**30),
    max_image_pixels=1,
)
options = IngestOptions(image_size=32, vocab_size=500, max_length=64)


def status(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key))


# Measure from here: Linux resets the peak (VmHWM) to what is held now, so the imports' own peak is not counted.
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
before = status("VmRSS:")
upload, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
result = ingest_text(upload, filename="corpus.txt", out_dir=out_dir, options=options, limits=limits)
print(json.dumps({"grew_kib": status("VmHWM:") - before, "items": result.num_items, "details": result.details}))
"""


def write_corpus(path: Path) -> None:
    """2000 short documents, then one line of ``LINE_BYTES`` (a page of text pasted without newlines)."""
    words = [f"word{i}" for i in range(5000)]
    page = " ".join(words).encode() + b" "
    with path.open("wb") as handle:
        for i in range(2000):
            handle.write(f"document {i} says {' '.join(words[i : i + 12])}\n".encode())
        handle.write((page * (LINE_BYTES // len(page) + 1))[:LINE_BYTES] + b"\n")


def test_a_long_line_is_ingested_in_memory_a_small_multiple_of_it(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    write_corpus(corpus)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(corpus), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["items"] == 2001 and report["details"]["max_length"] == 64
    # Now the line is held about twice (its bytes while they are decoded); the old ingest held the file, its
    # lines, and the tokenizer's view of the line with offsets for every token: over 10 GB for 60 MB.
    assert report["grew_kib"] * 1024 < 4 * LINE_BYTES, report


def test_text_ingest_imports_neither_torch_nor_transformers() -> None:
    """An ingesting process that imported them held about 800 MB before reading a byte."""
    code = "import sys, app.datasets.text_ingest\nprint(sorted({'torch', 'transformers'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
