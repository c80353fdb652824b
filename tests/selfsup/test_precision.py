"""Half precision for serving: chosen per model by the cosine of its probe vectors to fp32's, else fp32."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from selfsup.backbones import create_backbone
from selfsup.encoder import Encoder
from selfsup.precision import PARITY, choose_precision, probe_cosine, weight_bytes


class Overflowing(nn.Module):
    """Scales its input past fp16's largest value (65504): fp16 gives infinities, bf16 and fp32 do not."""

    dim = 4
    spec = SimpleNamespace(image_size=8)

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 8 * 8, 4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.flatten(1) * 1e5)


def tiny_encoder() -> Encoder:
    torch.manual_seed(0)
    return Encoder(create_backbone("tiny_cnn", image_size=16), method="simclr")


def test_auto_stays_fp32_on_cpu_and_fp32_changes_nothing() -> None:
    encoder = tiny_encoder()
    images = np.random.default_rng(1).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    before = encoder.embed(images)
    choice = choose_precision(encoder, "auto")
    assert (choice.name, choice.measured, encoder.precision) == ("fp32", {}, torch.float32)
    np.testing.assert_array_equal(encoder.embed(images), before)


def test_bf16_is_served_within_parity_and_its_vectors_stay_float32(digits16: np.ndarray) -> None:
    encoder = tiny_encoder()
    full = encoder.embed(digits16[:32])
    choice = choose_precision(encoder, "bf16")
    assert choice.name == "bf16" and encoder.precision == torch.bfloat16
    assert choice.cosine is not None and choice.cosine >= 1 - PARITY
    half = encoder.embed(digits16[:32])
    assert half.dtype == np.float32
    assert (full * half).sum(axis=1).min() >= 1 - PARITY  # on real images too, not only on the probe
    assert not np.array_equal(full, half), "bf16 was not applied"


def test_auto_falls_back_to_fp32_when_a_half_precision_breaks_parity() -> None:
    encoder = Encoder(Overflowing(), method="simclr")
    assert probe_cosine(encoder, "fp16") < 1 - PARITY
    choice = choose_precision(encoder, "auto", candidates=["fp16"])
    assert choice.name == "fp32" and encoder.precision == torch.float32 and "fp16" in choice.measured
    choice = choose_precision(encoder, "auto", candidates=["fp16", "bf16"])
    assert choice.name == "bf16" and set(choice.measured) == {"fp16", "bf16"}


def test_weight_bytes_counts_parameters_and_buffers() -> None:
    encoder = tiny_encoder()
    stored = sum(t.nbytes for t in encoder.backbone.state_dict().values())  # what an encoder file holds
    # Plus the buffers a file does not keep (the input normalization's mean and std): in memory all the same.
    assert stored <= weight_bytes(encoder) <= stored + 1024 and stored > 300_000  # tiny_cnn: ~94k float32 weights


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_auto_serves_half_precision_within_parity(digits16: np.ndarray) -> None:
    encoder = tiny_encoder()
    full = encoder.embed(digits16[:64])
    encoder.to("cuda")
    choice = choose_precision(encoder, "auto")
    assert choice.name in ("bf16", "fp16") and choice.cosine is not None and choice.cosine >= 1 - PARITY
    assert (full * encoder.embed(digits16[:64])).sum(axis=1).min() >= 1 - PARITY
