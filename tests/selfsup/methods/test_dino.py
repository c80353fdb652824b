"""DINO: the loss against its formula, the EMA teacher, multi-crop sizes and a short run on digits."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.methods import get_method
from selfsup.methods.dino import DINO
from selfsup.train.loop import Trainer
from tests.support.training import LossRecorder

pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")  # lightly's DINO head

SMALL = {"output_dim": 64, "hidden_dim": 64, "bottleneck_dim": 32, "num_local_crops": 2}


def make_dino(backbone: str = "tiny_cnn", size: int = 16, **params: object) -> DINO:
    torch.manual_seed(0)
    resolved = get_method("dino").validate({"backbone": backbone, **SMALL, **params})
    return DINO(resolved, create_backbone(backbone, image_size=size))


def dino_reference(
    teacher: list[torch.Tensor], student: list[torch.Tensor], center: torch.Tensor, t_temp: float, s_temp: float
) -> torch.Tensor:
    """Caron et al. (2021), eq. 3 and sec. 3.1: sum over teacher crops x and student crops x' != x of
    H(P_t(x), P_s(x')), with P_t = softmax((g_t - c) / t_temp) and P_s = softmax(g_s / s_temp), averaged
    over the pairs and the batch."""
    total, pairs = torch.zeros(()), 0
    for i, t in enumerate(teacher):
        p_t = F.softmax((t - center) / t_temp, dim=-1)
        for j, s in enumerate(student):
            if i != j:  # the same crop seen by both networks is not a pair
                total = total - (p_t * F.log_softmax(s / s_temp, dim=-1)).sum(-1).mean()
                pairs += 1
    return total / pairs


def test_criterion_matches_the_dino_formula_and_moves_its_centre() -> None:
    method = make_dino(center_momentum=0.9)
    torch.manual_seed(1)
    teacher = [torch.randn(5, 64) for _ in range(2)]
    student = [torch.randn(5, 64) for _ in range(4)]
    center = torch.randn(1, 1, 64)
    method.criterion.center.copy_(center)
    loss = method.criterion(teacher, student, teacher_temp=0.05)
    torch.testing.assert_close(loss, dino_reference(teacher, student, center, 0.05, 0.1), rtol=1e-5, atol=1e-6)
    batch_mean = torch.cat(teacher).mean(0).view(1, 1, 64)
    torch.testing.assert_close(method.criterion.center, 0.9 * center + 0.1 * batch_mean)


def test_training_loss_is_the_formula_on_teacher_and_student_outputs(digits16: np.ndarray) -> None:
    method = make_dino().eval()  # BatchNorm on running statistics: one image's output does not depend on the rest
    images = torch.tensor(digits16[:6]).permute(0, 3, 1, 2).float() / 255
    views = method.make_views(images)
    center = method.criterion.center.clone()
    loss = method.training_loss(views)
    with torch.no_grad():
        teacher = [method.teacher_head(method.teacher_backbone(v)) for v in views[:2]]
        student = [method.head(method.backbone(v)) for v in views]
    expected = dino_reference(teacher, student, center, method.teacher_temperature(0), 0.1)
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("backbone", "local_size"), [("tiny_cnn", 14), ("vit_tiny", 12)])
def test_two_global_and_n_local_crops_of_the_stated_sizes(backbone: str, local_size: int) -> None:
    method = make_dino(backbone, size=32, num_local_crops=6)  # 32 * 96 / 224 = 13.7; a ViT's is whole 4 px patches
    views = method.make_views(torch.rand(3, 3, 32, 32))
    assert [tuple(v.shape) for v in views] == [(3, 3, 32, 32)] * 2 + [(3, 3, local_size, local_size)] * 6
    assert not torch.equal(views[2], views[3])  # each local crop is its own draw
    assert torch.isfinite(method.training_loss(views))  # a ViT embeds the small crops too
    assert len(make_dino(num_local_crops=0).make_views(torch.rand(3, 3, 16, 16))) == 2


def test_teacher_temperature_warms_up_linearly() -> None:
    method = make_dino(warmup_teacher_temp=0.04, teacher_temp=0.07, warmup_teacher_temp_epochs=4)
    temps = [method.teacher_temperature(epoch) for epoch in range(6)]
    assert temps == pytest.approx([0.04, 0.05, 0.06, 0.07, 0.07, 0.07])


def test_last_layer_is_frozen_during_the_first_epoch(digits16: np.ndarray) -> None:
    method = make_dino(freeze_last_layer_epochs=1, epochs=2)
    views = method.make_views(torch.tensor(digits16[:4]).permute(0, 3, 1, 2).float() / 255)
    method.training_loss(views).backward()
    assert method.head.last_layer.weight_v.grad is None
    assert method.backbone.trunk.get_parameter("features.0.weight").grad is not None
    method.after_step(5, 10, steps_per_epoch=5)  # half-way: the second epoch starts
    method.training_loss(views).backward()
    assert method.head.last_layer.weight_v.grad is not None


def test_teacher_is_an_ema_of_the_student_outside_the_optimizer(digits16: np.ndarray, tmp_path: Path) -> None:
    params = get_method("dino").validate(
        {"backbone": "tiny_cnn", **SMALL, "epochs": 1, "batch_size": 16, "warmup_epochs": 0, "lr": 1e-2}
    )
    trainer = Trainer("dino", params, digits16[:64], workdir=tmp_path)
    model = trainer.model
    assert isinstance(model, DINO)
    students = [*model.backbone.parameters(), *model.head.parameters()]
    teachers = [*model.teacher_backbone.parameters(), *model.teacher_head.parameters()]
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert not any(p.requires_grad or id(p) in optimized for p in teachers)
    for teacher, student in zip(teachers, students, strict=True):
        torch.testing.assert_close(teacher, student)  # the teacher starts as a copy
    total = trainer.total_steps
    for step, indices in enumerate(trainer.batches.epoch(0)):
        before = [p.detach().clone() for p in teachers]
        trainer.train_step(indices)
        # Cosine from 0.996 at the first step to 1 at the last (DINO's schedule, as in its code).
        m = 1 - (1 - 0.996) * (math.cos(math.pi * step / (total - 1)) + 1) / 2
        for teacher, student, old in zip(teachers, students, before, strict=True):
            torch.testing.assert_close(teacher, m * old + (1 - m) * student)
        if step == 1:
            break
    first_conv = "trunk.features.0.weight"
    assert not torch.equal(model.teacher_backbone.get_parameter(first_conv), model.backbone.get_parameter(first_conv))


def test_a_few_epochs_on_digits_lower_the_loss(digits: np.ndarray, tmp_path: Path) -> None:
    # A centre from the previous batch alone (momentum 0) skips the swing an EMA centre starting at zero
    # makes over a run this short (near-collapse while the centre is still 0, then recovery).
    params = get_method("dino").validate(
        {
            "backbone": "tiny_cnn",
            "output_dim": 256,
            "hidden_dim": 256,
            "bottleneck_dim": 64,
            "num_local_crops": 2,
            "teacher_temp": 0.04,
            "center_momentum": 0.0,
            "epochs": 4,
            "batch_size": 32,
            "lr": 3e-3,
            "warmup_epochs": 0,
            "seed": 0,
        }
    )
    hooks = LossRecorder()
    result = Trainer("dino", params, digits[:128], workdir=tmp_path, hooks=hooks).fit()
    assert result.status == "completed" and result.progress.step == 16
    assert len(hooks.epoch_losses) == 4 and all(np.isfinite(hooks.epoch_losses))
    assert hooks.epoch_losses[-1] < hooks.epoch_losses[0] - 0.25, hooks.epoch_losses  # about 6.3 -> 5.6
