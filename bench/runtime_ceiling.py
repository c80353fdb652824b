"""The in-process ceiling of one model's encoder, torch beside onnxruntime: same model, same inputs.

Two ceilings, each for ``seconds`` per runtime after a warm-up, with one CPU thread as the embed route's worker
thread runs (``SELFSUP_EMBED_THREADS``, 1 by default):

- model only: a batch of 64 canonical images through the network (what the runtime itself can do);
- decode + embed: the load's own request bodies (JSON of base64 PNGs) parsed, base64- and PNG-decoded and
  embedded, as many requests per batch as the server's micro-batcher joins (``max_batch`` images): everything
  the server does for a request except HTTP. This is the ceiling an HTTP figure is compared with.

Both exports are downloaded through ``GET /v1/models/{id}/export`` (safetensors rebuilds the torch encoder the
embed route runs; onnx is its graph).
"""

import base64
import io
import json
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import numpy as np
import onnxruntime
import torch

from selfsup.data.images import decode_image
from selfsup.export import load_safetensors

BATCH = 64
Embed = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Rate:
    wall: float  # images per second of wall time
    cpu: float  # images per CPU second of this process: what a shared, busy machine changes least


@dataclass(frozen=True)
class Ceiling:
    runtime: str
    model_only: Rate
    decode_embed: Rate


def download(url: str, key: str, model_id: str, fmt: str) -> zipfile.ZipFile:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300) as http:
        response = http.get(f"/v1/models/{model_id}/export", params={"format": fmt}).raise_for_status()
    return zipfile.ZipFile(io.BytesIO(response.content))


def images_per_second(run: Callable[[], int], seconds: float) -> Rate:
    """``run`` returns how many images it handled; called until ``seconds`` have passed, after one warm-up."""
    run()
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        count += run()
    cpu = max(time.process_time() - cpu_start, 1e-9)
    return Rate(count / (time.perf_counter() - start), count / cpu)


def runtimes(url: str, key: str, model_id: str) -> tuple[dict[str, Embed], int]:
    """{"torch": embed, "onnx": embed} for the model's two exports, and its input side."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        download(url, key, model_id, "safetensors").extractall(folder)
        encoder = load_safetensors(folder)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    graph = download(url, key, model_id, "onnx").read("model.onnx")
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    embeds: dict[str, Embed] = {
        "torch": encoder.embed,
        "onnx": lambda images: np.asarray(session.run(None, {"images": images})[0], dtype=np.float32),
    }
    return embeds, encoder.image_size


def decode_batches(bodies: list[bytes], *, per_batch: int, image_size: int) -> Callable[[Embed], int]:
    """A pass over ``bodies`` as the server handles them: ``per_batch`` requests joined into each encoder run."""

    def one_pass(embed: Embed) -> int:
        count = 0
        for start in range(0, len(bodies), per_batch):
            requests = [json.loads(body)["inputs"] for body in bodies[start : start + per_batch]]
            decoded = [np.stack([decode_image(base64.b64decode(text), image_size) for text in r]) for r in requests]
            count += len(embed(np.concatenate(decoded)))  # (N, D)
        return count

    return one_pass


def measure(
    url: str, key: str, model_id: str, pngs: list[bytes], bodies: list[bytes], *, seconds: float, max_batch: int
) -> list[Ceiling]:
    """Both ceilings of both runtimes; ``bodies`` are the load's request bodies (each ``{"inputs": [...]}``)."""
    embeds, image_size = runtimes(url, key, model_id)
    images = np.stack([decode_image(pngs[i % len(pngs)], image_size) for i in range(BATCH)])
    per_request = len(json.loads(bodies[0])["inputs"])
    one_pass = decode_batches(bodies, per_batch=max(1, max_batch // per_request), image_size=image_size)
    results = []
    for name, embed in embeds.items():
        model_only = images_per_second(lambda e=embed: len(e(images)), seconds)  # type: ignore[misc]
        results.append(Ceiling(name, model_only, images_per_second(lambda e=embed: one_pass(e), seconds)))  # type: ignore[misc]
    gap = float(np.abs(embeds["onnx"](images) - embeds["torch"](images)).max())
    print(f"in-process ceiling, 1 thread, {seconds:g} s each (onnx vs torch max abs diff {gap:.1e})")
    for c in results:
        print(
            f"  {c.runtime:6} model only (batch {BATCH}) {c.model_only.wall:7.0f} images/s"
            f" ({c.model_only.cpu:.0f}/CPU s)   decode+embed (the load's bodies, batches of {max_batch})"
            f" {c.decode_embed.wall:6.0f} images/s ({c.decode_embed.cpu:.0f}/CPU s)"
        )
    return results


def ceiling_report(url: str, key: str, model_id: str, pngs: list[bytes], *, seconds: float = 5.0) -> str:
    """The model-only ceiling of each runtime on ``BATCH`` of ``pngs`` (kept for callers of the old report)."""
    embeds, image_size = runtimes(url, key, model_id)
    images = np.stack([decode_image(pngs[i % len(pngs)], image_size) for i in range(BATCH)])
    rates = {name: images_per_second(lambda e=embed: len(e(images)), seconds).wall for name, embed in embeds.items()}  # type: ignore[misc]
    return "\n".join(
        [
            f"in-process ceiling, batch {BATCH}, 1 thread, {seconds:g} s each",
            f"  torch        {rates['torch']:10.0f} images/s",
            f"  onnxruntime  {rates['onnx']:10.0f} images/s   ({rates['onnx'] / rates['torch']:.2f}x torch)",
        ]
    )
