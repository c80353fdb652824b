"""Shared fixtures: a tiny but real image set (scikit-learn's bundled handwritten digits)."""

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from selfsup.data.images import canonical_image


def _canonical_digits(size: int) -> np.ndarray:
    raw = load_digits().images  # (1797, 8, 8) floats in [0, 16]
    gray = np.round(raw * (255 / 16)).astype(np.uint8)
    return np.stack([canonical_image(Image.fromarray(image, mode="L"), size) for image in gray])


@pytest.fixture(scope="session")
def digits() -> np.ndarray:
    """(1797, 32, 32, 3) uint8 RGB, read-only so that no test can change what the others see."""
    images = _canonical_digits(32)
    images.setflags(write=False)
    return images


@pytest.fixture(scope="session")
def digits16() -> np.ndarray:
    """(1797, 16, 16, 3) uint8 RGB: the fastest size to train on."""
    images = _canonical_digits(16)
    images.setflags(write=False)
    return images
