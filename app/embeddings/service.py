"""Loading encoders lazily (LRU cache, one batcher each) and turning client inputs into embeddings."""

import asyncio
import base64
import binascii
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from app.core.config import Settings
from app.core.errors import FieldErrors
from app.embeddings.admission import RequestGate
from app.embeddings.batching import BatchLimits, EmbeddingBatcher
from selfsup.data.images import decode_image
from selfsup.encoder import Encoder
from selfsup.errors import InvalidImageError

DATA_URL_MARK = ";base64,"


@dataclass(frozen=True)
class ServedModel:
    encoder: Encoder
    batcher: EmbeddingBatcher  # runs encoder.embed on its own thread, batching concurrent requests


class EncoderCache:
    """Keeps the most recently used encoders in memory, each with its batcher; loads each model once.

    Also holds the gate on embedding requests in progress, the other half of the route's admission control.
    """

    def __init__(self, capacity: int, *, limits: BatchLimits, threads: int, max_requests: int) -> None:
        self.capacity = capacity
        self.limits = limits
        self.threads = threads
        self.gate = RequestGate(max_requests)
        self._entries: OrderedDict[str, ServedModel] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "EncoderCache":
        limits = BatchLimits(
            max_batch=settings.embed_max_batch,
            max_wait=settings.embed_max_wait_ms / 1000,
            queue_limit=settings.embed_queue_limit,
        )
        return cls(
            settings.encoder_cache_size,
            limits=limits,
            threads=settings.embed_threads,
            max_requests=settings.embed_max_requests,
        )

    def get(self, model_id: str, path: Path) -> ServedModel:
        with self._lock:
            if model_id in self._entries:
                self._entries.move_to_end(model_id)
                return self._entries[model_id]
            loading = self._loading.setdefault(model_id, threading.Lock())
        with loading:  # the first caller loads (it can take a while); concurrent callers for it wait
            with self._lock:
                if model_id in self._entries:
                    return self._entries[model_id]
            encoder = Encoder.load(path)
            embed = _with_threads(encoder, self.threads)
            served = ServedModel(encoder, EmbeddingBatcher(embed, limits=self.limits, name=model_id))
            with self._lock:
                self._entries[model_id] = served
                self._loading.pop(model_id, None)
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)  # its worker thread ends after an idle spell
        return served


def _with_threads(encoder: Encoder, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """``encoder.embed`` using ``threads`` CPU threads in the calling (worker) thread.

    Concurrent requests already run in parallel (decoding in their own threads, one worker per model), and
    on a small or shared CPU spreading one small batch over every core costs more in synchronization than it
    saves: on two busy cores, four 16 px images took 12 ms of CPU with torch's default two threads and 0.5 ms
    with one. torch keeps the count per thread (and makes it the default for threads started later).
    """

    def embed(images: np.ndarray) -> np.ndarray:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return encoder.embed(images)

    return embed


def decode_base64_image(text: str) -> bytes:
    """Accept plain base64 or a ``data:image/...;base64,`` URL."""
    payload = text.split(DATA_URL_MARK, 1)[1] if text.startswith("data:") and DATA_URL_MARK in text else text
    return base64.b64decode(payload, validate=True)


def images_from_base64(inputs: Sequence[str], *, field: str) -> list[bytes]:
    blobs = []
    for index, text in enumerate(inputs):
        try:
            blobs.append(decode_base64_image(text.strip()))
        except (binascii.Error, ValueError):
            raise FieldErrors([(("body", field, index), "not valid base64 or a base64 data URL")]) from None
    return blobs


def canonical_images(blobs: Sequence[bytes], *, image_size: int, field: str, max_pixels: int) -> np.ndarray:
    """Decode every input as at ingest, naming the first one that fails: (B, S, S, 3) uint8."""
    arrays = []
    for index, blob in enumerate(blobs):
        try:
            arrays.append(decode_image(blob, image_size, max_pixels=max_pixels))
        except InvalidImageError as exc:
            raise FieldErrors([(("body", field, index), str(exc))]) from None
    return np.stack(arrays)


def prepare_images(
    cache: EncoderCache, *, model_id: str, path: Path, blobs: Sequence[bytes], field: str, max_pixels: int
) -> tuple[EmbeddingBatcher, np.ndarray]:
    """In the request's own thread: load the model (once), refuse at once if its queue is full (so a
    saturated server wastes no decoding), then decode the inputs as at ingest: (B, S, S, 3) uint8."""
    served = cache.get(model_id, path)
    served.batcher.check_room(len(blobs))
    images = canonical_images(blobs, image_size=served.encoder.image_size, field=field, max_pixels=max_pixels)
    return served.batcher, images


async def embed_batched(batcher: EmbeddingBatcher, images: np.ndarray) -> np.ndarray:
    """(B, S, S, 3) -> (B, D), run in a batch with concurrent requests; raises Saturated if the queue is full."""
    return await asyncio.wrap_future(batcher.submit(images))
