"""Moving a batch of any modality between memories: every tensor in it, whatever holds them.

A modality's batch is a tensor or a small frozen dataclass of tensors (``TokenBatch``, ``TableBatch``,
``PairBatch``), perhaps in a tuple; the loop moves and pins them without knowing which.
"""

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

Tree = TypeVar("Tree")


def map_tensors(fn: Callable[[torch.Tensor], torch.Tensor], tree: Tree) -> Tree:
    """``tree`` with ``fn`` applied to each tensor in it; anything that is not a tensor is kept as it is."""
    if isinstance(tree, torch.Tensor):
        return fn(tree)  # type: ignore[return-value]
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        changes = {f.name: map_tensors(fn, getattr(tree, f.name)) for f in dataclasses.fields(tree) if f.init}
        return dataclasses.replace(tree, **changes)
    if isinstance(tree, tuple | list):
        return type(tree)(map_tensors(fn, item) for item in tree)
    return tree


def tensors_in(tree: Any) -> Iterator[torch.Tensor]:
    """Every tensor in ``tree``, in the order :func:`map_tensors` visits them."""
    found: list[torch.Tensor] = []

    def collect(tensor: torch.Tensor) -> torch.Tensor:
        found.append(tensor)
        return tensor

    map_tensors(collect, tree)
    return iter(found)


def to_device(tree: Tree, device: torch.device, *, non_blocking: bool = False) -> Tree:
    """Every tensor of ``tree`` on ``device`` (those already there are not copied)."""
    return map_tensors(lambda tensor: tensor.to(device, non_blocking=non_blocking), tree)


def pinned(tree: Tree) -> Tree:
    """Host tensors in page-locked memory, which a CUDA copy can read without blocking the host."""
    return map_tensors(lambda tensor: tensor.pin_memory() if tensor.device.type == "cpu" else tensor, tree)
