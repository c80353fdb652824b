"""Table encoders: shapes, gradients, rebuilding from a JSON spec, and their typed params."""

import json

import numpy as np
import pytest
import torch

from selfsup.encoders import encoder_from_spec
from selfsup.errors import ParamError
from selfsup.params import validate_params
from selfsup.tabular import FTTransformer, TableData, TabularMLP, TabularParams, encode_table, infer_schema, read_table
from tests.support.tables import classification_columns, csv_bytes, diabetes_columns

SMALL = {"width": 32, "depth": 2, "token_dim": 16, "heads": 2}


def _data(columns: dict) -> TableData:
    table = read_table(csv_bytes(columns), filename="t.csv")
    schema = infer_schema(table, label_column=list(columns)[-1])
    return TableData(encode_table(table, schema), schema)


@pytest.fixture(scope="module")
def diabetes() -> TableData:
    return _data(diabetes_columns())


@pytest.mark.parametrize(("encoder", "cls", "dim"), [("mlp", TabularMLP, 32), ("ft_transformer", FTTransformer, 16)])
def test_encoders_embed_rows_and_rebuild_from_their_json_spec(
    diabetes: TableData, encoder: str, cls: type, dim: int
) -> None:
    torch.manual_seed(0)
    model = diabetes.create_encoder(validate_params(TabularParams, {"encoder": encoder, **SMALL}))
    assert isinstance(model, cls) and model.dim == dim
    batch = diabetes.batch(np.arange(16), torch.device("cpu"))
    out = model(batch)
    assert out.shape == (16, dim) and torch.isfinite(out).all()
    out.pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())

    raw = json.loads(json.dumps(model.spec.to_dict()))
    assert raw["kind"] == model.spec.name and raw["num_numeric"] == 9 and raw["cardinalities"] == [4, 4]
    rebuilt = encoder_from_spec(raw)
    assert type(rebuilt) is cls and rebuilt.spec == model.spec
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt(batch), model(batch))


@pytest.mark.parametrize("encoder", ["mlp", "ft_transformer"])
def test_encoders_handle_all_numeric_tables(encoder: str) -> None:
    wine = _data(classification_columns("wine"))
    model = wine.create_encoder(validate_params(TabularParams, {"encoder": encoder, **SMALL}))
    assert model.spec.cardinalities == ()
    assert model(wine.batch(np.arange(4), torch.device("cpu"))).shape == (4, model.dim)


def test_rows_differing_in_one_category_embed_differently(diabetes: TableData) -> None:
    model = diabetes.create_encoder(validate_params(TabularParams, {"encoder": "ft_transformer", **SMALL})).eval()
    batch = diabetes.batch(np.array([1, 1]), torch.device("cpu"))
    batch.categorical[1, 0] = 1 if batch.categorical[0, 0] != 1 else 2
    out = model(batch)
    assert not torch.allclose(out[0], out[1])


def test_params_have_table_defaults_and_check_heads_divide_the_token_size() -> None:
    params = validate_params(TabularParams, {})
    assert (params.encoder, params.lr, params.epochs) == ("mlp", 1e-3, 50)
    with pytest.raises(ParamError, match="not divisible by heads"):
        validate_params(TabularParams, {"token_dim": 30, "heads": 4})
    with pytest.raises(ParamError) as caught:
        validate_params(TabularParams, {"encoder": "resnet18"})
    assert [issue.loc for issue in caught.value.issues] == [("params", "encoder")]
