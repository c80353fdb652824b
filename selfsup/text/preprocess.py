"""Serving-side text preparation, identical to training's: same tokenizer, same framing, same cut."""

from collections.abc import Sequence
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from selfsup.text.batch import TokenBatch
from selfsup.text.tokenizer import encode_ids, frame, special_tokens, truncating

# WordPiece (ours, and BERT's) reads a word of up to ``max_input_chars_per_word`` characters (100 by default) as
# sub-words, each at least one character; with a separator, a token takes at most that many plus one. Only a
# longer word (one [UNK]) or a run of whitespace takes more.
DEFAULT_CHARS_PER_WORD = 100


class TextPreprocessor:
    """Turns texts, or token ids of the model's own vocabulary, into a :class:`TokenBatch` for the encoder."""

    def __init__(self, tokenizer: Tokenizer, max_length: int) -> None:
        self.max_length = max_length
        self.vocab_size = tokenizer.get_vocab_size()
        self.pad = special_tokens(tokenizer).pad
        self.prefix, self.suffix = frame(tokenizer)
        self._tokenizer = truncating(tokenizer, max_length)
        self.max_chars = max_length * (_chars_per_word(tokenizer) + 1)

    @classmethod
    def from_assets(cls, assets: dict[str, Any]) -> "TextPreprocessor":
        """From ``TextData.serving_assets()``, as stored with the model."""
        return cls(Tokenizer.from_str(assets["tokenizer"]), int(assets["max_length"]))

    def encode(self, texts: Sequence[str]) -> TokenBatch:
        """(B,) texts -> (B, L) ids and mask, L the longest after cutting at ``max_length``.

        Each text is first cut to ``max_chars``, enough for ``max_length`` tokens: the tokenizer cuts only after
        reading the whole text, and a 12 MB string cost it 28 s and 2 GB to keep the first 128 tokens. (A text
        padded with runs of whitespace or words over the tokenizer's word limit may so keep fewer tokens.)
        """
        cut = [text[: self.max_chars] for text in texts]
        return TokenBatch.from_ids(encode_ids(self._tokenizer, cut, pad=self.pad), self.pad)

    def from_ids(self, ids: Sequence[Sequence[int]]) -> TokenBatch:
        """Content token ids (no special tokens) -> framed, cut and padded as :meth:`encode` does to text.

        Raises ValueError naming the first id outside the vocabulary as ``input[i][j]``.
        """
        room = self.max_length - len(self.prefix) - len(self.suffix)
        rows = []
        for i, row in enumerate(ids):
            for j, token in enumerate(row):
                if not 0 <= token < self.vocab_size or token == self.pad:
                    raise ValueError(
                        f"input[{i}][{j}]: token id {token} is padding or outside the vocabulary [0, {self.vocab_size})"
                    )
            rows.append([*self.prefix, *list(row)[:room], *self.suffix])
        width = max((len(r) for r in rows), default=0)
        padded = np.full((len(rows), width), self.pad, dtype=np.int64)
        for i, row in enumerate(rows):
            padded[i, : len(row)] = row
        return TokenBatch.from_ids(padded, self.pad)

    @staticmethod
    def count_tokens(batch: TokenBatch) -> int:
        """Tokens the encoder reads for ``batch``, special tokens included (what usage reports)."""
        return int(batch.attention_mask.sum())


def _chars_per_word(tokenizer: Tokenizer) -> int:
    """The longest word the tokenizer's model splits into sub-words (other models: WordPiece's default)."""
    return int(getattr(tokenizer.model, "max_input_chars_per_word", DEFAULT_CHARS_PER_WORD) or DEFAULT_CHARS_PER_WORD)
