"""The text modality: reading uploads, tokenizers, tokenized training data and transformer encoders."""

from selfsup.text.batch import TokenBatch
from selfsup.text.corpus import Corpus, InvalidTextError, read_corpus
from selfsup.text.data import TextData, load_text_data, save_text_dataset
from selfsup.text.encoder import TextParams, TextTransformer
from selfsup.text.preprocess import TextPreprocessor
from selfsup.text.tokenizer import SpecialTokens, load_pretrained_tokenizer, tokenize, train_tokenizer

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
