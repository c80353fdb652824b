"""Building a text dataset from a stream of documents, holding one block of them at a time.

The engine side of text ingest: no torch here, so a process that only ingests stays small.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from selfsup.text.budget import PRETRAINED_MAX_LENGTH, chars_for
from selfsup.text.store import (
    TOKENS_FILE,
    StoredCorpus,
    StoredTexts,
    sample_stride,
    stored_texts,
    write_documents,
    write_token_ids,
)
from selfsup.text.tokenizer import MAX_TRAINING_DOCUMENTS, train_tokenizer

TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class BuiltText:
    """What :func:`build_text_dataset` wrote: the documents' summary, the vocabulary size and L."""

    corpus: StoredCorpus
    vocab_size: int
    width: int


def build_text_dataset(
    out_dir: Path,
    documents: Iterable[tuple[str, str | None]],
    *,
    stats: dict[str, int],
    vocab_size: int,
    max_length: int,
) -> BuiltText:
    """Write a text dataset into ``out_dir`` from clean ``(text, label)`` pairs (see
    :func:`~selfsup.text.corpus.read_documents`, which fills ``stats``), holding one block of documents at a
    time: the texts go to disk as read; a tokenizer is trained on an even sample of them, then every text is
    tokenized, cut to the characters ``max_length`` tokens can reach."""
    keep = chars_for(max(max_length, PRETRAINED_MAX_LENGTH))  # enough for a pretrained model's job too
    stored = write_documents(out_dir, documents, stats=stats, max_chars=keep)
    budget = chars_for(max_length)
    every = sample_stride(stored.count, MAX_TRAINING_DOCUMENTS)
    sample = StoredTexts(out_dir, max_chars=budget, every=every)
    tokenizer = train_tokenizer(sample, vocab_size=vocab_size)
    tokenizer.save(str(out_dir / TOKENIZER_FILE))
    texts = stored_texts(out_dir, max_chars=budget)
    width = write_token_ids(tokenizer, texts, out_dir / TOKENS_FILE, max_length=max_length)
    return BuiltText(stored, tokenizer.get_vocab_size(), width)
