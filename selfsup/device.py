"""Device choice and the precision settings that go with it."""

from contextlib import AbstractContextManager, nullcontext

import torch


def pick_device(preferred: str | None = None) -> torch.device:
    """The device to train on: ``preferred`` if given, else CUDA when present, else CPU."""
    if preferred:
        return torch.device(preferred)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_for(device: torch.device) -> AbstractContextManager[object]:
    """bf16 autocast on CUDA (no loss scaling needed, unlike fp16); full precision elsewhere."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def memory_format_for(device: torch.device) -> torch.memory_format:
    """Channels-last is what cuDNN's fastest convolution kernels expect; on CPU it rarely helps."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format
