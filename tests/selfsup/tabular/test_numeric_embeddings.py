"""Feature-wise numeric embeddings: shapes, the periodic and piecewise linear formulas, per-feature independence, and
an MLP built on them rebuilt from its JSON spec (and, for quantile bins, its weights)."""

import json
import math

import numpy as np
import pytest
import torch

from selfsup.encoders import encoder_from_spec
from selfsup.params import validate_params
from selfsup.tabular import TableData, TabularParams, encode_table, infer_schema, read_table
from selfsup.tabular.encoders import TabularMLP, create_table_encoder
from selfsup.tabular.numeric_embeddings import (
    MIN_BIN_WIDTH,
    LinearReLUEmbeddings,
    PeriodicEmbeddings,
    PiecewiseLinearEncoding,
)
from tests.support.tables import csv_bytes, diabetes_columns

SMALL = {"width": 32, "depth": 2, "token_dim": 8, "heads": 2}


@pytest.fixture(scope="module")
def diabetes() -> TableData:
    table = read_table(csv_bytes(diabetes_columns()), filename="t.csv")
    schema = infer_schema(table, label_column="progression")
    return TableData(encode_table(table, schema), schema)


@pytest.mark.parametrize("cls", [LinearReLUEmbeddings, PeriodicEmbeddings])
def test_each_feature_gets_its_own_vector_that_depends_on_that_feature_only(cls: type) -> None:
    torch.manual_seed(0)
    embed = cls(5, 8)
    x = torch.randn(4, 5)
    out = embed(x)
    assert out.shape == (4, 5, 8) and (out >= 0).all()  # ReLU last
    moved = x.clone()
    moved[:, 2] += 1.0
    changed = (embed(moved) - out).abs().sum(dim=(0, 2))  # (5,) change per feature
    assert changed[2] > 0 and torch.count_nonzero(changed) == 1


def test_periodic_embedding_is_relu_of_a_linear_map_of_cos_and_sin() -> None:
    torch.manual_seed(0)
    embed = PeriodicEmbeddings(3, 4, frequencies=2, sigma=0.5)
    x = torch.randn(6, 3)
    angles = 2 * math.pi * x[:, :, None] * embed.frequencies  # (6, 3, 2)
    features = torch.cat([angles.cos(), angles.sin()], dim=-1)  # (6, 3, 4)
    expected = torch.stack([torch.relu(features[:, j] @ embed.weight[j] + embed.bias[j]) for j in range(3)], dim=1)
    torch.testing.assert_close(embed(x), expected)
    assert embed.frequencies.std() < 1.5  # drawn at the asked scale, not N(0, 1) ignoring sigma


@pytest.mark.parametrize("kind", ["linear", "periodic"])
def test_mlp_on_numeric_embeddings_trains_and_rebuilds_from_its_json_spec(diabetes: TableData, kind: str) -> None:
    torch.manual_seed(0)
    params = validate_params(TabularParams, {**SMALL, "numeric_embedding": kind, "periodic_sigma": 0.3})
    model = diabetes.create_encoder(params)
    batch = diabetes.batch(np.arange(16), torch.device("cpu"))
    out = model(batch)
    assert out.shape == (16, 32)
    out.pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())

    raw = json.loads(json.dumps(model.spec.to_dict()))
    assert (raw["numeric_embedding"], raw["periodic_sigma"]) == (kind, 0.3)
    rebuilt = encoder_from_spec(raw)
    assert rebuilt.spec == model.spec
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt(batch), model(batch))


def test_a_spec_written_before_numeric_embeddings_rebuilds_the_plain_mlp(diabetes: TableData) -> None:
    model = diabetes.create_encoder(validate_params(TabularParams, {**SMALL, "numeric_embedding": "none"}))
    raw = model.spec.to_dict()
    del raw["numeric_embedding"], raw["periodic_sigma"]
    rebuilt = encoder_from_spec(raw)
    rebuilt.load_state_dict(model.state_dict())  # the same weights: raw numerics into the first layer
    assert rebuilt.spec.numeric_embedding == "none"


def test_piecewise_linear_encoding_fills_quantile_bins_in_order() -> None:
    encode = PiecewiseLinearEncoding(2, 4)
    column = np.arange(9, dtype=np.float32)  # quantiles at 0, 2, 4, 6, 8
    encode.fit(np.stack([column, np.zeros(9, dtype=np.float32)], axis=1))
    shift = MIN_BIN_WIDTH * torch.arange(5.0)  # edge t moves up by t * MIN_BIN_WIDTH: too little to matter
    torch.testing.assert_close(encode.edges[0], torch.tensor([0.0, 2.0, 4.0, 6.0, 8.0]) + shift)
    out = encode(torch.tensor([[5.0, 0.0], [-3.0, 0.0], [20.0, 0.0]]))  # (3, 2, 4)
    half = torch.tensor([1.0, 1.0, 0.5, 0.0])  # two bins full, the third half
    torch.testing.assert_close(out[0, 0], half, atol=2e-3, rtol=0)
    torch.testing.assert_close(out[1, 0], torch.zeros(4))  # below and above the range: clamped, not extrapolated
    torch.testing.assert_close(out[2, 0], torch.ones(4))
    assert (encode.edges[1].diff() > 0).all()  # a constant column's tied quantiles are nudged apart: no 0/0
    assert torch.isfinite(out).all()


def test_mlp_on_piecewise_linear_bins_keeps_its_bins_in_the_weights(diabetes: TableData) -> None:
    params = validate_params(TabularParams, {**SMALL, "numeric_embedding": "piecewise_linear"})
    model = diabetes.create_encoder(params).eval()
    assert isinstance(model, TabularMLP) and isinstance(model.numeric_embeddings, PiecewiseLinearEncoding)
    expected = np.quantile(diabetes.numeric[:, 0], np.linspace(0, 1, SMALL["token_dim"] + 1))
    np.testing.assert_allclose(model.numeric_embeddings.edges[0].numpy(), expected, atol=0.01)
    rebuilt = encoder_from_spec(json.loads(json.dumps(model.spec.to_dict()))).eval()
    batch = diabetes.batch(np.arange(16), torch.device("cpu"))
    assert not torch.allclose(rebuilt(batch), model(batch))  # placeholder bins until the weights are loaded
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt(batch), model(batch))


def test_piecewise_linear_bins_need_the_table(diabetes: TableData) -> None:
    params = validate_params(TabularParams, {**SMALL, "numeric_embedding": "piecewise_linear"})
    with pytest.raises(ValueError, match="numerics"):
        create_table_encoder(diabetes.schema, params)
