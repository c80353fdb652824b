"""Reading uploaded text: the three formats, labels, empty and duplicate counting, and malformed input."""

import json

import pytest

from selfsup.errors import SelfSupError
from selfsup.text.corpus import InvalidTextError, read_corpus


def jsonl(*items: object) -> bytes:
    return "\n".join(json.dumps(item) for item in items).encode()


def test_txt_is_one_document_per_line_with_empty_and_duplicates_counted() -> None:
    data = b"first doc\r\n  \nsecond doc\n first doc \nthird\n"
    corpus = read_corpus([("a.txt", data)])
    assert corpus.documents == ["first doc", "second doc", "third"]
    assert corpus.labels is None
    assert corpus.stats == {"read": 5, "empty": 1, "duplicates": 1, "kept": 3}


def test_a_byte_order_mark_is_allowed_and_dropped() -> None:
    assert read_corpus([("a.TXT", "\ufeffhello\nworld".encode())]).documents == ["hello", "world"]


def test_jsonl_reads_text_and_optional_labels_with_custom_fields() -> None:
    data = jsonl({"body": "a cat", "topic": "pets"}, {"body": "a stock", "topic": 3}, {"body": "no label"})
    corpus = read_corpus([("d.jsonl", data + b"\n\n")], text_field="body", label_field="topic")
    assert corpus.documents == ["a cat", "a stock", "no label"]
    assert corpus.labels == ["pets", "3", None]


def test_csv_reads_the_named_columns_with_quoting() -> None:
    data = b'id,text,label\n1,"hello, world",greeting\n2,"two\nlines",other\n3,"",other\n'
    corpus = read_corpus([("d.csv", data)])
    assert corpus.documents == ["hello, world", "two\nlines"]
    assert corpus.labels == ["greeting", "other"]
    assert corpus.stats == {"read": 3, "empty": 1, "duplicates": 0, "kept": 2}


def test_files_combine_in_order_and_duplicates_across_files_keep_the_first() -> None:
    labeled = jsonl({"text": "same", "label": "x"}, {"text": "b", "label": "y"})
    corpus = read_corpus([("a.txt", b"same\nonly a"), ("b.jsonl", labeled)])
    assert corpus.documents == ["same", "only a", "b"]
    assert corpus.labels == [None, None, "y"]  # the labeled "same" was the duplicate
    assert corpus.stats["duplicates"] == 1


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.txt", b"fine\nbad \xff byte", "a.txt, line 2: not valid UTF-8"),
        ("a.jsonl", b'{"text": "ok"}\n{"text": ', "a.jsonl, line 2: not valid JSON"),
        ("a.jsonl", b'{"text": "ok"}\n["text"]', "a.jsonl, line 2: expected a JSON object"),
        ("a.jsonl", b'{"body": "ok"}', "a.jsonl, line 1: no 'text' field"),
        ("a.jsonl", b'{"text": 5}', "a.jsonl, line 1: 'text' must be a string"),
        ("a.jsonl", b'{"text": "x", "label": [1]}', "a.jsonl, line 1: a label must be"),
        ("a.jsonl", b'{"text": "ok \\ud800"}', "a.jsonl, line 1: 'text' holds a lone surrogate '\\ud800'"),
        ("a.jsonl", b'{"text": "ok", "label": "\\udfff"}', "a.jsonl, line 1: 'label' holds a lone surrogate"),
        ("a.csv", b"body,label\nx,y\n", "a.csv, line 1: no 'text' column"),
        ("a.csv", b"text,label\nx,y\nz\n", "a.csv, line 3: 1 fields where the header has 2"),
        ("a.pdf", b"text", "a.pdf: unsupported file type '.pdf'"),
        ("a.txt", b" \n\t\n", "no documents: 2 read, 2 empty"),
    ],
)
def test_malformed_input_names_the_file_and_line(name: str, data: bytes, message: str) -> None:
    with pytest.raises(InvalidTextError) as caught:
        read_corpus([(name, data)])
    assert message in str(caught.value)
    assert isinstance(caught.value, SelfSupError) and isinstance(caught.value, ValueError)
