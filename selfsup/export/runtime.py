"""Serving an :class:`~selfsup.encoder.Encoder` through onnxruntime: its towers exported to ONNX in memory, run
on prepared inputs (the same ones ``Encoder.embed``, ``embed_tokens`` and ``embed_table`` take)."""

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from selfsup.encoder import Encoder
from selfsup.export.formats import to_onnx

# Per input kind: prepared inputs (images, a TokenBatch, a TableBatch) -> the graph's inputs by name.
_FEEDS: dict[str, Callable[[Any], dict[str, np.ndarray]]] = {
    "image": lambda images: {"images": np.ascontiguousarray(images)},
    "text": lambda batch: {"input_ids": batch.input_ids.numpy(), "attention_mask": batch.attention_mask.numpy()},
    "row": lambda batch: {"numeric": batch.numeric.numpy(), "categorical": batch.categorical.numpy()},
}


def onnx_embedders(encoder: Encoder, *, threads: int = 1) -> dict[str, Callable[[Any], np.ndarray]]:
    """For each input kind of ``encoder``: prepared inputs -> (B, D) float32 unit vectors, by onnxruntime on the
    CPU with ``threads`` threads."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    embedders = {}
    with tempfile.TemporaryDirectory(prefix="onnx-") as folder:
        for kind in encoder.input_kinds:
            graph = to_onnx(encoder, Path(folder) / f"{kind}.onnx", tower=kind).read_bytes()
            session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
            embedders[kind] = _runner(session, _FEEDS[kind])
    return embedders


def _runner(
    session: onnxruntime.InferenceSession, feed: Callable[[Any], dict[str, np.ndarray]]
) -> Callable[[Any], np.ndarray]:
    return lambda inputs: np.asarray(session.run(None, feed(inputs))[0], dtype=np.float32)
