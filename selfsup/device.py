"""Device choice and the precision settings that go with it."""

import ctypes
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


RESIDENT_SHARE = 0.25  # of the device memory free once the model is there


def resident_budget(device: torch.device) -> int:
    """Bytes of ``device`` memory a dataset may take to be kept there whole and gathered there.

    On CUDA a quarter of what is free (the optimizer state and the activations want the rest); elsewhere none:
    on CPU a memory-mapped array small enough is already in the page cache, and a copy would only double it.
    """
    if device.type != "cuda":
        return 0
    free, _ = torch.cuda.mem_get_info(device)
    return int(free * RESIDENT_SHARE)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)
_KEEP_BYTES = 1 << 30


def keep_freed_memory() -> None:
    """Ask glibc to keep freed large blocks for reuse instead of handing them back to the OS.

    A CPU training step allocates and frees activation-sized blocks every step. By default glibc serves
    each with a fresh mmap and returns it on free, so the next step page-faults its memory in again: on the
    tiny CNN that cost about 20% of a step (measured by bench/train_throughput.py's paths with and without
    this). It is the effect PyTorch's CPU performance guide gets from jemalloc or tcmalloc, without a new
    dependency. The process keeps up to about 1 GiB of freed memory. No-op where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)
    libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES)
