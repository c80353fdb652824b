"""Text uploads: ``.txt`` (one document per line), ``.jsonl`` or ``.csv``, alone or in a zip/tar, tokenized once.

The upload (or each archive member) is read as a stream: documents go to disk as they are read, a WordPiece
tokenizer is trained on an even sample of them, and the corpus is stored as (N, L) token ids next to it (see
:mod:`selfsup.text.data`); training never tokenizes again. Memory follows the longest line and the number of
documents (a 16-byte digest each, to find duplicates), not the upload's size. Empty and duplicate documents
are dropped and counted in the dataset's details.
"""

from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from app.core.errors import PayloadTooLarge, Unprocessable
from app.datasets.ingest import Ingested, IngestLimits, IngestOptions, OnProgress, finish_ingest, no_progress
from app.datasets.labels import labels_from_codes
from app.datasets.streams import streamed_upload_files
from selfsup.text.build import BuiltText, build_text_dataset
from selfsup.text.corpus import DocumentTooLongError, InvalidTextError, LineSource, new_stats, read_documents

TEXT_SUFFIXES = frozenset({".txt", ".jsonl", ".csv"})


class CountedLines:
    """A line source that tells ``progress`` how many bytes all of an upload's files have given so far."""

    def __init__(self, source: LineSource, read: list[int], progress: OnProgress, total: int | None) -> None:
        self._source, self._read, self._progress, self._total = source, read, progress, total

    def readline(self, size: int = -1, /) -> bytes:
        line = self._source.readline(size)
        self._read[0] += len(line)
        counters = {"bytes_done": self._read[0]}
        self._progress(counters if self._total is None else {**counters, "bytes_total": self._total})
        return line


def counted(
    files: Iterable[tuple[str, LineSource]], progress: OnProgress, total: int | None
) -> Iterator[tuple[str, LineSource]]:
    read = [0]  # shared by the files: an archive's members add up
    for name, source in files:
        yield name, CountedLines(source, read, progress, total)


def ingest_text(
    upload: Path,
    *,
    filename: str,
    out_dir: Path,
    options: IngestOptions,
    limits: IngestLimits,
    progress: OnProgress = no_progress,
) -> Ingested:
    """``progress`` hears of the bytes read (unpacked ones, for an archive, whose unpacked total is not known
    up front; a plain file's total is its size)."""
    built = _build(upload, filename=filename, out_dir=out_dir, options=options, limits=limits, progress=progress)
    corpus = built.corpus
    labels = labels_from_codes(corpus.label_codes, corpus.classes, options.label_field)
    details = {"documents": corpus.stats, "vocab_size": built.vocab_size, "max_length": built.width}
    return finish_ingest(out_dir, corpus.count, details, labels)


def _build(
    upload: Path, *, filename: str, out_dir: Path, options: IngestOptions, limits: IngestLimits, progress: OnProgress
) -> BuiltText:
    stats = new_stats()
    plain = PurePosixPath(filename).suffix.lower() in TEXT_SUFFIXES
    total = upload.stat().st_size if plain else None
    with streamed_upload_files(upload, filename, limits.archive, TEXT_SUFFIXES) as files:
        documents = read_documents(
            counted(files, progress, total),
            stats=stats,
            text_field=options.text_field,
            label_field=options.label_field,
            max_document_bytes=limits.max_document_bytes,
        )
        try:
            return build_text_dataset(
                out_dir, documents, stats=stats, vocab_size=options.vocab_size, max_length=options.max_length
            )
        except DocumentTooLongError as exc:
            raise PayloadTooLarge(str(exc)) from None
        except InvalidTextError as exc:
            raise Unprocessable(str(exc)) from None
