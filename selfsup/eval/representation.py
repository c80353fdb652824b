"""The label-free check the Trainer runs after every epoch: :mod:`selfsup.eval.metrics` on a fixed probe set."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from selfsup.augment import simclr_view, to_float_images
from selfsup.errors import SelfSupError
from selfsup.eval.metrics import alignment, embedding_std, rankme, uniformity
from selfsup.methods.base import SSLMethod

DEFAULT_PROBE_SIZE = 512
EVAL_BATCH = 256
VIEW_SEED = 0  # the evaluation views are the same draw at every epoch, so the numbers move with the model only


class NonFiniteEmbeddings(SelfSupError):
    """The encoder, in eval mode, produced NaN or infinite embeddings: what it would serve is unusable."""


@contextmanager
def evaluating(model: SSLMethod) -> Iterator[SSLMethod]:
    """Eval mode, no gradients and a forked RNG for the duration; the caller's mode and RNG stream come back.

    Every device's generator is forked and restored (CPU and all CUDA devices), so an evaluation that draws
    random numbers leaves a training run's random stream, and hence its resume equality, untouched.
    """
    was_training = model.training
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    model.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            yield model
    finally:
        model.train(was_training)


def embed_images(
    model: SSLMethod,
    images: np.ndarray,
    *,
    device: torch.device,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, D) float32 embeddings on the CPU via ``model.embed``, in batches.

    Call it inside :func:`evaluating`. ``transform`` maps each (b, 3, S, S) float batch first (an augmentation).
    """
    chunks = []
    for start in range(0, len(images), EVAL_BATCH):
        batch = to_float_images(torch.tensor(images[start : start + EVAL_BATCH], device=device))  # copies
        if transform is not None:
            batch = transform(batch)
        chunks.append(model.embed(batch).float().cpu())  # (b, D)
    return torch.cat(chunks)


def embedder(model: SSLMethod, device: torch.device) -> Callable[[np.ndarray], np.ndarray]:
    """``model.embed`` as a function of uint8 images to (N, D) float32 numpy, in eval mode: for the probes."""

    def embed(images: np.ndarray) -> np.ndarray:
        with evaluating(model):
            return embed_images(model, images, device=device).numpy()

    return embed


class RepresentationProbe:
    """A fixed subset of a dataset and a fixed augmentation on which to measure a model's embeddings.

    The ``size`` items (at most all of them) are drawn once by a permutation seeded with ``seed``. The
    augmentation is SimCLR's default view (crop from 8% of the area, colour distortion at strength 0.5),
    whatever method is being trained, so alignment and uniformity compare across methods. An evaluation
    costs three forward passes over the items and O(size^2) memory for uniformity: keep ``size`` in the
    hundreds or low thousands.
    """

    def __init__(self, images: np.ndarray, *, size: int = DEFAULT_PROBE_SIZE, seed: int = 0) -> None:
        count = min(size, len(images))
        if count < 2:
            raise ValueError(f"a representation probe needs at least 2 items, got {count}")
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed)).numpy()
        self.indices = np.sort(order[:count])  # sorted: reads a memory map front to back
        self.images = images  # (N, S, S, 3) uint8, possibly memory-mapped; read at each evaluation
        self.view = simclr_view(int(images.shape[1]))

    def __len__(self) -> int:
        return len(self.indices)

    def evaluate(self, model: SSLMethod, device: torch.device) -> dict[str, float]:
        """``rankme`` and ``embedding_std`` of the probe items' embeddings; ``alignment`` between two views
        of each, and ``uniformity`` of the views (the mean over both, as in Wang & Isola's code)."""
        images = self.images[self.indices]
        with evaluating(model):
            torch.manual_seed(VIEW_SEED)
            plain = embed_images(model, images, device=device)  # (P, D)
            view1 = embed_images(model, images, device=device, transform=self.view)
            view2 = embed_images(model, images, device=device, transform=self.view)
        if not all(torch.isfinite(z).all() for z in (plain, view1, view2)):
            raise NonFiniteEmbeddings("the encoder produces NaN or infinite embeddings; try a lower lr")
        return {
            "rankme": rankme(plain),
            "alignment": alignment(view1, view2),
            "uniformity": (uniformity(view1) + uniformity(view2)) / 2,
            "embedding_std": embedding_std(plain),
        }
