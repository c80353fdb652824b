"""A text dataset's documents and token ids on disk, written and read as streams.

``documents.jsonl`` holds one ``{"text", "label"}`` object per kept document, written as the upload is read and
read back a line at a time (texts cut to what any job could tokenize, see :mod:`selfsup.text.budget`);
``corpus.json`` holds the counts. Datasets written before this kept everything in one ``documents.json``,
which still loads. ``tokens.npy`` is written in blocks of documents: the ids of each block go to a flat file
first, then into the padded (N, L) array once L, the longest, is known.
"""

import json
import os
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from selfsup.text.budget import cut_text
from selfsup.text.tokenizer import special_tokens, truncating

DOCUMENTS_FILE = "documents.jsonl"
SUMMARY_FILE = "corpus.json"
LEGACY_DOCUMENTS_FILE = "documents.json"
TOKENS_FILE = "tokens.npy"
BLOCK = 4096  # documents tokenized at once, and rows copied at once into the padded array


@dataclass(frozen=True)
class StoredCorpus:
    """What writing the documents learned: their count and counts, and their labels as class codes."""

    count: int
    stats: dict[str, int]
    label_codes: np.ndarray  # (N,) int64, -1 where unlabeled, indexing ``classes``
    classes: list[str]  # in order of first appearance


def write_documents(
    out_dir: Path, documents: Iterable[tuple[str, str | None]], *, stats: dict[str, int], max_chars: int
) -> StoredCorpus:
    """Write ``(text, label)`` pairs to ``documents.jsonl``, each text cut to ``max_chars``, then ``corpus.json``
    with ``stats`` (which the ``documents`` iterator may still be filling in as it is read)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    codes = array("q")
    classes: dict[str, int] = {}
    with (out_dir / DOCUMENTS_FILE).open("w", encoding="utf-8") as handle:
        for text, label in documents:
            handle.write(json.dumps({"text": cut_text(text, max_chars), "label": label}, ensure_ascii=False) + "\n")
            codes.append(-1 if label is None else classes.setdefault(label, len(classes)))
    summary = {"stats": stats, "labeled": bool(classes)}
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary), encoding="utf-8")
    return StoredCorpus(len(codes), dict(stats), np.frombuffer(codes, dtype=np.int64).copy(), list(classes))


def stored_documents(dataset_dir: Path, *, every: int = 1) -> Iterator[tuple[str, str | None]]:
    """The ``(text, label)`` pairs of a dataset, read a line at a time (old datasets: all at once); with
    ``every``, only each ``every``-th from the first (the others are skipped unparsed)."""
    path = dataset_dir / DOCUMENTS_FILE
    if not path.is_file():
        legacy = json.loads((dataset_dir / LEGACY_DOCUMENTS_FILE).read_text(encoding="utf-8"))
        labels = legacy["labels"] or [None] * len(legacy["documents"])
        yield from islice(zip(legacy["documents"], labels, strict=True), 0, None, every)
        return
    with path.open("rb") as handle:
        for line in islice(handle, 0, None, every):
            item = json.loads(line)
            yield item["text"], item["label"]


def stored_texts(dataset_dir: Path, *, max_chars: int | None = None, every: int = 1) -> Iterator[str]:
    """The texts of a dataset in order (each ``every``-th), each cut to ``max_chars`` when given."""
    for text, _ in stored_documents(dataset_dir, every=every):
        yield text if max_chars is None else cut_text(text, max_chars)


@dataclass(frozen=True)
class StoredTexts:
    """The texts of a dataset as :func:`stored_texts` reads them, read afresh from disk each time it is iterated
    (a tokenizer's training reads its sample twice)."""

    dataset_dir: Path
    max_chars: int | None = None
    every: int = 1

    def __iter__(self) -> Iterator[str]:
        return stored_texts(self.dataset_dir, max_chars=self.max_chars, every=self.every)


def stored_stats(dataset_dir: Path) -> tuple[dict[str, int], bool]:
    """(counts, whether any document had a label)."""
    path = dataset_dir / SUMMARY_FILE
    if not path.is_file():
        legacy = json.loads((dataset_dir / LEGACY_DOCUMENTS_FILE).read_text(encoding="utf-8"))
        return legacy["stats"], legacy["labels"] is not None
    summary = json.loads(path.read_text(encoding="utf-8"))
    return summary["stats"], summary["labeled"]


def sample_stride(count: int, wanted: int) -> int:
    """The step that takes about ``wanted`` of ``count`` items spread evenly from first to last (a sample for
    the tokenizer that does not depend on the order an upload lists its topics in)."""
    return max(1, -(-count // max(wanted, 1)))


def write_token_ids(
    tokenizer: Tokenizer, texts: Iterable[str], path: Path, *, max_length: int, block: int = BLOCK
) -> int:
    """Tokenize ``texts`` in blocks into ``path``, an (N, L) int32 ``.npy`` framed by the special tokens, cut at
    ``max_length`` and right-padded, L = min(max_length, longest): what :func:`~selfsup.text.tokenizer.tokenize`
    returns, without holding it. Written under a temporary name and renamed, so a crash leaves no half file.
    Returns L."""
    cutting, pad = truncating(tokenizer, max_length), special_tokens(tokenizer).pad
    flat_path = path.with_name(f"{path.stem}.{os.getpid()}.flat")
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
    try:
        lengths = _write_flat(cutting, texts, flat_path, block)
        width = int(lengths.max(initial=0))
        _pad_rows(flat_path, lengths, partial, width=width, pad=pad, block=block)
        os.replace(partial, path)
    finally:
        flat_path.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return width


def _write_flat(tokenizer: Tokenizer, texts: Iterable[str], flat_path: Path, block: int) -> np.ndarray:
    """Every text's ids one after another into ``flat_path``; returns the (N,) lengths."""
    lengths = []
    iterator = iter(texts)
    with flat_path.open("wb") as flat:
        while batch := list(islice(iterator, block)):
            rows = [encoding.ids for encoding in tokenizer.encode_batch_fast(batch)]  # no offsets: ids only
            sizes = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
            flat.write(np.fromiter(chain.from_iterable(rows), dtype=np.int32, count=int(sizes.sum())).tobytes())
            lengths.append(sizes)
    return np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)


def _pad_rows(flat_path: Path, lengths: np.ndarray, out_path: Path, *, width: int, pad: int, block: int) -> None:
    """Copy the flat ids into an (N, width) ``.npy``, a block of rows at a time. Plain reads and writes rather
    than memory maps: the pages of a mapped file count in the process's resident memory while it runs."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.int32)), "fortran_order": False}
    with flat_path.open("rb") as flat, out_path.open("wb") as out:
        np.lib.format.write_array_header_1_0(out, {**header, "shape": (len(lengths), width)})
        for start in range(0, len(lengths), block):
            sizes = lengths[start : start + block]
            ids = np.frombuffer(flat.read(int(sizes.sum()) * 4), dtype=np.int32)
            rows = np.full((len(sizes), width), pad, dtype=np.int32)
            rows[np.arange(width) < sizes[:, None]] = ids  # (B, width) mask, row-major as the flat ids lie
            out.write(rows.tobytes())
