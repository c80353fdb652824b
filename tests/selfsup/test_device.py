"""Device choice and the precision settings that go with it."""

import contextlib

import pytest
import torch

from selfsup.device import autocast_for, memory_format_for, pick_device


def test_an_explicit_device_wins() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_cpu_trains_in_full_precision_and_default_layout() -> None:
    cpu = torch.device("cpu")
    assert isinstance(autocast_for(cpu), contextlib.nullcontext)
    with autocast_for(cpu):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    assert memory_format_for(cpu) == torch.contiguous_format


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # on a CPU-only machine autocast warns
def test_cuda_gets_bf16_autocast_and_channels_last() -> None:
    cuda = torch.device("cuda")  # building the settings needs no GPU
    context = autocast_for(cuda)
    assert isinstance(context, torch.autocast)
    assert context.fast_dtype == torch.bfloat16
    assert memory_format_for(cuda) == torch.channels_last
