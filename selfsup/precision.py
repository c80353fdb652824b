"""Serving an encoder in half precision only where its vectors stay those of full precision.

Half precision (bf16 or fp16 autocast) roughly halves the memory traffic of a forward pass on a GPU, but what a
client compares is the served unit vector: a model whose vectors turn a different way in half precision would
answer nearest-neighbour queries differently. So the choice is measured per model when it loads: a fixed probe
batch of each input kind it takes is embedded in full and in half precision, and half is kept only if every
probe vector keeps a cosine of at least ``1 - PARITY`` to its full-precision twin.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from selfsup.encoder import Encoder

PARITY = 1e-2  # the largest 1 - cosine between a half and a full precision vector that we serve
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
PROBE_SEED, PROBE_SIZE = 0, 16
PROBE_TEXTS = (
    "a photograph of a small dog on a beach",
    "the quarterly report shows revenue growth",
    "def main(): return 0",
    "Les feuilles tombent en automne.",
)


@dataclass(frozen=True)
class PrecisionChoice:
    name: str  # "fp32", "bf16" or "fp16"
    cosine: float | None  # the lowest probe cosine of this precision to fp32 (None: fp32 itself)
    measured: dict[str, float]  # every half precision tried -> its lowest probe cosine


def choose_precision(encoder: Encoder, requested: str, *, candidates: Sequence[str] | None = None) -> PrecisionChoice:
    """Set ``encoder.precision`` for ``requested`` ("fp32", "bf16", "fp16" or "auto") and say what was chosen.

    An explicit half precision is served as asked (its cosine is measured, for the log); "auto" tries
    ``candidates`` in order (by default the half precisions the device runs fast: bf16, then fp16, on CUDA;
    none on CPU, where they are not faster for us) and keeps the first within :data:`PARITY`, else fp32.
    """
    if requested not in (*PRECISIONS, "auto"):
        raise ValueError(f"unknown precision {requested!r}: fp32, bf16, fp16 or auto")
    if requested != "auto":
        candidates = [requested]
    elif candidates is None:
        candidates = _fast_half_precisions(encoder.device)
    measured: dict[str, float] = {}
    for name in candidates:
        if name == "fp32":
            break
        measured[name] = probe_cosine(encoder, name)
        if requested != "auto" or measured[name] >= 1 - PARITY:
            encoder.precision = PRECISIONS[name]
            return PrecisionChoice(name, measured[name], measured)
    encoder.precision = torch.float32
    return PrecisionChoice("fp32", None, measured)


def probe_cosine(encoder: Encoder, name: str) -> float:
    """The lowest cosine between ``name``-precision and fp32 vectors over the probe batch of every input kind."""
    lowest = 1.0
    for embed in _probes(encoder).values():
        full = _embedded_at(encoder, torch.float32, embed)  # (P, D) unit vectors
        half = _embedded_at(encoder, PRECISIONS[name], embed)
        finite = np.isfinite(half).all()
        lowest = min(lowest, float((full * half).sum(axis=1).min()) if finite else -1.0)
    return lowest


def weight_bytes(encoder: Encoder) -> int:
    """Bytes of the encoder's parameters and buffers, where they live (what the serving cache is bounded by)."""
    modules = [encoder.backbone] + ([encoder.head] if encoder.head is not None else [])
    tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
    return sum(t.numel() * t.element_size() for t in tensors)


def _fast_half_precisions(device: torch.device) -> list[str]:
    if device.type != "cuda":
        return []
    return ["bf16", "fp16"] if torch.cuda.is_bf16_supported() else ["fp16"]


def _embedded_at(encoder: Encoder, dtype: torch.dtype, embed: Callable[[], np.ndarray]) -> np.ndarray:
    kept = encoder.precision
    encoder.precision = dtype
    try:
        return embed()
    finally:
        encoder.precision = kept


def _probes(encoder: Encoder) -> dict[str, Callable[[], np.ndarray]]:
    """A fixed probe batch per input kind: seeded random images, a few sentences, all-imputed rows."""
    probes: dict[str, Callable[[], np.ndarray]] = {}
    kinds = encoder.input_kinds
    if "image" in kinds:
        side = encoder.image_size
        images = np.random.default_rng(PROBE_SEED).integers(0, 256, (PROBE_SIZE, side, side, 3), dtype=np.uint8)
        probes["image"] = lambda: encoder.embed(images)
    if "text" in kinds:
        tokens: Any = encoder.prepare_texts(PROBE_TEXTS)
        probes["text"] = lambda: encoder.embed_tokens(tokens)
    if "row" in kinds:
        rows: Any = encoder.prepare_rows([{}] * 4)  # every column imputed as in training
        probes["row"] = lambda: encoder.embed_table(rows)
    return probes
