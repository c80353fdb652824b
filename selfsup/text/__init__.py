"""The text modality: reading uploads, tokenizers, tokenized training data and transformer encoders.

The names below are imported on first use, not with the package: text ingest (``selfsup.text.corpus``,
``selfsup.text.build``) must not pay for importing torch and transformers.
"""

from typing import TYPE_CHECKING

from selfsup.lazy import lazy_exports

if TYPE_CHECKING:
    from selfsup.text.batch import TokenBatch
    from selfsup.text.corpus import Corpus, InvalidTextError, read_corpus
    from selfsup.text.data import TextData, load_text_data, save_text_dataset
    from selfsup.text.encoder import TextParams, TextTransformer
    from selfsup.text.preprocess import TextPreprocessor
    from selfsup.text.tokenizer import SpecialTokens, load_pretrained_tokenizer, tokenize, train_tokenizer

_EXPORTS = {
    "TokenBatch": "selfsup.text.batch",
    "Corpus": "selfsup.text.corpus",
    "InvalidTextError": "selfsup.text.corpus",
    "read_corpus": "selfsup.text.corpus",
    "TextData": "selfsup.text.data",
    "load_text_data": "selfsup.text.data",
    "save_text_dataset": "selfsup.text.data",
    "TextParams": "selfsup.text.encoder",
    "TextTransformer": "selfsup.text.encoder",
    "TextPreprocessor": "selfsup.text.preprocess",
    "SpecialTokens": "selfsup.text.tokenizer",
    "load_pretrained_tokenizer": "selfsup.text.tokenizer",
    "tokenize": "selfsup.text.tokenizer",
    "train_tokenizer": "selfsup.text.tokenizer",
}

__all__ = [
    "Corpus",
    "InvalidTextError",
    "SpecialTokens",
    "TextData",
    "TextParams",
    "TextPreprocessor",
    "TextTransformer",
    "TokenBatch",
    "load_pretrained_tokenizer",
    "load_text_data",
    "read_corpus",
    "save_text_dataset",
    "tokenize",
    "train_tokenizer",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
