"""Decoding many images into one array: the process pool gives exactly what decoding one by one gives."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from selfsup.data.decoding import MIN_PARALLEL_ITEMS, ParallelDecoder
from selfsup.data.images import decode_image, load_image_array
from selfsup.errors import ItemDecodeError
from tests.support.images import digit_pngs, photo_jpeg


def decode_all(path: Path, blobs: list[bytes], *, size: int, parallel: bool) -> np.ndarray:
    with ParallelDecoder(path, count=len(blobs), size=size, parallel=parallel) as decoder:
        assert (decoder.pool is not None) == parallel
        for index in reversed(range(len(blobs))):  # any order: each item lands in its own row
            decoder.submit(index, blobs[index], "PNG")
    return np.array(load_image_array(path))


def test_the_pool_fills_the_same_array_as_one_process(tmp_path: Path) -> None:
    blobs = [data for _, data in digit_pngs(MIN_PARALLEL_ITEMS)]
    parallel = decode_all(tmp_path / "parallel.npy", blobs, size=16, parallel=True)
    serial = decode_all(tmp_path / "serial.npy", blobs, size=16, parallel=False)
    assert parallel.shape == (MIN_PARALLEL_ITEMS, 16, 16, 3)
    np.testing.assert_array_equal(parallel, serial)
    np.testing.assert_array_equal(parallel[7], decode_image(blobs[7], 16))


@pytest.mark.parametrize("parallel", [False, True])
def test_an_undecodable_item_is_named_by_its_index(tmp_path: Path, parallel: bool) -> None:
    blobs = [data for _, data in digit_pngs(MIN_PARALLEL_ITEMS)]
    blobs[100] = b"\x89PNG\r\n\x1a\n not really"
    with pytest.raises(ItemDecodeError) as caught:
        decode_all(tmp_path / "images.npy", blobs, size=16, parallel=parallel)
    assert caught.value.index == 100 and "not a" in str(caught.value)


def test_a_photo_decodes_at_reduced_scale_to_nearly_the_full_decode(tmp_path: Path) -> None:
    """JPEG draft mode decodes a 640x480 photo at 1/8 scale for a 32 px thumbnail; the result may differ from
    a full decode followed by the same resize only by resampling noise."""
    data = photo_jpeg(0, 640, 480)
    reduced = decode_image(data, 32).astype(np.float32)
    full = np.asarray(ImageOps.fit(Image.open(io.BytesIO(data)).convert("RGB"), (32, 32)))
    assert reduced.shape == (32, 32, 3)
    assert np.abs(reduced - full.astype(np.float32)).mean() < 6, "same picture, up to resampling"
