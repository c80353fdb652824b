"""Text in canonical form: the corpus tokenized once at ingest into an (N, L) id array, and the
:class:`~selfsup.data.base.TrainingData` that serves batches of it.

On disk a text dataset is a folder written once, as a stream, by :func:`selfsup.text.build.build_text_dataset`:
``tokens.npy`` (N, L) int32, ``tokenizer.json``, and the clean texts, labels and counts (see
:mod:`selfsup.text.store`), kept so that a job that starts from a pretrained model can tokenize the texts again,
once, with that model's tokenizer.
"""

import hashlib
import sys
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer
from torch import nn

from selfsup.data.base import TrainingData
from selfsup.text.batch import TokenBatch, delete_tokens
from selfsup.text.budget import PRETRAINED_MAX_LENGTH, chars_for
from selfsup.text.build import TOKENIZER_FILE
from selfsup.text.corpus import Corpus
from selfsup.text.encoder import TextParams, TextTransformer, create_text_encoder
from selfsup.text.store import (
    TOKENS_FILE,
    stored_documents,
    stored_stats,
    stored_texts,
    write_documents,
    write_token_ids,
)
from selfsup.text.tokenizer import frame, load_pretrained_tokenizer, special_tokens, tokenize, truncate_ids

PROBE_DELETION = 0.1  # the probe view drops this fraction of content tokens
DIGEST_ROWS = 65536


class TextData(TrainingData):
    """N tokenized texts: (N, L) right-padded int32 ids and the tokenizer that made them.

    ``max_length`` cuts the ids further (the closing special tokens are kept), exactly as tokenizing with it
    would have.
    """

    modality = "text"

    def __init__(
        self,
        ids: np.ndarray,
        tokenizer: Tokenizer,
        *,
        max_length: int | None = None,
        pretrained_dir: str | Path | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.pretrained_dir = pretrained_dir  # where the model ``params.pretrained`` names lives on this host
        self.special = special_tokens(tokenizer)
        self.prefix, self.suffix = frame(tokenizer)
        if max_length is not None:
            ids = truncate_ids(ids, max_length, pad=self.special.pad, suffix=self.suffix)
        self.ids = ids  # (N, L) int32

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def width(self) -> int:
        """L: the longest sequence, in tokens."""
        return int(self.ids.shape[1])

    def gather(self, indices: np.ndarray) -> TokenBatch:
        """(B,) indices -> a :class:`TokenBatch` in host memory, trimmed to the longest of those items."""
        return TokenBatch.from_ids(np.asarray(self.ids[indices]), self.special.pad)

    def create_encoder(self, params: Any) -> nn.Module:
        """The encoder the params ask for (their ``encoder_kind``): a transformer unless they say otherwise."""
        return _ENCODER_BUILDERS[getattr(params, "encoder_kind", "transformer")](self, params)

    def create_transformer(self, params: TextParams) -> TextTransformer:
        vocab_size = self.tokenizer.get_vocab_size()
        encoder = create_text_encoder(
            params, vocab_size=vocab_size, special=self.special, pretrained_dir=self.pretrained_dir
        )
        if self.width > encoder.max_length:
            raise ValueError(
                f"texts of {self.width} tokens do not fit the encoder's {encoder.max_length} positions; "
                "load the data with max_length=params.max_length"
            )
        if self.tokenizer.get_vocab_size() > encoder.vocab_size:
            raise ValueError(
                f"the tokenizer has {self.tokenizer.get_vocab_size()} tokens, the encoder embeds {encoder.vocab_size}"
            )
        return encoder

    def create_bag(self, params: Any) -> nn.Module:
        """A :class:`~selfsup.text.bag.BagEncoder` over this vocabulary, its IDF (and LSA) fitted on these ids."""
        from selfsup.text.bag import BagEncoder, BagEncoderSpec

        vocab_size = self.tokenizer.get_vocab_size()
        spec = BagEncoderSpec(vocab_size, params.buckets, params.dim, self.special, sublinear_tf=params.sublinear_tf)
        encoder = BagEncoder(spec)
        fit = {"warm_start": params.warm_start, "max_texts": params.fit_texts, "bigram_weight": params.bigram_weight}
        encoder.fit_corpus(self.ids, **fit)
        return encoder

    def probe_view(self, batch: TokenBatch) -> TokenBatch:
        return delete_tokens(batch, PROBE_DELETION, self.special.ids(), pad=self.special.pad)

    def describe(self) -> dict[str, Any]:
        vocab_size = self.tokenizer.get_vocab_size()
        return {**super().describe(), "max_length": self.width, "vocab_size": vocab_size, "tokens_sha256": self._digest}

    @cached_property
    def _digest(self) -> str:
        """Fingerprint of the ids, computed once: every checkpoint records it."""
        digest = hashlib.sha256()
        for start in range(0, len(self), DIGEST_ROWS):  # in blocks: the ids may be a memory-mapped multi-GB file
            digest.update(np.ascontiguousarray(self.ids[start : start + DIGEST_ROWS]).tobytes())
        return digest.hexdigest()

    def serving_assets(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.to_str(), "max_length": self.width}


# How each ``encoder_kind`` of the text params is built from the data (a method's params declare theirs).
_ENCODER_BUILDERS: dict[str, Callable[[TextData, Any], nn.Module]] = {
    "transformer": TextData.create_transformer,
    "bag": TextData.create_bag,
}


def save_text_dataset(out_dir: Path, corpus: Corpus, tokenizer: Tokenizer, ids: np.ndarray) -> None:
    """Write the files of a text dataset held in memory into ``out_dir`` (created if needed)."""
    labels = corpus.labels or [None] * len(corpus.documents)
    write_documents(out_dir, zip(corpus.documents, labels, strict=True), stats=corpus.stats, max_chars=sys.maxsize)
    np.save(out_dir / TOKENS_FILE, ids.astype(np.int32, copy=False))
    tokenizer.save(str(out_dir / TOKENIZER_FILE))


def load_corpus(dataset_dir: Path) -> Corpus:
    """The clean texts (and labels) a dataset was made from, all in memory (datasets of either format)."""
    pairs = list(stored_documents(dataset_dir))
    stats, labeled = stored_stats(dataset_dir)
    return Corpus([text for text, _ in pairs], [label for _, label in pairs] if labeled else None, stats)


def load_text_data(
    dataset_dir: Path,
    *,
    max_length: int | None = None,
    pretrained_dir: str | Path | None = None,
    cache_dir: Path | None = None,
) -> TextData:
    """The dataset as training data, memory-mapped; with ``pretrained_dir``, its texts tokenized by that model's
    tokenizer instead (once: the ids are cached in ``cache_dir`` under the tokenizer's hash)."""
    if pretrained_dir is None:
        tokenizer = Tokenizer.from_file(str(dataset_dir / TOKENIZER_FILE))
        return TextData(np.load(dataset_dir / TOKENS_FILE, mmap_mode="r"), tokenizer, max_length=max_length)
    tokenizer = load_pretrained_tokenizer(pretrained_dir)
    length = max_length or PRETRAINED_MAX_LENGTH
    key = hashlib.sha256(f"{length}\n{tokenizer.to_str()}".encode()).hexdigest()[:16]
    cached = cache_dir / f"tokens-{key}.npy" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        return TextData(np.load(cached, mmap_mode="r"), tokenizer, pretrained_dir=pretrained_dir)
    texts = stored_texts(dataset_dir, max_chars=chars_for(length))
    if cached is None:
        return TextData(tokenize(tokenizer, list(texts), max_length=length), tokenizer, pretrained_dir=pretrained_dir)
    # written under a temporary name: a crash mid-write must not leave a truncated cache a resumed job would trust
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_token_ids(tokenizer, texts, cached, max_length=length)
    return TextData(np.load(cached, mmap_mode="r"), tokenizer, pretrained_dir=pretrained_dir)
