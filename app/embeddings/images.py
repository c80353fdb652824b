"""Images sent to be embedded: base64 in, canonical arrays out, within budgets that follow the model.

An encoded image is cheap to send and dear to decode (a 6300x6300 PNG of one colour is a few kilobytes and
120 MB decoded), and a model never needs more than its input side: so each image is held to a size relative to
the model's input, each request to a total of decoded pixels, and the API as a whole to the pixels being
decoded at once (:class:`~app.embeddings.admission.PixelGate`). Sizes come from the files' headers, before
any pixel is decoded.
"""

import base64
import binascii
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
from PIL import Image

from app.core.config import Settings
from app.core.errors import FieldErrors, PayloadTooLarge
from app.embeddings.admission import PixelGate
from selfsup.data.images import decode_opened, open_image
from selfsup.errors import InvalidImageError

DATA_URL_MARK = ";base64,"


@dataclass(frozen=True)
class ImageBudget:
    max_pixels: int  # any image, whatever the model (the decompression-bomb guard)
    scale: int  # an image may have at most (scale x the model's input side)^2 pixels
    max_request_pixels: int  # all the images of one request together
    decoding: PixelGate  # all the requests being prepared at once

    @classmethod
    def from_settings(cls, settings: Settings) -> "ImageBudget":
        return cls(
            max_pixels=settings.max_image_pixels,
            scale=settings.embed_image_scale,
            max_request_pixels=settings.embed_max_request_pixels,
            decoding=PixelGate(settings.embed_max_decoding_pixels),
        )

    def per_image(self, image_size: int) -> int:
        return min(self.max_pixels, (self.scale * image_size) ** 2)


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


def canonical_images(blobs: Sequence[bytes], *, image_size: int, field: str, budget: ImageBudget) -> np.ndarray:
    """Decode every input as at ingest, naming the first one that fails: (B, S, S, 3) uint8.

    Each file is parsed twice, as at ingest: once from its header, the size the budgets are checked on, and then
    the same opened image verified; once more to decode it (Pillow cannot decode an image after verify).
    Raises FieldErrors (422) for an image over its own limit, PayloadTooLarge (413) for a request over its
    total, and Saturated (503) when the API is already decoding as much as it may."""
    limit = budget.per_image(image_size)
    with ExitStack() as opened:
        probes = [opened.enter_context(_opened(blob, index, field)) for index, blob in enumerate(blobs)]
        pixels = sum(_checked_pixels(probe, index, field=field, limit=limit) for index, probe in enumerate(probes))
        if pixels > budget.max_request_pixels:
            raise PayloadTooLarge(
                f"{field}: the images hold {pixels} pixels in all, over the limit of {budget.max_request_pixels} "
                "per request; send fewer or smaller images"
            )
        with budget.decoding.reserve(pixels):
            decoded = [
                _decoded(probe, blob, index, image_size, field)
                for index, (probe, blob) in enumerate(zip(probes, blobs, strict=True))
            ]
            return np.stack(decoded)


def _opened(blob: bytes, index: int, field: str) -> Image.Image:
    try:
        return open_image(blob)
    except InvalidImageError as exc:
        raise FieldErrors([(("body", field, index), str(exc))]) from None


def _checked_pixels(probe: Image.Image, index: int, *, field: str, limit: int) -> int:
    width, height = probe.size
    if width * height > limit:
        message = (
            f"image is {width}x{height} pixels, over this model's limit of {limit} pixels "
            f"(it reads images at a fraction of that); downscale it first"
        )
        raise FieldErrors([(("body", field, index), message)])
    return width * height


def _decoded(probe: Image.Image, blob: bytes, index: int, image_size: int, field: str) -> np.ndarray:
    try:
        return decode_opened(probe, blob, image_size)
    except InvalidImageError as exc:
        raise FieldErrors([(("body", field, index), str(exc))]) from None
