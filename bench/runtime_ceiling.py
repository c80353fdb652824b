"""The in-process ceiling of one model's encoder, torch beside onnxruntime: same model, same inputs, batch 64.

Both exports are downloaded through ``GET /v1/models/{id}/export`` (safetensors rebuilds the torch encoder the
embed route runs; onnx is its graph), each run with one CPU thread as the embed route's worker thread does
(``SELFSUP_EMBED_THREADS``, 1 by default), for ``seconds`` each, after a warm-up.
"""

import io
import tempfile
import time
import zipfile
from collections.abc import Callable

import httpx
import numpy as np
import onnxruntime
import torch

from selfsup.data.images import decode_image
from selfsup.export import load_safetensors

BATCH = 64


def download(url: str, key: str, model_id: str, fmt: str) -> zipfile.ZipFile:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300) as http:
        response = http.get(f"/v1/models/{model_id}/export", params={"format": fmt}).raise_for_status()
    return zipfile.ZipFile(io.BytesIO(response.content))


def images_per_second(run: Callable[[], object], seconds: float) -> float:
    run()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        count += BATCH
    return count / (time.perf_counter() - start)


def ceiling_report(url: str, key: str, model_id: str, pngs: list[bytes], *, seconds: float = 5.0) -> str:
    """Images/s of each runtime on ``BATCH`` of ``pngs`` (cycled), and how far apart their vectors are."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        download(url, key, model_id, "safetensors").extractall(folder)
        encoder = load_safetensors(folder)
    images = np.stack([decode_image(pngs[i % len(pngs)], encoder.image_size) for i in range(BATCH)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    graph = download(url, key, model_id, "onnx").read("model.onnx")
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    gap = float(np.abs(session.run(None, {"images": images})[0] - encoder.embed(images)).max())
    torch_rate = images_per_second(lambda: encoder.embed(images), seconds)
    onnx_rate = images_per_second(lambda: session.run(None, {"images": images}), seconds)
    return "\n".join(
        [
            f"in-process ceiling, batch {BATCH}, 1 thread, {seconds:g} s each (max abs diff {gap:.1e})",
            f"  torch        {torch_rate:10.0f} images/s",
            f"  onnxruntime  {onnx_rate:10.0f} images/s   ({onnx_rate / torch_rate:.2f}x torch)",
        ]
    )
