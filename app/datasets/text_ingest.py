"""Text uploads: ``.txt`` (one document per line), ``.jsonl`` or ``.csv``, alone or in a zip/tar, tokenized once.

The upload (or each archive member) is read as a stream: documents go to disk as they are read, a WordPiece
tokenizer is trained on an even sample of them, and the corpus is stored as (N, L) token ids next to it (see
:mod:`selfsup.text.data`); training never tokenizes again. Memory follows the longest line and the number of
documents (a 16-byte digest each, to find duplicates), not the upload's size. Empty and duplicate documents
are dropped and counted in the dataset's details.
"""

from pathlib import Path

from app.core.errors import PayloadTooLarge, Unprocessable
from app.datasets.ingest import Ingested, IngestLimits, IngestOptions, finish_ingest
from app.datasets.labels import labels_from_codes
from app.datasets.streams import streamed_upload_files
from selfsup.text.build import BuiltText, build_text_dataset
from selfsup.text.corpus import DocumentTooLongError, InvalidTextError, new_stats, read_documents

TEXT_SUFFIXES = frozenset({".txt", ".jsonl", ".csv"})


def ingest_text(
    upload: Path, *, filename: str, out_dir: Path, options: IngestOptions, limits: IngestLimits
) -> Ingested:
    built = _build(upload, filename=filename, out_dir=out_dir, options=options, limits=limits)
    corpus = built.corpus
    labels = labels_from_codes(corpus.label_codes, corpus.classes, options.label_field)
    details = {"documents": corpus.stats, "vocab_size": built.vocab_size, "max_length": built.width}
    return finish_ingest(out_dir, corpus.count, details, labels)


def _build(upload: Path, *, filename: str, out_dir: Path, options: IngestOptions, limits: IngestLimits) -> BuiltText:
    stats = new_stats()
    with streamed_upload_files(upload, filename, limits.archive, TEXT_SUFFIXES) as files:
        documents = read_documents(
            files,
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
