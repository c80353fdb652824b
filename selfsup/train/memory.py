"""Running out of memory as a typed error: the same batch runs out again, so retrying as is cannot help."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from selfsup.errors import SelfSupError

CPU_ALLOCATOR_FAILURE = "can't allocate memory"  # torch's DefaultCPUAllocator raises a plain RuntimeError


class OutOfMemory(SelfSupError):
    """A step needed more memory than the device has; the message says which parameter to lower."""


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(exc, RuntimeError) and CPU_ALLOCATOR_FAILURE in str(exc)


def advice(batch_size: int, device: torch.device) -> str:
    if batch_size > 2:
        return f"out of memory on {device.type} at batch_size {batch_size}: try {batch_size // 2}"
    return f"out of memory on {device.type} at batch_size {batch_size}: try a smaller backbone or image size"


@contextmanager
def out_of_memory_as_error(*, batch_size: int, device: torch.device) -> Iterator[None]:
    """Turn an allocation failure inside the block into :class:`OutOfMemory` that names what to change."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise OutOfMemory(advice(batch_size, device)) from exc
