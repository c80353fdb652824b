"""Tokenizers: a WordPiece vocabulary trained on the uploaded corpus, or the one of a pretrained model.

Training uses the ``tokenizers`` library the way BERT (Devlin et al., 2019) did: Unicode clean-up and
lowercasing, whitespace-and-punctuation pre-tokenization, WordPiece sub-words, and every sequence framed as
``[CLS] ... [SEP]``. The corpus is tokenized once, into a padded id array, by :func:`tokenize`.
"""

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from selfsup.errors import SelfSupError
from selfsup.text.budget import cap_words

MAX_TRAINING_DOCUMENTS = 200_000  # the trainer counts words in memory: a sample this size finds a vocabulary
MAX_TRAINING_CHARS = 64 * 1024  # of each training document

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)  # in this order, so [PAD] is 0 ... [MASK] is 4
# The names other tokenizer families give the same roles (RoBERTa's, say), tried in order.
_ROLE_NAMES = {
    "pad": (PAD, "<pad>"),
    "cls": (CLS, "<s>"),
    "sep": (SEP, "</s>"),
    "mask": (MASK, "<mask>"),
}


class TokenizerError(SelfSupError, ValueError):
    """A tokenizer file that is missing or lacks a token the engine needs."""


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the tokens with a role: padding, sequence start and end, and the MLM mask."""

    pad: int
    cls: int
    sep: int
    mask: int

    def ids(self) -> tuple[int, ...]:
        return (self.pad, self.cls, self.sep, self.mask)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "SpecialTokens":
        return cls(**{key: int(raw[key]) for key in ("pad", "cls", "sep", "mask")})


def train_tokenizer(
    documents: Iterable[str], *, vocab_size: int, max_documents: int = MAX_TRAINING_DOCUMENTS
) -> Tokenizer:
    """A BERT-style WordPiece tokenizer with at most ``vocab_size`` entries, learned from the first
    ``max_documents`` of ``documents`` (pass an even sample of a larger corpus), the same one in every process.

    ``documents`` is read twice, so it must start over each time it is iterated (a list, or an object whose
    ``__iter__`` reopens its source); a one-shot iterator raises TypeError. Each document is cut to
    ``MAX_TRAINING_CHARS`` and its words to ``MAX_WORD_CHARS`` first (see :mod:`selfsup.text.budget`), so the
    trainer's work is bounded whatever the input."""
    if iter(documents) is documents:
        raise TypeError("train_tokenizer reads the documents twice: pass a list or a re-iterable, not an iterator")
    normalizer = normalizers.BertNormalizer(lowercase=True)
    # The trainer creates each "##c" piece the first time it meets it in its word counts, a hash map whose order
    # changes from process to process; those ids break ties between equally frequent merges, so the same corpus
    # gave different vocabularies (huggingface/tokenizers#1794). Named up front, in sorted order, as special
    # tokens of the trainer, the pieces have fixed ids before counting starts; the tokenizer returned is rebuilt
    # with only the real special tokens.
    pieces = continuing_pieces(training_texts(documents, max_documents), normalizer)
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=[*SPECIAL_TOKENS, *pieces], show_progress=False
    )
    trained = _bert_tokenizer(models.WordPiece(unk_token=UNK), normalizer)
    trained.train_from_iterator(training_texts(documents, max_documents), trainer=trainer)
    tokenizer = _bert_tokenizer(_ordered_wordpiece(trained.get_vocab()), normalizer)
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    cls_id, sep_id = tokenizer.token_to_id(CLS), tokenizer.token_to_id(SEP)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, cls_id), (SEP, sep_id)],
    )
    return tokenizer


def _bert_tokenizer(model: models.Model, normalizer: normalizers.Normalizer) -> Tokenizer:
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def continuing_pieces(texts: Iterable[str], normalizer: normalizers.Normalizer) -> list[str]:
    """Sorted "##c" for every character c the normalized texts hold that can continue a word: all but
    whitespace and punctuation, which BertPreTokenizer always splits off alone (a few CJK pieces may be unused)."""
    seen: set[str] = set()
    for text in texts:
        seen.update(normalizer.normalize_str(text))
    return [f"##{c}" for c in sorted(seen) if not c.isspace() and not _is_punctuation(c)]


def _is_punctuation(char: str) -> bool:
    """BERT's rule, which BertPreTokenizer follows: ASCII non-alphanumeric symbols, and Unicode category P*."""
    code = ord(char)
    return (
        33 <= code <= 47
        or 58 <= code <= 64
        or 91 <= code <= 96
        or 123 <= code <= 126
        or (unicodedata.category(char).startswith("P"))
    )


def training_texts(documents: Iterable[str], max_documents: int = MAX_TRAINING_DOCUMENTS) -> Iterator[str]:
    """What the trainer is given of ``documents``: at most ``max_documents`` of them, each cut to
    ``MAX_TRAINING_CHARS`` with its words cut to ``MAX_WORD_CHARS``."""
    for document in islice(documents, max_documents):
        yield cap_words(document[:MAX_TRAINING_CHARS])


def _ordered_wordpiece(vocab: dict[str, int]) -> models.WordPiece:
    """The trained vocabulary with its ids put in a fixed order: the special tokens first, then the rest sorted,
    so that a vocabulary has one numbering whatever order the trainer gave it."""
    ordered = list(SPECIAL_TOKENS) + sorted(token for token in vocab if token not in SPECIAL_TOKENS)
    return models.WordPiece({token: i for i, token in enumerate(ordered)}, unk_token=UNK)


def load_pretrained_tokenizer(model_dir: str | Path) -> Tokenizer:
    """The fast tokenizer saved with a Hugging Face model (``tokenizer.json``); local files only."""
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        raise TokenizerError(f"{model_dir}: no tokenizer.json (a fast tokenizer saved with the model is needed)")
    tokenizer = Tokenizer.from_file(str(path))
    special_tokens(tokenizer)  # fail now, not mid-training, when a role is missing
    return tokenizer


def special_tokens(tokenizer: Tokenizer) -> SpecialTokens:
    """The ids of the tokens the engine gives a role, looked up by their usual names."""
    found: dict[str, int] = {}
    for role, names in _ROLE_NAMES.items():
        ids = [tokenizer.token_to_id(name) for name in names]
        present = [i for i in ids if i is not None]
        if not present:
            raise TokenizerError(f"the tokenizer has no {role} token (looked for {', '.join(names)})")
        found[role] = present[0]
    return SpecialTokens(**found)


def frame(tokenizer: Tokenizer) -> tuple[list[int], list[int]]:
    """The special ids the post-processor puts before and after a single sequence (``[CLS]`` / ``[SEP]``)."""
    encoding = tokenizer.encode("a")
    specials = encoding.special_tokens_mask
    start = specials.index(0) if 0 in specials else len(specials)
    end = len(specials) - specials[::-1].index(0) if 0 in specials else len(specials)
    return list(encoding.ids[:start]), list(encoding.ids[end:])


def tokenize(tokenizer: Tokenizer, documents: Sequence[str], *, max_length: int) -> np.ndarray:
    """(N,) texts -> (N, L) int32 ids framed by the special tokens, cut at ``max_length`` (keeping the final
    ``[SEP]``) and right-padded with the pad id; L = min(max_length, longest)."""
    return encode_ids(truncating(tokenizer, max_length), documents, pad=special_tokens(tokenizer).pad)


def truncating(tokenizer: Tokenizer, max_length: int) -> Tokenizer:
    """A copy of ``tokenizer`` that cuts at ``max_length`` and does not pad (both are tokenizer state)."""
    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_padding()
    copy.enable_truncation(max_length)
    return copy


def encode_ids(tokenizer: Tokenizer, documents: Sequence[str], *, pad: int) -> np.ndarray:
    """(N,) texts -> (N, L) int32 ids right-padded with ``pad`` to the longest; ``tokenizer`` is used as set."""
    encodings = tokenizer.encode_batch(list(documents))
    width = max((len(e.ids) for e in encodings), default=0)
    ids = np.full((len(encodings), width), pad, dtype=np.int32)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
    return ids


def truncate_ids(ids: np.ndarray, max_length: int, *, pad: int, suffix: Sequence[int]) -> np.ndarray:
    """(N, L) padded ids -> (N, min(L, max_length)), giving every cut row its closing special tokens back, so
    the result equals tokenizing with ``max_length`` in the first place."""
    if ids.shape[1] <= max_length:
        return ids
    cut = ids[:, :max_length].copy()
    was_cut = ids[:, max_length] != pad  # (N,)
    if suffix:
        cut[np.ix_(was_cut, np.arange(max_length - len(suffix), max_length))] = np.asarray(suffix, dtype=ids.dtype)
    return cut
