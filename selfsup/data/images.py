"""Images in their canonical form: square uint8 RGB arrays of one stored size, shape (N, S, S, 3).

Decoding happens once, at ingest; training and serving read these arrays (memory-mapped) and never touch
a JPEG again. Serving reuses :func:`decode_image` so that an image is prepared exactly as in training.
"""

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from selfsup.errors import InvalidImageError

# The formats accepted, by the file extension that names each, and Pillow's name for it.
EXTENSION_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}
IMAGE_EXTENSIONS = frozenset(EXTENSION_FORMATS)
IMAGE_FORMATS = tuple(sorted(set(EXTENSION_FORMATS.values())))  # Pillow tries no other decoder
FORMAT_ALIASES = {"MPO": "JPEG"}  # cameras' multi-picture JPEGs open as MPO
DEFAULT_MAX_PIXELS = 40_000_000  # ~ a 6300x6300 photo; anything larger is refused as a possible bomb


def canonical_image(image: Image.Image, size: int) -> np.ndarray:
    """Orient, flatten alpha onto white, resize the short side to ``size`` and centre-crop: (S, S, 3)."""
    if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:  # else exif_transpose returns a full-size copy
        image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = ImageOps.fit(image.convert("RGB"), (size, size), method=Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


def decode_image(
    data: bytes, size: int, *, max_pixels: int = DEFAULT_MAX_PIXELS, expected_format: str | None = None
) -> np.ndarray:
    """Decode encoded bytes into the canonical (S, S, 3) uint8 form, or raise InvalidImageError.

    ``expected_format`` (Pillow's name, e.g. ``EXTENSION_FORMATS[".jpg"]``) refuses content of another
    format, such as a PNG named ``.jpg``.
    """
    with open_image(data, expected_format=expected_format) as probe:
        _check_pixels(probe, max_pixels)
        return decode_opened(probe, data, size)


def open_image(data: bytes, *, expected_format: str | None = None) -> Image.Image:
    """The image in ``data`` opened from its header alone (no pixel decoded), or InvalidImageError.

    Its ``size`` is what :func:`decode_opened` would decode: check it against a budget first (a 6300x6300 PNG
    is a few kilobytes to send and 120 MB to decode). :func:`decode_image` is both steps with one limit."""
    if not data:
        raise InvalidImageError("empty file")
    with _refused_as_invalid():
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    try:
        _check_format(image, expected_format)
        if image.width < 1 or image.height < 1:
            raise InvalidImageError("image has no pixels")
    except InvalidImageError:
        image.close()
        raise
    return image


def decode_opened(probe: Image.Image, data: bytes, size: int) -> np.ndarray:
    """Check the structure of ``probe`` (:func:`open_image` of ``data``, used up here), then decode ``data``
    into the canonical (S, S, 3) form; InvalidImageError for a damaged file."""
    with _refused_as_invalid():
        probe.verify()  # structural check (chunk checksums, which decoding skips); the image must be reopened
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            _decode_reduced(image, size)
            return canonical_image(image, size)


@contextmanager
def _refused_as_invalid() -> Iterator[None]:
    """Pillow's many ways of refusing a file, and its decompression-bomb warning, as InvalidImageError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except InvalidImageError:
        raise
    except UnidentifiedImageError:
        raise InvalidImageError("not a recognized image format (PNG, JPEG, WebP or BMP expected)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"image is too large to decode safely ({exc})") from None
    except Exception as exc:  # Pillow signals corrupt data with many exception types
        raise InvalidImageError(f"not a readable image ({type(exc).__name__}: {exc})") from None


def _decode_reduced(image: Image.Image, size: int) -> None:
    """Load the pixels, a JPEG at the smallest of 1/1, 1/2, 1/4 or 1/8 scale that keeps both sides at least
    ``size``: JPEG can decode straight from its DCT coefficients at those scales, several times faster than a
    full decode of a photo that is then shrunk to a thumbnail anyway. The crop that follows is the same."""
    if image.format == "JPEG":
        image.draft("RGB", (size, size))
    image.load()


def _check_format(image: Image.Image, expected: str | None) -> None:
    actual = FORMAT_ALIASES.get(image.format or "", image.format)
    if expected is not None and actual != expected:
        raise InvalidImageError(f"the content is a {actual} image, but the name says {expected}")


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise InvalidImageError(f"image is {width}x{height} pixels, over the limit of {max_pixels}")


def create_image_array(path: Path, count: int, size: int) -> np.memmap:
    """A writable memory-mapped (count, S, S, 3) uint8 array saved as .npy, filled in place by ingest."""
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(count, size, size, 3))


def load_image_array(path: Path) -> np.ndarray:
    """Open a canonical image array read-only and memory-mapped, checking its shape and type."""
    array = np.load(path, mmap_mode="r")
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3 or array.shape[1] != array.shape[2]:
        raise ValueError(f"{path} is not a canonical image array: {array.dtype} {array.shape}")
    return array
