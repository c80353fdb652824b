"""Loading encoders lazily (LRU cache) and turning client inputs into embeddings."""

import base64
import binascii
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.core.errors import FieldErrors
from selfsup.data.images import decode_image
from selfsup.encoder import Encoder
from selfsup.errors import InvalidImageError

DATA_URL_MARK = ";base64,"


class EncoderCache:
    """Keeps the most recently used encoders in memory; one lock per encoder serializes its inference."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[Encoder, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_id: str, path: Path) -> tuple[Encoder, threading.Lock]:
        with self._lock:
            if model_id in self._entries:
                self._entries.move_to_end(model_id)
                return self._entries[model_id]
        entry = (Encoder.load(path), threading.Lock())  # load outside the lock: it can take a while
        with self._lock:
            entry = self._entries.setdefault(model_id, entry)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return entry


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


def embed_images(
    cache: EncoderCache, *, model_id: str, path: Path, blobs: Sequence[bytes], field: str, max_pixels: int
) -> np.ndarray:
    encoder, lock = cache.get(model_id, path)
    images = canonical_images(blobs, image_size=encoder.image_size, field=field, max_pixels=max_pixels)
    with lock:
        return encoder.embed(images)
