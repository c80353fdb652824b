"""Canonical images: decoding every accepted format, refusing bad bytes, and the memory-mapped array."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from selfsup.data.images import (
    EXTENSION_FORMATS,
    IMAGE_EXTENSIONS,
    canonical_image,
    create_image_array,
    decode_image,
    load_image_array,
)
from selfsup.errors import InvalidImageError


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture
def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), mode="RGB")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP"])
def test_each_format_decodes_to_the_canonical_form(photo: Image.Image, fmt: str) -> None:
    decoded = decode_image(_encode(photo, fmt), 16)
    assert decoded.shape == (16, 16, 3) and decoded.dtype == np.uint8
    assert {".png", ".jpg", ".jpeg", ".webp", ".bmp"} == IMAGE_EXTENSIONS


@pytest.mark.parametrize("fmt", ["PNG", "BMP"])
def test_lossless_formats_decode_exactly_as_at_ingest(photo: Image.Image, fmt: str) -> None:
    np.testing.assert_array_equal(decode_image(_encode(photo, fmt), 16), canonical_image(photo, 16))


def test_grayscale_and_palette_images_become_rgb(photo: Image.Image) -> None:
    for image in (photo.convert("L"), photo.convert("P")):
        decoded = decode_image(_encode(image, "PNG"), 8)
        assert decoded.shape == (8, 8, 3)
    gray = decode_image(_encode(photo.convert("L"), "PNG"), 8)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


def test_alpha_is_flattened_onto_white() -> None:
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, fully transparent on the left half ...
    rgba[:, 10:] = (0, 0, 0, 128)  # ... half-transparent black on the right half
    decoded = decode_image(_encode(Image.fromarray(rgba, mode="RGBA"), "PNG"), 20)
    assert (decoded[:, :8] == 255).all()  # transparent: pure white, not red and not black
    assert np.abs(decoded[:, 12:].astype(int) - 127).max() <= 1  # half black over white: mid gray


def test_exif_orientation_is_applied() -> None:
    stored = np.full((20, 40, 3), 255, dtype=np.uint8)
    stored[:, :20] = 0  # stored: black left half, white right half, 40 wide x 20 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": the left half becomes the top half
    data = _encode(Image.fromarray(stored), "JPEG", exif=exif.tobytes(), quality=95)
    decoded = decode_image(data, 16).mean(axis=2)
    assert decoded[2, 2] < 64 and decoded[2, 13] < 64  # top is black
    assert decoded[13, 2] > 192 and decoded[13, 13] > 192  # bottom is white


def test_non_square_images_are_centre_cropped() -> None:
    stored = np.zeros((10, 30, 3), dtype=np.uint8)
    stored[:, 10:20] = 255  # only the middle third is white
    decoded = decode_image(_encode(Image.fromarray(stored), "PNG"), 10)
    assert (decoded == 255).all()


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty"), (b"this is not an image at all", "image"), (b"\x89PNG\r\n\x1a\n", "image")],
)
def test_bad_bytes_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidImageError, match=reason):
        decode_image(data, 16)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_refused(photo: Image.Image, fmt: str) -> None:
    data = _encode(photo.resize((200, 150)), fmt)
    with pytest.raises(InvalidImageError):
        decode_image(data[: len(data) // 2], 16)


def test_invalid_image_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        decode_image(b"garbage", 16)


def test_images_over_the_pixel_limit_are_refused(photo: Image.Image) -> None:
    data = _encode(photo, "PNG")  # 40 x 30 = 1200 pixels
    assert decode_image(data, 8, max_pixels=1200).shape == (8, 8, 3)
    with pytest.raises(InvalidImageError, match="over the limit of 1199"):
        decode_image(data, 8, max_pixels=1199)


def test_image_array_round_trip(tmp_path: Path, digits: np.ndarray) -> None:
    path = tmp_path / "images.npy"
    array = create_image_array(path, 5, 32)
    assert array.shape == (5, 32, 32, 3) and array.dtype == np.uint8
    array[:] = digits[:5]
    array.flush()
    del array
    loaded = load_image_array(path)
    np.testing.assert_array_equal(loaded, digits[:5])
    assert isinstance(loaded, np.memmap) and not loaded.flags.writeable


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 8, 9, 3), dtype=np.uint8),  # not square
        np.zeros((4, 8, 8, 4), dtype=np.uint8),  # not RGB
        np.zeros((4, 8, 8), dtype=np.uint8),  # no channel axis
        np.zeros((4, 8, 8, 3), dtype=np.float32),  # not uint8
    ],
)
def test_load_image_array_rejects_other_arrays(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match="not a canonical image array"):
        load_image_array(path)


@pytest.mark.parametrize(
    ("fmt", "expected", "actual"),
    [("PNG", "JPEG", "PNG"), ("JPEG", "PNG", "JPEG"), ("BMP", "WEBP", "BMP"), ("WEBP", "PNG", "WEBP")],
)
def test_content_of_another_format_than_expected_is_refused(
    photo: Image.Image, fmt: str, expected: str, actual: str
) -> None:
    data = _encode(photo, fmt)
    with pytest.raises(InvalidImageError, match=f"the content is a {actual} image, but the name says {expected}"):
        decode_image(data, 8, expected_format=expected)


@pytest.mark.parametrize(("extension", "fmt"), [(".png", "PNG"), (".jpg", "JPEG"), (".jpeg", "JPEG"), (".bmp", "BMP")])
def test_content_matching_its_extension_decodes(photo: Image.Image, extension: str, fmt: str) -> None:
    decoded = decode_image(_encode(photo, fmt), 8, expected_format=EXTENSION_FORMATS[extension])
    assert decoded.shape == (8, 8, 3)


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "ICO"])
def test_formats_outside_the_accepted_four_are_not_decoded(photo: Image.Image, fmt: str) -> None:
    with pytest.raises(InvalidImageError, match="not a recognized image format"):
        decode_image(_encode(photo, fmt), 8)
