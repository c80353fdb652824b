"""SCARF: the corruption, the InfoNCE loss against a hand formula, and a short real run on the breast cancer table."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.errors import ParamError
from selfsup.eval.representation import embed_items, evaluating
from selfsup.methods import get_method
from selfsup.methods.scarf import Scarf, ScarfParams
from selfsup.tabular import TableData, encode_table, infer_schema, read_table
from selfsup.tabular.corruption import batch_donors, exact_fraction_mask
from selfsup.train.loop import Trainer
from selfsup.train.whiten import fit_whitening
from selfsup.whitening import RIDGE, TABLE_RIDGE
from tests.support.tables import classification_columns, csv_bytes
from tests.support.training import LossRecorder

CPU = torch.device("cpu")
SMALL = {"width": 64, "depth": 2, "hidden_dim": 64, "projection_dim": 32, "dropout": 0.0}


def _table(name: str) -> TableData:
    table = read_table(csv_bytes(classification_columns(name)), filename=f"{name}.csv")
    schema = infer_schema(table, label_column="label")
    return TableData(encode_table(table, schema), schema)


@pytest.fixture(scope="module")
def wine() -> TableData:
    return _table("wine")


@pytest.fixture(scope="module")
def breast_cancer() -> TableData:
    """569 rows: enough steps for the default temperature's loss to fall (178 wine rows give 50 steps of
    chance-level loss at 0.1, see ScarfParams)."""
    return _table("breast_cancer")


def _method(data: TableData, **params: object) -> Scarf:
    validated = get_method("scarf").validate({**SMALL, **params})
    return Scarf(validated, data.create_encoder(validated))


def test_scarf_is_registered_as_contrastive_for_tables() -> None:
    spec = get_method("scarf")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "contrastive",
        ("tabular",),
        ScarfParams,
        Scarf,
    )
    assert spec.validate({}) == ScarfParams() and ScarfParams().corruption_rate == 0.6


@pytest.mark.parametrize(("field", "value"), [("corruption_rate", 0.0), ("corruption_rate", 1.0), ("temperature", 0)])
def test_bad_params_raise_a_param_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("scarf").validate({field: value})
    assert [issue.loc for issue in caught.value.issues] == [("params", field)]


def test_mask_corrupts_exactly_the_asked_fraction_of_each_row() -> None:
    torch.manual_seed(0)
    mask = exact_fraction_mask(500, 13, 0.6, device=CPU)
    assert (mask.sum(dim=1) == 8).all()  # round(0.6 * 13)
    assert mask.float().mean(dim=0).min() > 0.5 and mask.float().mean(dim=0).max() < 0.7  # every feature alike


def test_views_redraw_features_from_the_batch_marginals(wine: TableData) -> None:
    torch.manual_seed(0)
    batch = wine.batch(np.arange(64), CPU)
    donors = batch_donors(batch)
    assert torch.equal(donors.numeric.sort(dim=0).values, batch.numeric.sort(dim=0).values)  # column multisets kept
    anchor, corrupted = _method(wine).make_views(batch)
    assert anchor is batch
    assert ((corrupted.numeric != batch.numeric).sum(dim=1) <= 8).all()
    assert (corrupted.numeric != batch.numeric).float().mean() > 0.5
    for j in range(batch.num_numeric):
        assert set(corrupted.numeric[:, j].tolist()) <= set(batch.numeric[:, j].tolist())


def test_loss_is_nt_xent_between_each_row_and_its_corrupted_copy(wine: TableData) -> None:
    torch.manual_seed(0)
    method = _method(wine, temperature=0.5).eval()
    views = method.make_views(wine.batch(np.arange(16), CPU))
    loss = method.training_loss(views)
    with torch.no_grad():
        z = F.normalize(method.head(method.backbone(views[0].cat(views[1]))), dim=1)  # (2B, P)
        logits = z @ z.T / 0.5
        logits.fill_diagonal_(float("-inf"))  # a row is not its own negative
        positives = torch.arange(32).roll(16)  # row i's positive is its other view
        expected = F.cross_entropy(logits, positives)
    torch.testing.assert_close(loss.detach(), expected)
    loss.backward()
    assert all(p.grad is not None for p in method.backbone.parameters())


def test_a_few_epochs_on_breast_cancer_lower_the_loss(breast_cancer: TableData, tmp_path: Path) -> None:
    params = get_method("scarf").validate({**SMALL, "epochs": 6, "batch_size": 64, "warmup_epochs": 0, "lr": 3e-3})
    hooks = LossRecorder()
    trainer = Trainer("scarf", params, breast_cancer, workdir=tmp_path, hooks=hooks, probe_size=128)
    result = trainer.fit()
    assert result.status == "completed" and len(hooks.losses) == 6 * (569 // 64)
    # Each epoch redraws the corruption, so the epoch means compare fresh views: 5.50 -> 4.57 when written.
    assert hooks.epoch_losses[-1] < hooks.epoch_losses[0] - 0.5, hooks.epoch_losses
    assert np.mean(hooks.losses[-10:]) < np.mean(hooks.losses[:10]), hooks.losses
    assert {"alignment", "uniformity", "rankme"} <= set(result.metrics)


def test_a_table_encoders_flat_directions_are_damped_not_whitened_to_unit_variance(breast_cancer: TableData) -> None:
    model = _method(breast_cancer)
    whitening = fit_whitening(model, breast_cancer, CPU)
    assert whitening is not None and model.whitening_ridge == TABLE_RIDGE > RIDGE
    with evaluating(model):
        features = embed_items(model, breast_cancer, np.arange(len(breast_cancer)), device=CPU).double()
    raw = torch.linalg.eigvalsh(torch.cov(features.T))  # ascending
    whitened = torch.linalg.eigvalsh(torch.cov(whitening(features).double().T))
    # Each direction keeps l / (l + ridge * max l) of unit variance: the strong ones about 1, the flat ones near 0.
    expected = raw.clamp(min=0) / (raw.clamp(min=0) + TABLE_RIDGE * raw.max())
    assert torch.allclose(whitened, expected, atol=1e-3)
    assert whitened[-1] > 0.99 and float((whitened < 0.5).sum()) > 0, "30 columns widened to 64: some flat ones"
