"""Text datasets written as streams: ids equal to tokenizing in memory, budgets that bound the work, duplicate
counting by digest, and datasets written in the old one-file format."""

import io
import json
from pathlib import Path

import numpy as np

from selfsup.text.budget import CHARS_PER_TOKEN, chars_for, cut_text
from selfsup.text.build import build_text_dataset
from selfsup.text.corpus import new_stats, read_documents
from selfsup.text.data import load_corpus, load_text_data
from selfsup.text.store import DOCUMENTS_FILE, sample_stride, stored_texts, write_token_ids
from selfsup.text.tokenizer import tokenize
from tests.support.text import docstring_corpus, docstring_tokenizer


def build(out_dir: Path, data: bytes, *, max_length: int = 32, name: str = "d.txt") -> tuple[dict[str, int], int]:
    stats = new_stats()
    documents = read_documents([(name, io.BytesIO(data))], stats=stats)
    built = build_text_dataset(out_dir, documents, stats=stats, vocab_size=300, max_length=max_length)
    return built.corpus.stats, built.width


def test_ids_written_in_blocks_equal_tokenizing_in_memory(tmp_path: Path) -> None:
    tokenizer = docstring_tokenizer()
    documents = list(docstring_corpus()[0][:500])
    for max_length in (8, 64, 4096):
        width = write_token_ids(tokenizer, iter(documents), tmp_path / "t.npy", max_length=max_length, block=37)
        expected = tokenize(tokenizer, documents, max_length=max_length)
        assert width == expected.shape[1] and np.array_equal(np.load(tmp_path / "t.npy"), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npy"]  # no flat or partial file left behind


def test_cutting_at_the_character_budget_keeps_the_first_max_length_tokens(tmp_path: Path) -> None:
    tokenizer = docstring_tokenizer()
    prose = " ".join(docstring_corpus()[0][:200])  # one long document of real prose
    for max_length in (16, 128, 512):
        cut = cut_text(prose, chars_for(max_length))
        assert len(cut) <= max_length * CHARS_PER_TOKEN < len(prose) and prose.startswith(cut)
        assert np.array_equal(
            tokenize(tokenizer, [cut], max_length=max_length), tokenize(tokenizer, [prose], max_length=max_length)
        )
    assert cut_text("alpha beta gamma", 12) == "alpha beta"  # never half a word when a space is near


def test_a_long_single_line_is_cut_before_tokenizing_and_stored_with_max_length_columns(tmp_path: Path) -> None:
    words = [f"w{i % 997}" for i in range(2_000_000)]  # one line of about 10 MB
    line = " ".join(words).encode()
    stats, width = build(tmp_path, b"short one\n" + line + b"\nshort two\n", max_length=48)
    assert stats == {"read": 3, "empty": 0, "duplicates": 0, "kept": 3}
    ids = np.load(tmp_path / "tokens.npy")
    assert width == 48 and ids.shape == (3, 48) and ids[1, -1] == 3  # cut, keeping [SEP]
    stored = list(stored_texts(tmp_path))
    assert len(stored[1]) <= chars_for(512) and line.decode().startswith(stored[1])


def test_duplicates_and_empty_documents_are_counted_across_files_and_formats(tmp_path: Path) -> None:
    stats = new_stats()
    labeled = b'{"text": " same ", "label": "x"}\n{"text": "b", "label": "y"}\n'
    files = [("a.txt", io.BytesIO(b"same\n\n \nonly a\nsame\n")), ("b.jsonl", io.BytesIO(labeled))]
    documents = list(read_documents(files, stats=stats))
    assert documents == [("same", None), ("only a", None), ("b", "y")]
    assert stats == {"read": 7, "empty": 2, "duplicates": 2, "kept": 3}


def test_datasets_in_the_old_one_file_format_still_load(tmp_path: Path) -> None:
    """Before streaming, every text lived in documents.json; stored datasets keep that form."""
    documents = list(docstring_corpus()[0][:120])
    tokenizer = docstring_tokenizer()
    texts = {"documents": documents, "labels": None, "stats": {"read": 121, "empty": 1, "duplicates": 0, "kept": 120}}
    (tmp_path / "documents.json").write_text(json.dumps(texts), encoding="utf-8")
    np.save(tmp_path / "tokens.npy", tokenize(tokenizer, documents, max_length=64))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    corpus = load_corpus(tmp_path)
    assert corpus.documents == documents and corpus.labels is None and corpus.stats["empty"] == 1
    assert not (tmp_path / DOCUMENTS_FILE).exists()
    assert list(stored_texts(tmp_path)) == documents
    assert len(load_text_data(tmp_path, max_length=16)) == 120
    pretrained = tmp_path / "model"
    pretrained.mkdir()
    tokenizer.save(str(pretrained / "tokenizer.json"))
    again = load_text_data(tmp_path, max_length=40, pretrained_dir=pretrained, cache_dir=tmp_path / "cache")
    assert np.array_equal(again.ids, tokenize(tokenizer, documents, max_length=40))


def test_labels_round_trip_through_the_streamed_files(tmp_path: Path) -> None:
    data = b'{"text": "a cat", "label": "pets"}\n{"text": "a stock", "label": 3}\n{"text": "no label"}\n'
    build(tmp_path, data, name="d.jsonl")
    corpus = load_corpus(tmp_path)
    assert corpus.documents == ["a cat", "a stock", "no label"] and corpus.labels == ["pets", "3", None]


def test_the_tokenizer_sample_is_spread_evenly_over_the_stored_documents(tmp_path: Path) -> None:
    documents = [f"document {i}" for i in range(1000)]
    build(tmp_path, "\n".join(documents).encode())
    every = sample_stride(1000, 300)
    assert every == 4 and list(stored_texts(tmp_path, every=every)) == documents[::4]
    assert sample_stride(10, 300) == 1
