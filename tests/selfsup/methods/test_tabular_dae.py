"""Tabular denoising autoencoder: swap and Gaussian noise, the reconstruction loss against a hand formula, and
a short real run with the FT-Transformer on the mixed diabetes table."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.tabular_dae import TabularDAE, TabularDAEParams, corrupt_table
from selfsup.tabular import TableData, encode_table, infer_schema, read_table
from selfsup.train.loop import Trainer
from tests.support.tables import csv_bytes, diabetes_columns
from tests.support.training import LossRecorder

CPU = torch.device("cpu")
SMALL = {"encoder": "ft_transformer", "depth": 1, "token_dim": 16, "heads": 2, "decoder_hidden": 32, "dropout": 0.0}


@pytest.fixture(scope="module")
def diabetes() -> TableData:
    table = read_table(csv_bytes(diabetes_columns()), filename="diabetes.csv")
    schema = infer_schema(table, label_column="progression")
    return TableData(encode_table(table, schema), schema)


def _params(**params: object) -> TabularDAEParams:
    return get_method("tabular_dae").validate({**SMALL, **params})


def test_tabular_dae_is_registered_as_generative_for_tables() -> None:
    spec = get_method("tabular_dae")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "generative",
        ("tabular",),
        TabularDAEParams,
        TabularDAE,
    )
    assert spec.validate({}) == TabularDAEParams()


@pytest.mark.parametrize(("field", "value"), [("noise", "dropout"), ("swap_rate", 1.0), ("noise_std", -1)])
def test_bad_params_raise_a_param_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("tabular_dae").validate({field: value})
    assert [issue.loc for issue in caught.value.issues] == [("params", field)]


def test_swap_noise_replaces_features_at_the_rate_and_gaussian_noise_perturbs_numerics(diabetes: TableData) -> None:
    torch.manual_seed(0)
    batch = diabetes.batch(np.arange(400), CPU)
    swapped = corrupt_table(batch, _params(swap_rate=0.2))
    assert abs((swapped.numeric != batch.numeric).float().mean().item() - 0.2) < 0.02
    for j in range(batch.num_numeric):
        assert set(swapped.numeric[:, j].tolist()) <= set(batch.numeric[:, j].tolist())
    noisy = corrupt_table(batch, _params(noise="gaussian", noise_std=0.5, swap_rate=0.2))
    assert abs((noisy.numeric - batch.numeric).std().item() - 0.5) < 0.02
    assert 0.05 < (noisy.categorical != batch.categorical).float().mean().item() < 0.2  # codes still swapped
    assert torch.equal(corrupt_table(batch, _params(swap_rate=0.0)).numeric, batch.numeric)


def test_loss_reconstructs_every_clean_feature_from_the_corrupted_row(diabetes: TableData) -> None:
    torch.manual_seed(0)
    params = _params()
    method = TabularDAE(params, diabetes.create_encoder(params)).eval()
    clean, corrupted = method.make_views(diabetes.batch(np.arange(32), CPU))
    assert clean.num_rows == corrupted.num_rows == 32 and not torch.equal(clean.numeric, corrupted.numeric)
    loss = method.training_loss([clean, corrupted])
    with torch.no_grad():
        numeric, logits = method.decoder(method.backbone(corrupted))
        squared = ((numeric - clean.numeric) ** 2).mean(dim=0)  # (Fn,)
        entropy = torch.stack([F.cross_entropy(logits[j], clean.categorical[:, j]) for j in range(2)])
        expected = torch.cat([squared, entropy]).sum() / 11
    torch.testing.assert_close(loss.detach(), expected)
    assert method.embedding_head() is None and method.embedding_dim == 16
    loss.backward()
    assert all(p.grad is not None for p in method.backbone.parameters())


def test_a_few_epochs_with_the_ft_transformer_lower_the_loss(diabetes: TableData, tmp_path: Path) -> None:
    params = _params(epochs=6, batch_size=64, warmup_epochs=0, lr=3e-3)
    hooks = LossRecorder()
    result = Trainer("tabular_dae", params, diabetes, workdir=tmp_path, hooks=hooks, probe_size=128).fit()
    assert result.status == "completed" and len(hooks.epoch_losses) == 6
    assert hooks.epoch_losses[-1] < 0.8 * hooks.epoch_losses[0], hooks.epoch_losses
