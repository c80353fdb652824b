"""Tokenizers: a WordPiece vocabulary trained on the corpus, the padded id array, cutting, pretrained files."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models

from selfsup.text.budget import MAX_WORD_CHARS
from selfsup.text.tokenizer import (
    SpecialTokens,
    TokenizerError,
    frame,
    load_pretrained_tokenizer,
    special_tokens,
    tokenize,
    train_tokenizer,
    training_texts,
    truncate_ids,
)
from tests.support.text import docstring_corpus, docstring_tokenizer


def test_the_trained_vocabulary_has_the_asked_size_and_fixed_special_ids() -> None:
    tokenizer = docstring_tokenizer()
    assert tokenizer.get_vocab_size() == 600
    assert special_tokens(tokenizer) == SpecialTokens(pad=0, cls=2, sep=3, mask=4)
    assert tokenizer.token_to_id("[UNK]") == 1
    assert train_tokenizer(docstring_corpus()[0][:50], vocab_size=200).get_vocab_size() <= 200


@pytest.mark.parametrize("text", ["Create a new event loop, and return it.", "Return the message as a string."])
def test_encoding_frames_with_cls_and_sep_and_decodes_back_lowercased(text: str) -> None:
    tokenizer = docstring_tokenizer()
    encoding = tokenizer.encode(text)
    assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"
    assert tokenizer.decode(encoding.ids) == text.lower()
    assert frame(tokenizer) == ([2], [3])


def test_tokenize_pads_to_the_longest_text_and_cuts_at_max_length_keeping_sep() -> None:
    tokenizer = docstring_tokenizer()
    texts = ["return it.", "create a new event loop, and return it.", "loop"]
    ids = tokenize(tokenizer, texts, max_length=64)
    assert ids.dtype == np.int32 and ids.shape == (3, 12)
    assert ids[0].tolist() == [*tokenizer.encode(texts[0]).ids, *[0] * 7]
    cut = tokenize(tokenizer, texts, max_length=6)
    assert cut.shape == (3, 6) and cut[1, -1] == 3 and cut[1].tolist()[:5] == ids[1].tolist()[:5]
    assert cut[2].tolist() == [2, tokenizer.token_to_id("loop"), 3, 0, 0, 0]


def test_cutting_stored_ids_equals_tokenizing_with_the_shorter_max_length() -> None:
    tokenizer = docstring_tokenizer()
    documents = list(docstring_corpus()[0][:80])
    long = tokenize(tokenizer, documents, max_length=64)
    for max_length in (5, 12, 20):
        expected = tokenize(tokenizer, documents, max_length=max_length)
        assert np.array_equal(truncate_ids(long, max_length, pad=0, suffix=[3]), expected)


def test_a_pretrained_tokenizer_loads_from_its_model_directory_only(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match=r"no tokenizer\.json"):
        load_pretrained_tokenizer(tmp_path)
    docstring_tokenizer().save(str(tmp_path / "tokenizer.json"))
    loaded = load_pretrained_tokenizer(tmp_path)
    assert loaded.to_str() == docstring_tokenizer().to_str()
    Tokenizer(models.WordPiece({"[PAD]": 0, "[UNK]": 1, "a": 2}, unk_token="[UNK]")).save(
        str(tmp_path / "tokenizer.json")
    )
    with pytest.raises(TokenizerError, match="no cls token"):
        load_pretrained_tokenizer(tmp_path)


def test_training_twice_gives_the_same_ids() -> None:
    """The trainer numbers tokens in hash-map order; ingest must not depend on it."""
    documents = list(docstring_corpus()[0])
    first, second = (train_tokenizer(documents, vocab_size=400) for _ in range(2))
    assert first.get_vocab() == second.get_vocab()
    assert [first.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]


_TRAIN_IN_A_FRESH_PROCESS = """
import hashlib
from selfsup.text.tokenizer import train_tokenizer
from tests.support.text import docstring_corpus
tokenizer = train_tokenizer(list(docstring_corpus()[0]), vocab_size=600)
print(hashlib.sha256(tokenizer.to_str().encode()).hexdigest())
"""


def test_every_process_learns_the_same_vocabulary() -> None:
    """The hash maps are seeded per process: before the fix, about one process in two found another vocabulary
    on the docstrings, so the same upload gave different datasets and the bench different scores."""
    runs = [
        subprocess.Popen([sys.executable, "-c", _TRAIN_IN_A_FRESH_PROCESS], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    digests = {run.communicate()[0].strip() for run in runs}
    assert all(run.returncode == 0 for run in runs) and len(digests) == 1


def test_the_special_tokens_are_the_only_added_tokens() -> None:
    """The "##c" pieces the trainer is handed as special tokens are ordinary vocabulary in the result."""
    tokenizer = docstring_tokenizer()
    assert sorted(token.content for token in tokenizer.get_added_tokens_decoder().values()) == sorted(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    assert tokenizer.encode("##e").tokens != ["[CLS]", "##e", "[SEP]"]  # typed text never becomes a piece whole


def test_a_word_of_a_mebibyte_reaches_the_trainer_cut_to_the_word_cap() -> None:
    """A 1 MiB "word" never finished training: the trainer counts merges over every character of a word."""
    word = "ab" * 2**19  # 1 MiB, no whitespace
    documents = ["plain words here", f"before {word} after", "x" * 2**20]
    seen = [len(piece) for text in training_texts(documents) for piece in text.split()]
    assert max(seen) == MAX_WORD_CHARS and "before" in next(iter(training_texts(documents[1:])))
    vocab = train_tokenizer(documents, vocab_size=300).get_vocab()
    assert max(len(token.removeprefix("##")) for token in vocab) <= MAX_WORD_CHARS


def test_training_reads_at_most_the_asked_number_of_documents() -> None:
    read = []

    class Counted:
        def __iter__(self):  # type: ignore[no-untyped-def]
            for document in docstring_corpus()[0]:
                read.append(document)
                yield document

    train_tokenizer(Counted(), vocab_size=200, max_documents=30)
    assert read == 2 * list(docstring_corpus()[0][:30])  # twice (the alphabet, then training); never the rest


def test_a_one_shot_iterator_is_refused() -> None:
    with pytest.raises(TypeError, match="twice"):
        train_tokenizer(iter(docstring_corpus()[0]), vocab_size=200)
