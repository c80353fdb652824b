"""Distillation: the loss against a hand-written reference on the teacher's view of the same crop, the frozen
teacher kept out of the state, the optimizer and train mode, the served student, and a short real run in which
a tiny student comes to share a fixed teacher's neighbourhoods."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.encoder import Encoder
from selfsup.errors import ParamError, SelfSupError
from selfsup.eval import embedder
from selfsup.eval.metrics import neighbour_agreement
from selfsup.methods import get_method
from selfsup.methods.distill import Distill, DistillParams, cosine_distance
from selfsup.train.loop import Trainer
from tests.support.pairs import digit_pair_data
from tests.support.training import LossRecorder

SMALL = {"teacher": "fixed", "backbone": "tiny_cnn", "batch_size": 32}
TEACHER_DIM = 48  # unlike the student's 128: the projection has to bridge the two widths


def fixed_teacher(image_size: int = 16, seed: int = 7) -> Encoder:
    """A randomly initialized ResNet-18 with a linear head: fixed weights, structured features, another width."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = create_backbone("resnet18", image_size=image_size)
        head = torch.nn.Linear(network.dim, TEACHER_DIM)
    return Encoder(network, method="fixed", head=head)


def _params(**overrides: Any) -> DistillParams:
    params = get_method("distill").validate({**SMALL, **overrides})
    assert isinstance(params, DistillParams)
    return params


def _method(teacher: Encoder | None = None, **overrides: Any) -> Distill:
    torch.manual_seed(0)
    return Distill(_params(**overrides), create_backbone("tiny_cnn", image_size=16), teacher=teacher)


def test_cosine_distance_is_one_minus_the_mean_cosine() -> None:
    torch.manual_seed(0)
    p, t = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    reference = 1 - torch.stack([(a @ b) / (a.norm() * b.norm()) for a, b in zip(p, t, strict=True)]).mean()
    torch.testing.assert_close(cosine_distance(p, t), reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(cosine_distance(p, 3 * p), torch.tensor(0.0, dtype=torch.float64))


@pytest.mark.parametrize("loss", ["cosine", "mse"])
def test_the_student_projection_is_pulled_onto_the_teacher_features_of_the_same_view(loss: str) -> None:
    teacher = fixed_teacher()
    method = _method(teacher, loss=loss, projection_hidden_dim=16).eval()  # eval: BatchNorm as a plain map
    images = torch.rand(8, 3, 16, 16)
    [view] = method.make_views(images)  # one view, which teacher and student both see
    assert view.shape == images.shape and not torch.equal(view, images)
    loss_value = method.training_loss([view])
    with torch.no_grad():
        target = teacher.head(teacher.backbone(view))
        prediction = method.projection(method.backbone(view))
    expected = cosine_distance(prediction, target) if loss == "cosine" else ((prediction - target) ** 2).mean()
    torch.testing.assert_close(loss_value.detach(), expected, rtol=1e-5, atol=1e-6)
    loss_value.backward()
    assert all(p.grad is not None for p in [*method.backbone.parameters(), *method.projection.parameters()])
    assert all(p.grad is None for p in teacher.backbone.parameters())


def test_a_teacher_trained_at_another_size_sees_the_view_at_its_own() -> None:
    teacher = fixed_teacher(image_size=32)
    method = _method(teacher, augment=False).eval()
    images = torch.rand(4, 3, 16, 16)
    loss_value = method.training_loss(method.make_views(images))
    with torch.no_grad():
        resized = F.interpolate(images, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
        target = teacher.image_features(resized)
        expected = cosine_distance(method.projection(method.backbone(images)), target)
    torch.testing.assert_close(loss_value.detach(), expected, rtol=1e-5, atol=1e-6)


def test_without_augmentation_both_see_the_stored_images() -> None:
    images = torch.rand(4, 3, 16, 16)
    assert _method(fixed_teacher(), augment=False).make_views(images)[0] is images


def test_the_teacher_stays_frozen_outside_the_state_and_the_optimizer(digits16: np.ndarray, tmp_path: Path) -> None:
    teacher = fixed_teacher()
    before = {key: value.clone() for key, value in teacher.backbone.state_dict().items()}  # BatchNorm stats too
    params = _params(epochs=1, warmup_epochs=0)
    trainer = Trainer("distill", params, digits16[:64], workdir=tmp_path, teacher=teacher, probe_size=0)
    trainer.fit()
    assert not teacher.backbone.training
    for key, value in teacher.backbone.state_dict().items():
        assert torch.equal(value, before[key]), key
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in teacher.backbone.parameters()}
    assert optimized == {id(p) for p in trainer.model.parameters()}  # the student and its projection
    keys = trainer.model.state_dict().keys()
    assert all(key.startswith(("backbone.", "projection.")) for key in keys), sorted(keys)


def test_a_resumed_run_is_handed_its_teacher_again_and_continues(digits16: np.ndarray, tmp_path: Path) -> None:
    params = _params(epochs=2, warmup_epochs=0)
    first = Trainer("distill", params, digits16[:64], workdir=tmp_path, teacher=fixed_teacher(), probe_size=0)
    first.hooks = LossRecorder(stop_at_epoch=1)
    assert first.fit().status == "canceled"
    second = Trainer("distill", params, digits16[:64], workdir=tmp_path, teacher=fixed_teacher(), probe_size=0)
    second.restore(first.checkpoint_path)
    for name, value in first.model.state_dict().items():
        torch.testing.assert_close(second.model.state_dict()[name], value)
    assert second.fit().status == "completed" and second.progress().epoch == 2


def test_the_trainer_hands_a_teacher_only_to_methods_that_take_one(digits16: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(SelfSupError, match="learns from a teacher"):
        Trainer("distill", _params(), digits16[:64], workdir=tmp_path)
    simclr = get_method("simclr").validate({"backbone": "tiny_cnn"})
    with pytest.raises(SelfSupError, match="takes no teacher"):
        Trainer("simclr", simclr, digits16[:64], workdir=tmp_path, teacher=fixed_teacher())
    with pytest.raises(SelfSupError, match="needs its teacher"):
        _method().training_loss([torch.rand(2, 3, 16, 16)])


def test_an_image_text_model_teaches_through_its_image_tower() -> None:
    pairs = digit_pair_data(40, 16)
    clip = get_method("clip").validate({"backbone": "tiny_cnn", "preset": "tiny", "embed_dim": 24, "max_length": 16})
    towers = pairs.create_encoder(clip)
    teacher = Encoder(towers, method="clip", modality="image_text")
    images = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(teacher.image_features(images), towers.encode_image(images))
    method = _method(teacher)
    assert method.projection is not None and method.projection.out_features == 24
    assert torch.isfinite(method.training_loss(method.make_views(images)))


def test_registered_as_distillation_for_images_with_a_required_teacher() -> None:
    spec = get_method("distill")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls, spec.takes_teacher) == (
        "distillation",
        ("image",),
        DistillParams,
        Distill,
        True,
    )
    assert spec.params_schema()["required"] == ["teacher"]
    params = spec.validate({"teacher": "t"})
    assert (params.loss, params.projection_hidden_dim, params.augment) == ("cosine", 0, True)
    assert not get_method("simclr").takes_teacher


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "teacher"),
        ({"teacher": ""}, "teacher"),
        ({"teacher": 3}, "teacher"),
        ({"teacher": "t", "loss": "kl"}, "loss"),
        ({"teacher": "t", "projection_hidden_dim": -1}, "projection_hidden_dim"),
        ({"teacher": "t", "augment": "yes"}, "augment"),
        ({"teacher": "t", "min_scale": 0}, "min_scale"),
    ],
)
def test_bad_params_are_named(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("distill").validate(raw)
    assert {issue.loc for issue in caught.value.issues} == {("params", field)}


@pytest.fixture(scope="module")
def ssl_teacher(tmp_path_factory: pytest.TempPathFactory, digits16: np.ndarray) -> Encoder:
    """A tiny SimCLR encoder trained on the first 256 digits, read back from its file as the service would."""
    params = get_method("simclr").validate(
        {"backbone": "tiny_cnn", "epochs": 4, "batch_size": 64, "lr": 1e-2, "warmup_epochs": 0, "seed": 3}
    )
    workdir = tmp_path_factory.mktemp("teacher")
    trainer = Trainer("simclr", params, digits16[:256], workdir=workdir, probe_size=0)
    trainer.fit()
    return Encoder.load(trainer.export_encoder(workdir / "encoder.pt"))


def test_a_short_run_lowers_the_loss_and_brings_the_students_neighbours_to_the_teachers(
    ssl_teacher: Encoder, digits16: np.ndarray, tmp_path: Path
) -> None:
    images = digits16[:256]
    teacher_vectors = torch.from_numpy(ssl_teacher.embed(images))
    params = _params(epochs=8, lr=5e-3, warmup_epochs=0)
    hooks = LossRecorder()
    trainer = Trainer("distill", params, images, workdir=tmp_path, teacher=ssl_teacher, hooks=hooks, probe_size=0)
    untrained = embedder(trainer.model, trainer.data, trainer.device)(np.arange(len(images)))
    before = neighbour_agreement(torch.from_numpy(untrained), teacher_vectors)
    result = trainer.fit()
    assert len(hooks.losses) == 8 * 8 and all(np.isfinite(hooks.losses))
    first, last = np.mean(hooks.losses[:8]), np.mean(hooks.losses[-8:])
    assert last < 0.7 * first, hooks.losses

    served = Encoder.load(trainer.export_encoder(tmp_path / "encoder.pt"))  # the student backbone, no head
    assert (served.method, served.dim, served.head) == ("distill", 128, None)
    after = neighbour_agreement(torch.from_numpy(served.embed(images)), teacher_vectors)
    # A random tiny CNN already shares ~70% of these digits' 10 nearest neighbours with the teacher (both see
    # pixels); 64 steps of distillation add 6-8 points over seeds 0-2. The falling loss alone would not show that
    # the student's own features, not only its projection, took on the teacher's neighbourhoods.
    assert after > before + 0.03, (before, after)

    from_checkpoint = Encoder.load(result.checkpoint_path)  # rebuilt without its teacher
    np.testing.assert_allclose(from_checkpoint.embed(images[:8]), served.embed(images[:8]), atol=1e-6)
