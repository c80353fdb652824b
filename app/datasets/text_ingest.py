"""Text uploads: ``.txt`` (one document per line), ``.jsonl`` or ``.csv``, alone or in a zip/tar, tokenized once.

A WordPiece tokenizer is trained on the corpus itself and the corpus is stored as (N, L) token ids next to it
(see :mod:`selfsup.text.data`); training never tokenizes again. Empty and duplicate documents are dropped and
counted in the dataset's details.
"""

from pathlib import Path

from app.core.errors import Unprocessable
from app.datasets.archives import upload_files
from app.datasets.ingest import Ingested, IngestLimits, IngestOptions, finish_ingest
from app.datasets.labels import labels_from_values
from selfsup.text.corpus import InvalidTextError, read_corpus
from selfsup.text.data import save_text_dataset
from selfsup.text.tokenizer import tokenize, train_tokenizer

TEXT_SUFFIXES = frozenset({".txt", ".jsonl", ".csv"})


def ingest_text(
    upload: Path, *, filename: str, out_dir: Path, options: IngestOptions, limits: IngestLimits
) -> Ingested:
    files = upload_files(upload, filename, limits.archive, TEXT_SUFFIXES, max_total_bytes=limits.max_in_memory_bytes)
    try:
        corpus = read_corpus(files, text_field=options.text_field, label_field=options.label_field)
    except InvalidTextError as exc:
        raise Unprocessable(str(exc)) from None
    tokenizer = train_tokenizer(corpus.documents, vocab_size=options.vocab_size)
    ids = tokenize(tokenizer, corpus.documents, max_length=options.max_length)
    save_text_dataset(out_dir, corpus, tokenizer, ids)
    labels = labels_from_values(corpus.labels, options.label_field) if corpus.labels else None
    details = {
        "documents": corpus.stats,
        "vocab_size": tokenizer.get_vocab_size(),
        "max_length": int(ids.shape[1]),
    }
    return finish_ingest(out_dir, len(corpus.documents), details, labels)
