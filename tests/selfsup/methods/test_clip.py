"""CLIP: the symmetric InfoNCE loss against a hand-written reference, the learned and clipped temperature, the
two-tower spec round trip, and a short run on captioned digits that lifts held-out retrieval."""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.encoder import Encoder
from selfsup.encoders import encoder_from_spec
from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.clip import CLIP, CLIPParams, ImageTextEncoder, clip_loss
from selfsup.pairs import ImageTextData, retrieval_recall, split_holdout
from selfsup.train.loop import Trainer
from tests.support.pairs import digit_pair_data
from tests.support.training import LossRecorder

SMALL = {"backbone": "tiny_cnn", "preset": "tiny", "embed_dim": 32, "max_length": 32, "dropout": 0.0}
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data() -> ImageTextData:
    return digit_pair_data(600, 16)


def _method(data: ImageTextData, **overrides: Any) -> CLIP:
    params = get_method("clip").validate({**SMALL, **overrides})
    torch.manual_seed(0)
    return CLIP(params, data.create_encoder(params))


def clip_reference(image: torch.Tensor, text: torch.Tensor, scale: float) -> torch.Tensor:
    """-1/2B sum_i [log softmax_j(s cos(I_i, T_j))_i + log softmax_j(s cos(T_i, I_j))_i], written out per pair."""
    n = len(image)
    cos = [[float(image[i] @ text[j] / (image[i].norm() * text[j].norm())) for j in range(n)] for i in range(n)]
    total = 0.0
    for i in range(n):
        row = math.log(sum(math.exp(scale * cos[i][j]) for j in range(n)))
        column = math.log(sum(math.exp(scale * cos[j][i]) for j in range(n)))
        total += (row - scale * cos[i][i]) + (column - scale * cos[i][i])
    return torch.tensor(total / (2 * n), dtype=torch.float64)


def test_loss_is_the_symmetric_cross_entropy() -> None:
    torch.manual_seed(0)
    image, text = torch.randn(6, 8, dtype=torch.float64), torch.randn(6, 8, dtype=torch.float64)
    unit = torch.nn.functional.normalize
    loss = clip_loss(unit(image, dim=1), unit(text, dim=1), torch.tensor(14.3, dtype=torch.float64))
    torch.testing.assert_close(loss, clip_reference(image, text, 14.3), rtol=1e-10, atol=1e-10)
    # the two directions differ for a non-symmetric similarity matrix, so averaging both is checked
    one_way = torch.nn.functional.cross_entropy(14.3 * unit(image, dim=1) @ unit(text, dim=1).T, torch.arange(6))
    assert not torch.isclose(loss, one_way)


def test_training_loss_compares_each_image_with_its_own_caption(data: ImageTextData) -> None:
    method = _method(data).eval()
    views = method.make_views(data.batch(np.arange(8), CPU))
    loss = method.training_loss(views)
    image, text = method.backbone.encode_image(views[0]), method.backbone.encode_text(views[1])
    expected = clip_reference(image.detach().double(), text.detach().double(), 1 / 0.07)
    torch.testing.assert_close(loss.detach().double(), expected, rtol=1e-5, atol=1e-5)
    shuffled = [views[0], type(views[1])(views[1].input_ids.flip(0), views[1].attention_mask.flip(0))]
    assert not torch.isclose(method.training_loss(shuffled), loss)


def test_temperature_starts_at_007_is_learned_and_clipped_at_100(data: ImageTextData) -> None:
    method = _method(data, temperature=0.07)
    assert float(method.logit_scale.detach()) == pytest.approx(1 / 0.07)
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-2)
    start = float(method.log_logit_scale.detach())
    for step in range(3):
        with torch.no_grad():
            views = method.make_views(data.batch(np.arange(16), CPU))
        loss = method.training_loss(views)
        optimizer.zero_grad()
        loss.backward()
        assert method.log_logit_scale.grad is not None and float(method.log_logit_scale.grad) != 0
        optimizer.step()
        method.after_step(step + 1, 3, steps_per_epoch=3)
    assert float(method.log_logit_scale.detach()) != pytest.approx(start, abs=1e-3)

    with torch.no_grad():
        method.log_logit_scale.fill_(math.log(500.0))
    assert float(method.logit_scale.detach()) == pytest.approx(100.0)  # clipped in the loss at once ...
    method.after_step(4, 4, steps_per_epoch=4)
    assert float(method.log_logit_scale.detach()) == pytest.approx(math.log(100.0))  # ... and in the parameter itself


def test_spec_round_trip_rebuilds_identical_towers(data: ImageTextData) -> None:
    encoder = _method(data).backbone.eval()
    raw = json.loads(json.dumps(encoder.spec.to_dict()))  # what a checkpoint stores
    assert raw["kind"] == "image_text" and raw["image"]["image_size"] == 16 and raw["embed_dim"] == 32
    rebuilt = encoder_from_spec(raw)
    assert isinstance(rebuilt, ImageTextEncoder) and rebuilt.spec == encoder.spec
    assert rebuilt.spec.image.image_size == 16 and rebuilt.dim == 32
    rebuilt.load_state_dict(encoder.state_dict())
    rebuilt.eval()
    batch = data.batch(np.arange(5), CPU)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.encode_image(batch.images), encoder.encode_image(batch.images))
        torch.testing.assert_close(rebuilt.encode_text(batch.text), encoder.encode_text(batch.text))
        torch.testing.assert_close(rebuilt(batch), encoder.encode_image(batch.images))


def test_registered_as_cross_modal_for_image_text_with_paper_defaults() -> None:
    spec = get_method("clip")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "cross_modal",
        ("image_text",),
        CLIPParams,
        CLIP,
    )
    params = spec.validate({})
    assert (params.temperature, params.max_length, params.embed_dim, params.weight_decay) == (0.07, 77, 512, 0.2)


@pytest.mark.parametrize(("field", "value"), [("temperature", 0.001), ("embed_dim", 4), ("min_scale", 0), ("x", 1)])
def test_bad_params_are_named(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("clip").validate({field: value})
    assert {issue.loc for issue in caught.value.issues} == {("params", field)}


def test_a_short_run_lowers_the_loss_and_lifts_heldout_recall(data: ImageTextData, tmp_path: Path) -> None:
    train, heldout = split_holdout(data, 0.2, seed=0)
    params = get_method("clip").validate(
        {**SMALL, "epochs": 4, "batch_size": 32, "lr": 2e-3, "warmup_epochs": 0.5, "weight_decay": 0.01}
    )
    hooks = LossRecorder()
    trainer = Trainer("clip", params, train, workdir=tmp_path, hooks=hooks, probe_size=128)
    before = retrieval_recall(trainer.model, heldout, CPU)
    result = trainer.fit()
    after = retrieval_recall(trainer.model, heldout, CPU)

    assert len(hooks.losses) == 4 * (len(train) // 32) and all(np.isfinite(hooks.losses))
    first, last = np.mean(hooks.losses[:10]), np.mean(hooks.losses[-10:])
    assert last < first - 0.7, hooks.losses  # starts near log(32) = 3.5
    chance = 1 / after["num_images"]  # text->image at k=1; image->text is about 2.5x that (2.5 captions each)
    for key in ("image_to_text_recall@1", "text_to_image_recall@1"):
        assert after[key] > max(before[key] + 0.05, 5 * chance), (before, after)
    for key in ("image_to_text_recall@5", "text_to_image_recall@5"):
        assert after[key] > before[key] + 0.2, (before, after)
    assert {"rankme", "alignment", "uniformity"} <= set(result.metrics)

    served = Encoder.load(result.checkpoint_path)  # rebuilt from the checkpoint alone, as serving does
    assert served.input_kinds == ("image", "text") and served.image_size == 16
    assert retrieval_recall(served, heldout, CPU) == after
