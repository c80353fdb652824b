"""VIME: mask and corruption, the mask + reconstruction loss against a hand formula, and a short real run on
the mixed diabetes table (numerics, a categorical, a boolean and missing cells)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.vime import Vime, VimeParams
from selfsup.tabular import TableData, encode_table, infer_schema, read_table
from selfsup.tabular.corruption import bernoulli_mask, changed_features
from selfsup.train.loop import Trainer
from tests.support.tables import csv_bytes, diabetes_columns
from tests.support.training import LossRecorder

CPU = torch.device("cpu")
SMALL = {"width": 64, "depth": 2, "decoder_hidden": 32, "dropout": 0.0}


@pytest.fixture(scope="module")
def diabetes() -> TableData:
    table = read_table(csv_bytes(diabetes_columns()), filename="diabetes.csv")
    schema = infer_schema(table, label_column="progression")
    return TableData(encode_table(table, schema), schema)


def _method(data: TableData, **params: object) -> Vime:
    validated = get_method("vime").validate({**SMALL, **params})
    return Vime(validated, data.create_encoder(validated))


def test_vime_is_registered_as_masked_for_tables() -> None:
    spec = get_method("vime")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "masked",
        ("tabular",),
        VimeParams,
        Vime,
    )
    assert spec.validate({}) == VimeParams() and (VimeParams().mask_rate, VimeParams().alpha) == (0.15, 0.5)


@pytest.mark.parametrize(("field", "value"), [("mask_rate", 1.0), ("alpha", -1), ("decoder_hidden", 4)])
def test_bad_params_raise_a_param_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("vime").validate({field: value})
    assert [issue.loc for issue in caught.value.issues] == [("params", field)]


def test_bernoulli_mask_has_the_asked_rate() -> None:
    torch.manual_seed(0)
    assert abs(bernoulli_mask(400, 50, 0.3, device=CPU).float().mean().item() - 0.3) < 0.01


def test_views_corrupt_at_the_rate_and_the_mask_target_marks_what_changed(diabetes: TableData) -> None:
    torch.manual_seed(0)
    batch = diabetes.batch(np.arange(256), CPU)
    clean, corrupted = _method(diabetes, mask_rate=0.3).make_views(batch)
    changed = changed_features(clean, corrupted)
    assert clean is batch and changed.shape == (256, 11) and changed.dtype == torch.float32
    numeric_changed, categorical_changed = batch.split(changed.bool())
    assert torch.equal(numeric_changed, corrupted.numeric != batch.numeric)
    assert torch.equal(categorical_changed, corrupted.categorical != batch.categorical)
    assert 0.15 < changed.mean().item() < 0.3  # p_m = 0.3, less the draws that equal the original
    assert 0.25 < numeric_changed.float().mean().item() < 0.32  # numerics rarely repeat a value


def test_loss_is_mask_bce_plus_alpha_times_per_feature_reconstruction(diabetes: TableData) -> None:
    torch.manual_seed(0)
    method = _method(diabetes, alpha=1.5).eval()
    views = method.make_views(diabetes.batch(np.arange(32), CPU))
    loss = method.training_loss(views)
    clean, corrupted = views
    changed = (torch.cat([corrupted.numeric != clean.numeric, corrupted.categorical != clean.categorical], 1)).float()
    with torch.no_grad():
        features = method.backbone(corrupted)
        mask_probability = torch.sigmoid(method.mask_estimator(features))
        bce = -(changed * mask_probability.log() + (1 - changed) * (1 - mask_probability).log()).mean()
        numeric, logits = method.feature_estimator(features)
        per_feature = [((numeric[:, j] - clean.numeric[:, j]) ** 2).mean() for j in range(9)]
        per_feature += [F.cross_entropy(logits[j], clean.categorical[:, j]) for j in range(2)]
        expected = bce + 1.5 * torch.stack(per_feature).mean()
    assert [z.shape[1] for z in logits] == [4, 4]
    torch.testing.assert_close(loss.detach(), expected)
    loss.backward()
    assert all(p.grad is not None for p in method.parameters())


def test_a_few_epochs_on_diabetes_lower_the_loss(diabetes: TableData, tmp_path: Path) -> None:
    params = get_method("vime").validate({**SMALL, "epochs": 8, "batch_size": 64, "warmup_epochs": 0, "lr": 3e-3})
    hooks = LossRecorder()
    result = Trainer("vime", params, diabetes, workdir=tmp_path, hooks=hooks, probe_size=128).fit()
    assert result.status == "completed" and len(hooks.epoch_losses) == 8
    assert hooks.epoch_losses[-1] < 0.8 * hooks.epoch_losses[0], hooks.epoch_losses
