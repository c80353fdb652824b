"""Masked language modelling: BERT's 80/10/10 corruption, the tied head's loss, and a short run on real text."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.methods.mlm import IGNORE, MaskedLanguageModel, MLMParams, mask_tokens
from selfsup.text.batch import content_mask
from selfsup.text.tokenizer import SpecialTokens
from selfsup.train.loop import Trainer
from tests.support.text import docstring_data
from tests.support.training import LossRecorder

CPU = torch.device("cpu")
SPECIAL = SpecialTokens(pad=0, cls=2, sep=3, mask=4)


def tiny_mlm(**overrides: object) -> MaskedLanguageModel:
    params = get_method("mlm").validate({"preset": "tiny", "max_length": 32, **overrides})
    torch.manual_seed(0)
    return MaskedLanguageModel(params, docstring_data().create_encoder(params))


def test_mlm_is_registered_as_masked_for_text_with_typed_params() -> None:
    spec = get_method("mlm")
    assert (spec.family, spec.modalities, spec.params_cls, spec.method_cls) == (
        "masked",
        ("text",),
        MLMParams,
        MaskedLanguageModel,
    )
    assert spec.validate({}) == MLMParams()
    with pytest.raises(ParamError) as caught:
        spec.validate({"mask_prob": 0.9})
    assert [issue.loc for issue in caught.value.issues] == [("params", "mask_prob")]


def test_masking_chooses_15_percent_of_content_tokens_split_80_10_10() -> None:
    torch.manual_seed(0)
    batch = docstring_data(max_length=64).batch(np.arange(351), CPU)
    corrupted, labels = mask_tokens(batch, mask_prob=0.15, special=SPECIAL, vocab_size=600)
    chosen = labels != IGNORE
    content = content_mask(batch, SPECIAL.ids())
    assert not (chosen & ~content).any()  # never a special token or padding
    assert abs(chosen.sum().item() / content.sum().item() - 0.15) < 0.01
    assert torch.equal(labels[chosen], batch.input_ids[chosen])
    assert torch.equal(corrupted.input_ids[~chosen], batch.input_ids[~chosen])
    new = corrupted.input_ids[chosen]
    masked = (new == SPECIAL.mask).float().mean().item()
    kept = (new == batch.input_ids[chosen]).float().mean().item()
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.02 and abs(1 - masked - kept - 0.1) < 0.02
    assert torch.equal(corrupted.attention_mask, batch.attention_mask)


def test_the_loss_is_cross_entropy_of_the_tied_head_over_masked_positions_only() -> None:
    method = tiny_mlm().eval()
    torch.manual_seed(1)
    corrupted, labels = method.make_views(docstring_data().batch(np.arange(16), CPU))
    loss = method.training_loss([corrupted, labels])
    with torch.no_grad():
        states = method.backbone.forward_tokens(corrupted)[labels != IGNORE]  # (M, H)
        head = method.head
        hidden = F.layer_norm(F.gelu(head.dense(states)), (64,), head.norm.weight, head.norm.bias, head.norm.eps)
        logits = hidden @ method.backbone.input_embeddings().weight.T + head.bias  # (M, V)
        picked = logits.log_softmax(dim=1).gather(1, labels[labels != IGNORE][:, None])
    torch.testing.assert_close(loss.detach(), -picked.mean())
    loss.backward()
    assert method.backbone.input_embeddings().weight.grad is not None  # the decoder is the word embeddings
    assert all(p.grad is not None for p in method.parameters())


def test_a_few_epochs_on_real_docstrings_lower_the_loss(tmp_path: Path) -> None:
    params = get_method("mlm").validate(
        {"preset": "tiny", "max_length": 32, "epochs": 5, "batch_size": 32, "lr": 2e-3, "warmup_epochs": 0}
    )
    hooks = LossRecorder()
    result = Trainer("mlm", params, docstring_data(), workdir=tmp_path, hooks=hooks, probe_size=64).fit()
    assert result.status == "completed" and len(hooks.epoch_losses) == 5
    assert hooks.epoch_losses[-1] < 0.94 * hooks.epoch_losses[0] < 0.98 * np.log(600), hooks.epoch_losses
