"""A small real image set (scikit-learn's bundled digits) written out as PNG files and archives."""

import gzip
import io
import tarfile
import zipfile
from functools import lru_cache

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


@lru_cache
def digit_pngs(count: int = 300) -> list[tuple[str, bytes]]:
    """``count`` digits as (``"<label>/digit_<i>.png"``, PNG bytes), 8x8 grayscale upscaled to 24x24."""
    digits = load_digits()
    files = []
    for index in range(count):
        pixels = np.round(digits.images[index] * (255 / 16)).astype(np.uint8)
        image = Image.fromarray(pixels, mode="L").resize((24, 24), Image.Resampling.NEAREST)
        files.append((f"{digits.target[index]}/digit_{index:04d}.png", png_bytes(image)))
    return files


def png_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


# Archives carry no clock: a test parametrized with one is collected by every xdist worker, and the workers must
# build the same bytes (a zip member's time or a gzip header's, a second apart, made them differ).
FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def zip_bytes(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def tar_bytes(files: list[tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    gzipped = mode == "w:gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w" if gzipped else mode) as archive:  # type: ignore[call-overload]
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0) if gzipped else buffer.getvalue()


def digits_zip(count: int = 300) -> bytes:
    return zip_bytes(digit_pngs(count))


def photo_jpeg(seed: int, width: int = 320, height: int = 240) -> bytes:
    """A camera-sized JPEG with photo-like content (smooth gradients, edges and grain), for decoding tests."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([np.sin(x / rng.uniform(20, 80) + c) * np.cos(y / rng.uniform(20, 80)) for c in range(3)], -1)
    pixels = (base * 80 + 128 + rng.normal(0, 12, (height, width, 3))).clip(0, 255).astype(np.uint8)
    return png_bytes(Image.fromarray(pixels), fmt="JPEG")


def large_gradient_png(seed: int, side: int = 1024) -> bytes:
    """A large PNG that is small on the wire (a smooth gradient deflates to about 20 KB) but costs about 10 ms of
    CPU to decode whatever size it is decoded to: PNG has no reduced-resolution decode, as JPEG's draft has."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    tilt = np.random.default_rng(seed).uniform(0.2, 1.0, 3)
    pixels = np.stack([(x * tilt[0] + y * (1 - tilt[0])), x * tilt[1], y * tilt[2]], -1) * 255
    return png_bytes(Image.fromarray(pixels.astype(np.uint8)))
