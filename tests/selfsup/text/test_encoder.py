"""Text encoders: mean pooling, params, the spec round trip, and continuing from a local pretrained model."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from selfsup.encoders import encoder_from_spec
from selfsup.errors import ParamError
from selfsup.params import validate_params
from selfsup.text.batch import TokenBatch
from selfsup.text.corpus import Corpus
from selfsup.text.data import load_text_data, save_text_dataset
from selfsup.text.encoder import TextParams, TextTransformer, create_text_encoder
from selfsup.text.tokenizer import SpecialTokens, tokenize, train_tokenizer
from tests.support.text import docstring_corpus, docstring_data

CPU = torch.device("cpu")
SPECIAL = SpecialTokens(pad=0, cls=2, sep=3, mask=4)


def tiny_encoder(**overrides: object) -> TextTransformer:
    torch.manual_seed(0)
    params = validate_params(TextParams, {"preset": "tiny", **overrides})
    return create_text_encoder(params, vocab_size=600, special=SPECIAL).eval()


def test_params_size_the_transformer_and_reject_widths_heads_do_not_divide() -> None:
    assert validate_params(TextParams, {"preset": "tiny"}).sizes() == (64, 2, 2, 128)
    assert validate_params(TextParams, {"preset": "tiny", "hidden_size": 96, "num_heads": 3}).sizes() == (96, 2, 3, 192)
    with pytest.raises(ParamError, match="not a multiple of num_heads"):
        validate_params(TextParams, {"hidden_size": 102})
    encoder = tiny_encoder(num_layers=1, dropout=0.0)
    config = encoder.model.config
    assert (config.num_hidden_layers, config.hidden_dropout_prob, encoder.dim) == (1, 0.0, 64)


def test_the_embedding_is_the_mean_of_real_token_states_whatever_the_padding() -> None:
    encoder = tiny_encoder()
    batch = docstring_data(max_length=64).batch(np.arange(6), CPU)
    with torch.no_grad():
        pooled, tokens = encoder(batch), encoder.forward_tokens(batch)  # (B, H), (B, L, H)
        length = int(batch.attention_mask[0].sum())
        alone = encoder(TokenBatch(batch.input_ids[:1, :length], batch.attention_mask[:1, :length]))
    assert pooled.shape == (6, 64) and tokens.shape == (*batch.input_ids.shape, 64)
    torch.testing.assert_close(pooled[0], tokens[0, :length].mean(dim=0))
    torch.testing.assert_close(alone[0], pooled[0], atol=1e-5, rtol=1e-5)  # padding changes nothing


def test_the_spec_is_json_and_rebuilds_the_same_network_with_no_files() -> None:
    encoder = tiny_encoder()
    raw = json.loads(json.dumps(encoder.spec.to_dict()))
    assert raw["kind"] == "text_transformer" and raw["config"]["hidden_size"] == 64
    rebuilt = encoder_from_spec(raw)
    assert isinstance(rebuilt, TextTransformer) and rebuilt.special == SPECIAL
    rebuilt.load_state_dict(encoder.state_dict())
    batch = docstring_data(max_length=64).batch(np.arange(8), CPU)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(batch), encoder(batch))


def test_a_local_pretrained_model_gives_the_encoder_and_the_tokenizer(tmp_path: Path) -> None:
    documents = list(docstring_corpus()[0])
    model_dir = tmp_path / "model"
    tokenizer = train_tokenizer(documents, vocab_size=300)  # another vocabulary than the dataset's
    config = BertConfig(
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=40,
    )
    torch.manual_seed(3)
    BertModel(config).save_pretrained(model_dir)  # with its pooler, as real checkpoints are
    tokenizer.save(str(model_dir / "tokenizer.json"))
    dataset_dir = tmp_path / "dataset"
    own = train_tokenizer(documents, vocab_size=600)
    save_text_dataset(dataset_dir, Corpus(documents, None, {}), own, tokenize(own, documents, max_length=64))

    data = load_text_data(dataset_dir, max_length=40, pretrained_dir=model_dir, cache_dir=tmp_path / "cache")
    assert np.array_equal(data.ids, tokenize(tokenizer, documents, max_length=40))
    (dataset_dir / "documents.jsonl").unlink()  # the second load reads the cache: no texts needed
    again = load_text_data(dataset_dir, max_length=40, pretrained_dir=model_dir, cache_dir=tmp_path / "cache")
    assert np.array_equal(again.ids, data.ids)

    params = validate_params(TextParams, {"pretrained": str(model_dir), "max_length": 40, "dropout": 0.0})
    encoder = data.create_encoder(params)
    saved = BertModel.from_pretrained(model_dir)
    assert encoder.dim == 32 and encoder.spec.name == "pretrained:model"
    assert torch.equal(encoder.input_embeddings().weight, saved.get_input_embeddings().weight)
    rebuilt = encoder_from_spec(json.loads(json.dumps(encoder.spec.to_dict())))
    rebuilt.load_state_dict(encoder.state_dict())
    batch = data.batch(np.arange(4), CPU)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(batch), encoder.eval()(batch))
