"""MoCo v2: InfoNCE against a queue checked by hand, the momentum key encoder, the queue across a resume, and a
short run that learns on real digits."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.moco import MoCo, MoCoParams
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder

SMALL = {"backbone": "tiny_cnn", "projection_dim": 16, "hidden_dim": 32, "queue_size": 32}


def infonce_with_queue_reference(
    query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """MoCo's InfoNCE (He et al., 2020, eq. 1), one query at a time.

    l_i = -log( exp(q_i . k_i / t) / (exp(q_i . k_i / t) + sum_j exp(q_i . n_j / t)) ), all vectors unit length,
    n_j the K queued keys; averaged over the batch.
    """
    total = torch.zeros((), dtype=query.dtype)
    for q, k in zip(query, key, strict=True):
        q, k = q / q.norm(), k / k.norm()
        logits = torch.cat([(q @ k).view(1), queue @ q]) / temperature  # (1 + K,)
        total = total - (logits[0] - torch.logsumexp(logits, dim=0))
    return total / query.shape[0]


def _method(**overrides: Any) -> MoCo:
    params = get_method("moco").validate({**SMALL, **overrides})
    return MoCo(params, create_backbone("tiny_cnn", image_size=16))


@pytest.mark.parametrize("temperature", [0.07, 0.2, 1.0])
def test_criterion_is_infonce_against_the_queue_which_then_takes_the_keys(temperature: float) -> None:
    torch.manual_seed(0)
    method = _method(temperature=temperature)
    bank = method.criterion.memory_bank
    queue = bank.bank.clone()  # (K, P) unit vectors
    query, key = torch.randn(8, 16, requires_grad=True), torch.randn(8, 16)
    loss = method.criterion(query, key)
    torch.testing.assert_close(loss, infonce_with_queue_reference(query, key, queue, temperature))
    # First in, first out: the keys, normalized, take the oldest slots, and the next batch sees them as negatives.
    torch.testing.assert_close(bank.bank[:8], F.normalize(key, dim=1))
    torch.testing.assert_close(bank.bank[8:], queue[8:])
    assert int(bank.bank_ptr) == 8
    queue = bank.bank.clone()
    query, key = torch.randn(8, 16, requires_grad=True), torch.randn(8, 16)
    torch.testing.assert_close(
        method.criterion(query, key), infonce_with_queue_reference(query, key, queue, temperature)
    )


def test_training_loss_puts_the_query_against_the_momentum_encoded_key() -> None:
    torch.manual_seed(0)
    method = _method().eval()
    with torch.no_grad():  # make the key encoder differ from the query encoder, as it will during training
        for param in [*method.key_backbone.parameters(), *method.key_head.parameters()]:
            param.add_(0.1 * torch.randn_like(param))
    queue = method.criterion.memory_bank.bank.clone()
    views = [torch.rand(6, 3, 16, 16), torch.rand(6, 3, 16, 16)]
    loss = method.training_loss(views)
    with torch.no_grad():
        query = method.head(method.backbone(views[0]))
        key = method.key_head(method.key_backbone(views[1]))
    torch.testing.assert_close(loss.detach(), infonce_with_queue_reference(query, key, queue, 0.2))
    loss.backward()
    assert all(p.grad is not None for p in [*method.backbone.parameters(), *method.head.parameters()])
    assert all(p.grad is None for p in [*method.key_backbone.parameters(), *method.key_head.parameters()])


def test_keys_come_back_in_the_batch_order_after_the_shuffle() -> None:
    # In eval mode BatchNorm uses its running statistics, so each key depends on its own image only: a key put
    # back in the wrong place would land on another image's row.
    torch.manual_seed(0)
    method = _method().eval()
    images = torch.rand(16, 3, 16, 16)
    with torch.no_grad():
        expected = method.key_head(method.key_backbone(images))
    torch.testing.assert_close(method.keys(images), expected)


def test_keys_are_normalized_over_shuffled_sub_batches() -> None:
    # In training mode each sub-batch has its own statistics: the keys are those of the shuffled batch cut into
    # bn_splits pieces, each piece through the key encoder alone, then unshuffled.
    method = _method(bn_splits=4).train()
    images = torch.rand(16, 3, 16, 16)
    torch.manual_seed(5)
    keys = method.keys(images)
    torch.manual_seed(5)
    order = torch.randperm(16)
    with torch.no_grad():
        pieces = [method.key_head(method.key_backbone(images[order[i : i + 4]])) for i in range(0, 16, 4)]
    expected = torch.empty_like(keys)
    expected[order] = torch.cat(pieces)  # row order[j] of the batch is row j of the shuffled keys
    torch.testing.assert_close(keys, expected)
    with torch.no_grad():
        whole_batch = method.key_head(method.key_backbone(images))
    assert not torch.allclose(keys, whole_batch, atol=1e-4), "the sub-batches' statistics are not the batch's"
    assert method.num_splits(16) == 4 and method.num_splits(6) == 3 and _method(bn_splits=1).num_splits(16) == 1


def test_queries_are_normalized_over_consecutive_sub_batches() -> None:
    method = _method(bn_splits=2).train()
    images = torch.rand(8, 3, 16, 16)
    with torch.no_grad():
        expected = torch.cat([method.head(method.backbone(images[:4])), method.head(method.backbone(images[4:]))])
        torch.testing.assert_close(method.queries(images), expected)


def test_queue_is_part_of_the_state_dict() -> None:
    torch.manual_seed(0)
    method, other = _method(), _method()
    state = method.state_dict()
    assert {"criterion.memory_bank.bank", "criterion.memory_bank.bank_ptr"} <= state.keys()
    assert not torch.equal(other.criterion.memory_bank.bank, method.criterion.memory_bank.bank)
    other.load_state_dict(state)
    assert torch.equal(other.criterion.memory_bank.bank, method.criterion.memory_bank.bank)


def _pairs(method: MoCo) -> list[tuple[torch.nn.Parameter, torch.nn.Parameter]]:
    """(online, key) parameters, matched by name."""
    online = [*method.backbone.named_parameters(), *method.head.named_parameters()]
    key = [*method.key_backbone.named_parameters(), *method.key_head.named_parameters()]
    assert [name for name, _ in online] == [name for name, _ in key]
    return [(o, k) for (_, o), (_, k) in zip(online, key, strict=True)]


def test_one_step_moves_the_key_encoder_by_exactly_the_momentum(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("moco").validate({**SMALL, "epochs": 2, "batch_size": 32, "warmup_epochs": 0})
    trainer = Trainer("moco", params, digits16[:64], workdir=tmp_path)
    method = trainer.model
    assert isinstance(method, MoCo)
    with torch.no_grad():  # key != online, so that a wrong momentum or a wrong side shows
        for _, key in _pairs(method):
            key.add_(0.1 * torch.randn_like(key))
    before = [key.detach().clone() for _, key in _pairs(method)]
    trainer.train_step(next(iter(trainer.batches.epoch(0))))
    m = method.momentum(1, trainer.total_steps)
    assert m == params.momentum  # the schedule starts at the stated momentum
    for (online, key), old in zip(_pairs(method), before, strict=True):
        torch.testing.assert_close(key, m * old + (1 - m) * online.detach(), rtol=1e-6, atol=1e-7)
    assert method.momentum(trainer.total_steps, trainer.total_steps) == 1.0


def test_key_encoder_is_frozen_and_outside_the_optimizer(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("moco").validate({**SMALL, "epochs": 1, "batch_size": 32})
    trainer = Trainer("moco", params, digits16[:64], workdir=tmp_path)
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    keys = [key for _, key in _pairs(trainer.model)]  # type: ignore[arg-type]
    assert all(not key.requires_grad and id(key) not in optimized for key in keys)
    frozen = {id(p) for p in trainer.model.parameters() if not p.requires_grad}
    assert frozen == {id(key) for key in keys}
    assert {id(p) for p in trainer.model.parameters() if p.requires_grad} == optimized


def test_registered_as_contrastive_for_images_with_paper_defaults() -> None:
    spec = get_method("moco")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "contrastive",
        ("image",),
        MoCoParams,
        MoCo,
    )
    params = spec.validate({})
    assert (params.temperature, params.momentum, params.queue_size, params.projection_dim) == (0.2, 0.99, 4096, 128)
    assert (params.min_scale, params.head_batch_norm, params.bn_splits) == (0.2, False, 8)


@pytest.mark.parametrize(
    ("field", "value"),
    [("queue_size", 8), ("queue_size", 100_000), ("temperature", 0), ("momentum", 1.5), ("hidden_dim", 4), ("quee", 1)],
)
def test_bad_params_are_named(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("moco").validate({field: value})
    assert {issue.loc for issue in caught.value.issues} == {("params", field)}


def test_a_few_epochs_on_digits_lower_the_loss(digits16: np.ndarray, tmp_path: Path) -> None:
    # MoCo v2's head has no BatchNorm; on the tiny CNN its outputs then start nearly parallel, and InfoNCE
    # against a slow key encoder barely moves in 16 steps. The MoCo v3 head starts at once.
    params = get_method("moco").validate(
        {
            **SMALL,
            "projection_dim": 64,
            "hidden_dim": 256,
            "head_batch_norm": True,
            "queue_size": 64,
            "min_scale": 0.6,
            "epochs": 4,
            "batch_size": 64,
            "lr": 5e-3,
            "warmup_epochs": 0,
        }
    )
    hooks = LossRecorder()
    Trainer("moco", params, digits16[:256], workdir=tmp_path, hooks=hooks).fit()
    assert len(hooks.losses) == 16 and all(np.isfinite(hooks.losses))
    # Step 1 meets the random unit vectors the queue starts with, easier negatives than real keys: leave it out.
    first, last = np.mean(hooks.losses[1:4]), np.mean(hooks.losses[12:])
    assert last < first - 0.15, hooks.losses


def test_resume_after_one_epoch_matches_a_straight_run(digits16: np.ndarray, tmp_path: Path) -> None:
    # A queue of 1.5 batches: the write position after the first epoch is mid-queue, so it must be restored too.
    params = get_method("moco").validate(
        {**SMALL, "queue_size": 48, "epochs": 2, "batch_size": 32, "warmup_epochs": 0.5, "seed": 3}
    )
    images = digits16[:96]
    straight_hooks = LossRecorder()
    straight = Trainer("moco", params, images, workdir=tmp_path / "straight", hooks=straight_hooks)
    straight.fit()
    first_hooks, resumed_hooks = LossRecorder(stop_at_epoch=1), LossRecorder()
    assert Trainer("moco", params, images, workdir=tmp_path / "resumed", hooks=first_hooks).fit().status == "canceled"
    resumed = Trainer("moco", params, images, workdir=tmp_path / "resumed", hooks=resumed_hooks)
    assert resumed.fit().status == "completed"
    assert len(first_hooks.losses) == len(resumed_hooks.losses) == 3
    torch.testing.assert_close(
        torch.tensor(first_hooks.losses + resumed_hooks.losses, dtype=torch.float64),
        torch.tensor(straight_hooks.losses, dtype=torch.float64),
        rtol=1e-6,
        atol=1e-7,
    )
    expected = straight.model.state_dict()
    for name, value in resumed.model.state_dict().items():  # the queue and the key encoder included
        torch.testing.assert_close(value, expected[name], rtol=1e-6, atol=1e-7, msg=name)
