"""Each input kind of an :class:`~selfsup.encoder.Encoder` as a plain ``nn.Module`` from canonical tensors to
unit vectors, the form ONNX and TorchScript take: preprocessing that is arithmetic (image scaling) is inside the
graph, preprocessing that is not (decoding files, tokenizing, reading rows) stays with the caller, who gets
the tokenizer or table schema beside the exported file.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from selfsup.augment import to_float_images
from selfsup.encoder import Encoder
from selfsup.tabular.batch import TableBatch
from selfsup.text.batch import TokenBatch


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: its name, dtype and shape (a string names a dynamic axis)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @property
    def dynamic_axes(self) -> dict[int, str]:
        return {axis: size for axis, size in enumerate(self.shape) if isinstance(size, str)}


class Tower(nn.Module):
    """Canonical input tensors -> (B, D) float32 L2-normalized vectors, as ``Encoder`` serves them."""

    def __init__(self, encoder: Encoder, kind: str, inputs: tuple[TensorSpec, ...]) -> None:
        super().__init__()
        self.backbone = encoder.backbone
        self.head = encoder.head
        self.whitening = encoder.whitening  # folded into the graph: exported vectors are the served ones
        self.two_towers = encoder.modality == "image_text"
        self.kind = kind
        self.inputs = inputs
        self.output = TensorSpec("embedding", "float32", ("batch", encoder.dim))

    def features(self, batch: Any) -> torch.Tensor:
        if not self.two_towers:
            return self.backbone(batch)  # (B, encoder dim)
        image = self.kind == "image"
        return self.backbone.encode_image(batch) if image else self.backbone.encode_text(batch)

    def vectors(self, batch: Any) -> torch.Tensor:
        features = self.features(batch)
        if self.head is not None:
            features = self.head(features)  # (B, D)
        if self.whitening is not None:
            features = self.whitening(features)
        return nn.functional.normalize(features.float(), dim=1)

    def example_inputs(self, batch_size: int = 2) -> tuple[torch.Tensor, ...]:
        """Zeros of every input's shape (dynamic axes of size ``batch_size``; text: 4 tokens), for tracing."""
        dtypes = {"uint8": torch.uint8, "int64": torch.int64, "float32": torch.float32}
        sizes = {"batch": batch_size, "sequence": 4}
        return tuple(
            torch.zeros([sizes[s] if isinstance(s, str) else s for s in spec.shape], dtype=dtypes[spec.dtype])
            for spec in self.inputs
        )


class ImageTower(Tower):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, S, S, 3) uint8 -> (B, D)."""
        return self.vectors(to_float_images(images))


class TextTower(Tower):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, L) int64 ids and (B, L) int64 mask (1 on tokens) -> (B, D)."""
        return self.vectors(TokenBatch(input_ids, attention_mask))

    def example_inputs(self, batch_size: int = 2) -> tuple[torch.Tensor, ...]:
        ids, mask = super().example_inputs(batch_size)
        return ids.fill_(5), mask.fill_(1)  # real tokens (an id inside every vocabulary), not all padding


class TableTower(Tower):
    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """(B, Fn) float32 standardized numerics and (B, Fc) int64 category codes -> (B, D)."""
        return self.vectors(TableBatch(numeric, categorical))


def _image(encoder: Encoder) -> Tower:
    size = encoder.image_size
    return ImageTower(encoder, "image", (TensorSpec("images", "uint8", ("batch", size, size, 3)),))


def _text(encoder: Encoder) -> Tower:
    ids = TensorSpec("input_ids", "int64", ("batch", "sequence"))
    return TextTower(encoder, "text", (ids, TensorSpec("attention_mask", "int64", ("batch", "sequence"))))


def _table(encoder: Encoder) -> Tower:
    schema = encoder.row_preprocessor.schema
    numeric, categorical = len(schema.numeric_columns), len(schema.categorical_columns)
    return TableTower(
        encoder,
        "row",
        (
            TensorSpec("numeric", "float32", ("batch", numeric)),
            TensorSpec("categorical", "int64", ("batch", categorical)),
        ),
    )


# Per input kind of an Encoder: the tower that serves it.
_TOWERS: dict[str, Callable[[Encoder], Tower]] = {"image": _image, "text": _text, "row": _table}


def towers(encoder: Encoder) -> dict[str, Tower]:
    """Every tower of ``encoder`` by input kind ("image", "text", "row"), in eval mode on the CPU."""
    return {kind: _TOWERS[kind](encoder).eval() for kind in encoder.input_kinds}
