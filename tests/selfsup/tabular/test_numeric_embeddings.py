"""Feature-wise numeric embeddings: shapes, the periodic formula, per-feature independence, and an MLP built on them
rebuilt from its JSON spec."""

import json
import math

import numpy as np
import pytest
import torch

from selfsup.encoders import encoder_from_spec
from selfsup.params import validate_params
from selfsup.tabular import TableData, TabularParams, encode_table, infer_schema, read_table
from selfsup.tabular.numeric_embeddings import LinearReLUEmbeddings, PeriodicEmbeddings
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
