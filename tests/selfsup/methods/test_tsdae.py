"""TSDAE: token deletion, a decoder that reads only the sentence vector, its loss, and a short run on real text."""

from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.tsdae import TSDAE, TSDAEParams
from selfsup.text.batch import TokenBatch
from selfsup.train.loop import Trainer
from tests.support.text import docstring_data
from tests.support.training import LossRecorder

CPU = torch.device("cpu")


def tiny_tsdae(**overrides: object) -> TSDAE:
    params = get_method("tsdae").validate({"preset": "tiny", "max_length": 32, **overrides})
    torch.manual_seed(0)
    return TSDAE(params, docstring_data().create_encoder(params))


def test_tsdae_is_registered_as_generative_for_text_with_typed_params() -> None:
    spec = get_method("tsdae")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "generative",
        ("text",),
        TSDAEParams,
        TSDAE,
    )
    assert spec.validate({}) == TSDAEParams() and TSDAEParams().deletion_ratio == 0.6
    with pytest.raises(ParamError) as caught:
        spec.validate({"deletion_ratio": 1.0})
    assert [issue.loc for issue in caught.value.issues] == [("params", "deletion_ratio")]


def test_views_are_the_damaged_text_and_the_original() -> None:
    method = tiny_tsdae()
    batch = docstring_data().batch(np.arange(32), CPU)
    torch.manual_seed(0)
    damaged, target = method.make_views(batch)
    assert target is batch
    assert damaged.attention_mask.sum() < 0.6 * batch.attention_mask.sum()


def test_the_loss_is_teacher_forced_cross_entropy_over_real_tokens() -> None:
    method = tiny_tsdae().eval()
    torch.manual_seed(0)
    damaged, target = method.make_views(docstring_data().batch(np.arange(8), CPU))
    loss = method.training_loss([damaged, target])
    with torch.no_grad():
        sentence = method.backbone(damaged)  # (B, H)
        inputs = TokenBatch(target.input_ids[:, :-1], target.attention_mask[:, :-1])
        log_probs = method.decoder(sentence, inputs, method.backbone.input_embeddings()).log_softmax(dim=-1)
    total, count = 0.0, 0
    for row in range(len(target)):
        for t in range(int(target.attention_mask[row].sum()) - 1):  # token t predicts token t + 1
            total -= log_probs[row, t, target.input_ids[row, t + 1]].item()
            count += 1
    torch.testing.assert_close(loss.detach(), torch.tensor(total / count))
    loss.backward()
    assert all(p.grad is not None for p in method.parameters())


def test_the_decoder_is_causal_and_reads_the_input_only_through_the_sentence_vector() -> None:
    method = tiny_tsdae().eval()
    batch = docstring_data().batch(np.arange(4), CPU)
    embeddings = method.backbone.input_embeddings()
    changed = batch.input_ids.clone()
    changed[:, 5] = 7
    with torch.no_grad():
        sentence = method.backbone(batch)
        before = method.decoder(sentence, batch, embeddings)
        after = method.decoder(sentence, TokenBatch(changed, batch.attention_mask), embeddings)
        other = method.decoder(torch.randn_like(sentence), batch, embeddings)
    torch.testing.assert_close(before[:, :5], after[:, :5])  # no peeking at later tokens
    assert not torch.allclose(before[:, 5:], after[:, 5:])
    assert not torch.allclose(before, other)  # what it predicts depends on the sentence vector


def test_a_few_epochs_on_real_docstrings_lower_the_loss(tmp_path: Path) -> None:
    params = get_method("tsdae").validate(
        {"preset": "tiny", "max_length": 32, "epochs": 4, "batch_size": 32, "lr": 2e-3, "warmup_epochs": 0}
    )
    hooks = LossRecorder()
    result = Trainer("tsdae", params, docstring_data(), workdir=tmp_path, hooks=hooks, probe_size=64).fit()
    assert result.status == "completed" and len(hooks.epoch_losses) == 4
    assert hooks.epoch_losses[-1] < 0.92 * hooks.epoch_losses[0], hooks.epoch_losses
