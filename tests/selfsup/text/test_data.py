"""Tokenized text as training data: batches, the probe view, the files on disk, and serving's preparation."""

from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.params import validate_params
from selfsup.text.batch import TokenBatch, content_mask, delete_tokens
from selfsup.text.corpus import read_corpus
from selfsup.text.data import load_corpus, load_text_data, save_text_dataset
from selfsup.text.encoder import TextParams
from selfsup.text.preprocess import TextPreprocessor
from selfsup.text.tokenizer import tokenize
from tests.support.text import docstring_corpus, docstring_data, docstring_tokenizer

CPU = torch.device("cpu")
SPECIALS = (0, 2, 3, 4)


def test_a_batch_is_trimmed_to_its_longest_item() -> None:
    data = docstring_data(max_length=64)
    lengths = (np.asarray(data.ids) != 0).sum(axis=1)
    indices = np.sort(np.argsort(lengths)[:4])  # the four shortest texts
    batch = data.batch(indices, CPU)
    assert batch.input_ids.dtype == batch.attention_mask.dtype == torch.int64
    assert batch.input_ids.shape == (4, lengths[indices].max()) and data.width > batch.input_ids.shape[1]
    assert batch.attention_mask.sum(dim=1).tolist() == lengths[indices].tolist()
    assert torch.equal(batch.input_ids, torch.from_numpy(data.ids[indices, : batch.input_ids.shape[1]]).long())


def test_deletion_drops_the_asked_share_of_content_and_keeps_order_and_specials() -> None:
    torch.manual_seed(0)
    batch = docstring_data(max_length=64).batch(np.arange(200), CPU)
    damaged = delete_tokens(batch, 0.6, SPECIALS, pad=0)
    before, after = content_mask(batch, SPECIALS).sum(dim=1), content_mask(damaged, SPECIALS).sum(dim=1)
    # a bit under 0.6: each short text keeps one content token whatever the draw
    assert 0.53 < 1 - after.sum().item() / before.sum().item() < 0.6
    assert (after >= 1).all()  # every text keeps at least one content token
    for row in range(len(batch)):
        kept = damaged.input_ids[row][damaged.attention_mask[row].bool()].tolist()
        original = iter(batch.input_ids[row][batch.attention_mask[row].bool()].tolist())
        assert all(token in original for token in kept)  # a subsequence: order preserved
        assert kept[0] == 2 and kept[-1] == 3
    assert damaged.input_ids.shape[1] == damaged.attention_mask.sum(dim=1).max()
    assert torch.equal(delete_tokens(batch, 0.0, SPECIALS, pad=0).input_ids, batch.input_ids)


def test_the_probe_view_deletes_a_tenth_of_the_tokens_from_the_global_seed() -> None:
    data = docstring_data(max_length=64)
    batch = data.batch(np.arange(100), CPU)
    torch.manual_seed(1)
    first = data.probe_view(batch)
    torch.manual_seed(1)
    assert torch.equal(first.input_ids, data.probe_view(batch).input_ids)
    share = 1 - content_mask(first, SPECIALS).sum() / content_mask(batch, SPECIALS).sum()
    assert 0.05 < share.item() < 0.15


def test_the_dataset_files_round_trip_and_a_max_length_cuts_as_serving_does(tmp_path: Path) -> None:
    corpus = read_corpus([("d.txt", "\n".join(docstring_corpus()[0]).encode())])
    tokenizer = docstring_tokenizer()
    ids = tokenize(tokenizer, corpus.documents, max_length=128)
    save_text_dataset(tmp_path, corpus, tokenizer, ids)
    assert load_corpus(tmp_path) == corpus
    full = load_text_data(tmp_path)
    assert np.array_equal(full.ids, ids) and full.tokenizer.to_str() == tokenizer.to_str()
    data = load_text_data(tmp_path, max_length=16)
    assert data.width == 16 and data.serving_assets()["max_length"] == 16
    serving = TextPreprocessor.from_assets(data.serving_assets())
    indices = np.arange(0, 300, 7)
    served = serving.encode([corpus.documents[i] for i in indices])
    trained = data.batch(indices, CPU)
    assert torch.equal(served.input_ids, trained.input_ids)
    assert torch.equal(served.attention_mask, trained.attention_mask)
    assert data.describe()["num_items"] == len(corpus.documents)
    assert data.describe()["tokens_sha256"] != full.describe()["tokens_sha256"]


def test_serving_frames_raw_ids_like_text_and_refuses_ids_outside_the_vocabulary() -> None:
    tokenizer = docstring_tokenizer()
    serving = TextPreprocessor(tokenizer, max_length=6)
    texts = ["return the message", "loop"]
    text = serving.encode(texts)
    from_ids = serving.from_ids([tokenizer.encode(t, add_special_tokens=False).ids for t in texts])
    assert torch.equal(from_ids.input_ids, text.input_ids)
    assert serving.from_ids([[7] * 20]).input_ids.tolist() == [[2, 7, 7, 7, 7, 3]]
    assert serving.count_tokens(text) == int(text.attention_mask.sum()) == 5 + 3
    with pytest.raises(ValueError, match=r"input\[1\]\[2\]: token id 600"):
        serving.from_ids([[5], [5, 6, 600]])
    with pytest.raises(ValueError, match=r"input\[0\]\[0\]: token id -1"):
        serving.from_ids([[-1]])


def test_the_encoder_is_shaped_for_the_data_and_refuses_texts_longer_than_it() -> None:
    data = docstring_data(max_length=32)
    params = validate_params(TextParams, {"preset": "tiny", "max_length": 32})
    encoder = data.create_encoder(params)
    assert encoder.vocab_size == 600 and encoder.max_length == 32 and encoder.dim == 64
    assert encoder(data.batch(np.arange(3), CPU)).shape == (3, 64)
    with pytest.raises(ValueError, match=r"max_length=params\.max_length"):
        data.create_encoder(validate_params(TextParams, {"preset": "tiny", "max_length": 16}))


def test_token_batches_concatenate_with_padding() -> None:
    a = TokenBatch.from_ids(np.array([[2, 5, 3]]), 0)
    b = TokenBatch.from_ids(np.array([[2, 3, 0, 0]]), 0)
    both = TokenBatch.concat([a, b], 0)
    assert both.input_ids.tolist() == [[2, 5, 3], [2, 3, 0]]
    assert both.attention_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
