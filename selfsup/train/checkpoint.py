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
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from selfsup.errors import CheckpointError

CHECKPOINT_FORMAT = "selfsup.checkpoint/1"
ENCODER_FORMAT = "selfsup.encoder/1"


def save_atomically(payload: dict[str, Any], path: Path, *, may_publish: Callable[[], bool] | None = None) -> bool:
    """Write to a temporary file and rename it into place, so a crash mid-write never leaves a torn checkpoint.

    The temporary name is this writer's own: two writers of one path (a stalled attempt and the one that replaced
    it) never interleave their bytes in one file. ``may_publish`` is asked just before the rename; when it says
    no, the file is dropped, ``path`` is left as it was, and the result is False.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    tmp = Path(name)
    try:
        torch.save(payload, tmp)
        if may_publish is not None and not may_publish():
            return False
        os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)


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
