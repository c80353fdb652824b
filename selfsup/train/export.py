"""Writing the servable encoder: the backbone, its embedding head if the method has one, and the spec that
rebuilds them.

Layout::

    format "selfsup.encoder/1"   modality ("image", "text", "tabular", "image_text")   method
    backbone    the encoder's spec dict (``spec.to_dict()``; see :mod:`selfsup.encoders`)
    dim         length of the served vector (the head's output size when there is a head)
    state_dict  encoder weights
    assets      what serving needs to prepare raw inputs as training did (a tokenizer, a table schema);
                absent in image-only files written before other modalities existed
    head        only for methods with an embedding head:
                {"kind": "linear", "in_features", "out_features", "state_dict"}
    whitening   only for methods that serve whitened vectors (see :mod:`selfsup.whitening`), applied after the
                head: {"kind": "zca", "mean", "matrix"}; files written before it existed have none
"""

from pathlib import Path
from typing import Any

import torch
from torch import nn

from selfsup.errors import CheckpointError
from selfsup.methods.base import SSLMethod
from selfsup.train.checkpoint import ENCODER_FORMAT, save_atomically
from selfsup.whitening import Whitening


def export_encoder(
    model: SSLMethod,
    method_name: str,
    path: Path,
    *,
    modality: str = "image",
    assets: dict[str, Any] | None = None,
    whitening: Whitening | None = None,
) -> Path:
    backbone, head = model.backbone, linear_head(model.embedding_head())
    payload: dict[str, Any] = {
        "format": ENCODER_FORMAT,
        "modality": modality,
        "method": method_name,
        "backbone": backbone.spec.to_dict(),
        "dim": backbone.dim,
        "state_dict": _on_cpu(backbone.state_dict()),
        "assets": assets or {},
    }
    if head is not None:
        payload["head"] = head_payload(head)
        payload["dim"] = head.out_features
    if whitening is not None:
        payload["whitening"] = whitening.to_payload()
    save_atomically(payload, Path(path))
    return Path(path)


def linear_head(head: nn.Module | None) -> nn.Linear | None:
    """A method's embedding head, checked to be of the one kind that can be served so far."""
    if head is None or isinstance(head, nn.Linear):
        return head
    raise TypeError(f"only linear embedding heads can be served, not {type(head).__name__}")


def head_payload(head: nn.Linear) -> dict[str, Any]:
    state = _on_cpu(head.state_dict())
    return {"kind": "linear", "in_features": head.in_features, "out_features": head.out_features, "state_dict": state}


def head_from_payload(raw: dict[str, Any]) -> nn.Linear:
    """Inverse of :func:`head_payload`."""
    if raw.get("kind") != "linear":
        raise CheckpointError(f"unknown embedding head kind {raw.get('kind')!r}")
    state = raw["state_dict"]
    head = nn.Linear(int(raw["in_features"]), int(raw["out_features"]), bias="bias" in state)
    head.load_state_dict(state)
    return head


def _on_cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in state.items()}
