"""Weight decay spares norms, biases and ViT tokens for every method; a method's per-step weight decay and
per-parameter gradient clipping reach the optimizer."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from selfsup.backbones import create_backbone
from selfsup.methods import get_method, list_methods
from selfsup.train.loop import Trainer
from selfsup.train.optim import build_optimizer, clip_gradients, parameter_groups, set_weight_decay

pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")  # lightly's DINO head

TOKENS = ("cls_token", "pos_embed", "mask_token")


def _decayed_names(model: nn.Module, weight_decay: float = 0.1) -> set[str]:
    decayed = {
        id(p) for group in parameter_groups(model, weight_decay) if group["weight_decay"] for p in group["params"]
    }  # type: ignore[attr-defined]
    return {name for name, param in model.named_parameters() if id(param) in decayed}


def test_a_vit_decays_its_weight_matrices_only() -> None:
    vit = create_backbone("vit_tiny", image_size=16)
    decayed = _decayed_names(vit)
    assert decayed and all(vit.get_parameter(name).ndim >= 2 for name in decayed)
    assert not decayed & {"trunk.cls_token", "trunk.pos_embed"}
    assert "trunk.blocks.0.attn.qkv.weight" in decayed


@pytest.mark.parametrize("spec", [s for s in list_methods() if "image" in s.modalities and not s.takes_teacher])
def test_no_method_decays_a_norm_a_bias_or_a_token(spec: object) -> None:
    name = spec.name  # type: ignore[attr-defined]
    backbone = "vit_tiny" if name == "mae" else "tiny_cnn"
    params = get_method(name).validate({"backbone": backbone})
    model = get_method(name).method_cls(params, create_backbone(backbone, image_size=16))
    for decayed in _decayed_names(model):
        param = model.get_parameter(decayed)
        assert param.ndim >= 2 and decayed.rsplit(".", 1)[-1] not in TOKENS, decayed
    groups = build_optimizer(model, params).param_groups
    assert [group["weight_decay"] for group in groups] == [params.weight_decay, 0.0]


def test_mae_decoder_mask_token_takes_no_weight_decay() -> None:
    params = get_method("mae").validate({})
    model = get_method("mae").method_cls(params, create_backbone("vit_tiny", image_size=16))
    assert "decoder.mask_token" in dict(model.named_parameters())
    assert "decoder.mask_token" not in _decayed_names(model)


def test_set_weight_decay_moves_the_decayed_group_only() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.04))
    set_weight_decay(optimizer, 0.3)
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.3, 0.0]
    set_weight_decay(optimizer, None)
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.3, 0.0]


def test_clip_gradients_bounds_each_parameter_on_its_own() -> None:
    model = nn.Linear(3, 2)
    model.weight.grad = torch.full((2, 3), 10.0)  # norm 24.5: scaled to 3
    model.bias.grad = torch.tensor([0.3, 0.4])  # norm 0.5: left alone
    clip_gradients(model, 3.0)
    torch.testing.assert_close(model.weight.grad.norm(), torch.tensor(3.0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model.bias.grad, torch.tensor([0.3, 0.4]))
    before = model.weight.grad.clone()
    clip_gradients(model, None)
    assert torch.equal(model.weight.grad, before)


def _largest_gradient_norms(trainer: Trainer, steps: int) -> list[float]:
    norms = []
    for step in range(steps):
        trainer.train_step(np.arange(32 * (step % 2), 32 * (step % 2 + 1)))
        norms.append(max(p.grad.norm().item() for p in trainer.model.parameters() if p.grad is not None))
    return norms


DINO_SMALL = {"backbone": "tiny_cnn", "output_dim": 64, "hidden_dim": 64, "bottleneck_dim": 32, "num_local_crops": 0}


def test_dino_sets_its_papers_weight_decay_every_step(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("dino").validate({**DINO_SMALL, "epochs": 2, "batch_size": 32})
    assert (params.weight_decay, params.weight_decay_end, params.clip_grad) == (0.04, 0.4, 3.0)
    trainer = Trainer("dino", params, digits16[:64], workdir=tmp_path, probe_size=0)
    assert trainer.model.grad_clip == 3.0
    assert trainer.model.weight_decay_at(0, 4) == pytest.approx(0.04)
    assert trainer.model.weight_decay_at(3, 4) == pytest.approx(0.4)
    seen = []
    for step in range(4):
        trainer.train_step(np.arange(32 * (step % 2), 32 * (step % 2 + 1)))
        decayed, exempt = (group["weight_decay"] for group in trainer.optimizer.param_groups)
        assert exempt == 0.0
        seen.append(decayed)
    assert seen == pytest.approx([trainer.model.weight_decay_at(step, 4) for step in range(4)])
    assert seen[0] < seen[1] < seen[2] < seen[3]


def test_dino_clips_every_gradient_the_optimizer_sees(digits16: np.ndarray, tmp_path: Path) -> None:
    clip = 0.05  # below what these steps' gradients reach unclipped (checked on the same run with none)
    runs = {}
    for value in (0.0, clip):
        params = get_method("dino").validate({**DINO_SMALL, "epochs": 2, "batch_size": 32, "clip_grad": value})
        trainer = Trainer("dino", params, digits16[:64], workdir=tmp_path / str(value), probe_size=0)
        runs[value] = _largest_gradient_norms(trainer, 3)
    assert max(runs[0.0]) > clip, runs
    assert max(runs[clip]) <= clip * (1 + 1e-4), runs
