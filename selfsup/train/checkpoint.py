"""Self-describing checkpoints: enough to resume a run exactly, or to rebuild its encoder with no other input.

Layout (a plain dict, loaded with ``weights_only=True`` so a checkpoint can never run code)::

    format      "selfsup.checkpoint/1"
    method      registry name          params    resolved params (dict)
    backbone    encoder spec dict      data      TrainingData.describe(): {"modality", "num_items", ...}
    assets      TrainingData.serving_assets(): what serving needs to prepare inputs (tokenizer, schema)
    model       method state dict      optimizer / scheduler state dicts
    progress    {"epoch", "step", "step_in_epoch"}
    rng         {"torch": ByteTensor, "cuda": [ByteTensor, ...]}
"""

import os
from pathlib import Path
from typing import Any

import torch

from selfsup.errors import CheckpointError

CHECKPOINT_FORMAT = "selfsup.checkpoint/1"
ENCODER_FORMAT = "selfsup.encoder/1"


def save_atomically(payload: dict[str, Any], path: Path) -> None:
    """Write to a temporary file and rename, so a crash mid-write never leaves a torn checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_payload(path: Path, expected_format: str | tuple[str, ...]) -> dict[str, Any]:
    formats = (expected_format,) if isinstance(expected_format, str) else expected_format
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") not in formats:
        raise CheckpointError(f"{path} is not a {' or '.join(formats)} file")
    return payload


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
