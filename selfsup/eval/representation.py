"""The label-free check the Trainer runs after every epoch: :mod:`selfsup.eval.metrics` on a fixed probe set."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from selfsup.data.base import TrainingData
from selfsup.data.image_data import as_training_data
from selfsup.errors import SelfSupError
from selfsup.eval.metrics import alignment, embedding_std, mean_cosine, participation_ratio, rankme, uniformity
from selfsup.methods.base import SSLMethod
from selfsup.whitening import Whitening

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


def embed_items(
    model: SSLMethod,
    data: TrainingData,
    indices: np.ndarray,
    *,
    device: torch.device,
    transform: Callable[[Any], Any] | None = None,
) -> torch.Tensor:
    """The items of ``data`` at ``indices`` -> (N, D) float32 embeddings on the CPU via ``model.embed``, in
    batches. Call it inside :func:`evaluating`. ``transform`` maps each batch first (an augmentation).
    """
    chunks = []
    for start in range(0, len(indices), EVAL_BATCH):
        batch = data.batch(indices[start : start + EVAL_BATCH], device)
        if transform is not None:
            batch = transform(batch)
        chunks.append(model.embed(batch).float().cpu())  # (b, D)
    return torch.cat(chunks)


def embedder(
    model: SSLMethod, data: TrainingData, device: torch.device, *, whitening: Whitening | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """``model.embed`` (then ``whitening``, as the model serves it, if given) as a function of item indices to
    (N, D) float32 numpy, in eval mode: for the probes."""

    def embed(indices: np.ndarray) -> np.ndarray:
        with evaluating(model):
            features = embed_items(model, data, np.asarray(indices), device=device)
            return (whitening(features) if whitening is not None else features).numpy()

    return embed


class RepresentationProbe:
    """A fixed subset of a dataset and a fixed augmentation on which to measure a model's embeddings.

    The ``size`` items (at most all of them) are drawn once by a permutation seeded with ``seed``. The
    augmentation is the data's :meth:`~selfsup.data.base.TrainingData.probe_view` (for images SimCLR's
    default view) whatever method is being trained, so alignment and uniformity compare across methods. An
    evaluation costs three forward passes over the items and O(size^2) memory for uniformity: keep ``size``
    in the hundreds or low thousands.
    """

    def __init__(self, data: TrainingData | np.ndarray, *, size: int = DEFAULT_PROBE_SIZE, seed: int = 0) -> None:
        data = as_training_data(data)
        count = min(size, len(data))
        if count < 2:
            raise ValueError(f"a representation probe needs at least 2 items, got {count}")
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).numpy()
        self.indices = np.sort(order[:count])  # sorted: reads a memory map front to back
        self.data = data

    def __len__(self) -> int:
        return len(self.indices)

    def evaluate(self, model: SSLMethod, device: torch.device) -> dict[str, float]:
        """``rankme``, ``embedding_std``, ``mean_cosine`` and ``participation_ratio`` of the probe items'
        embeddings; ``alignment`` between two views of each, and ``uniformity`` of the views (the mean over both,
        as in Wang & Isola's code)."""
        with evaluating(model):
            torch.manual_seed(VIEW_SEED)
            plain = embed_items(model, self.data, self.indices, device=device)  # (P, D)
            view = self.data.probe_view
            view1 = embed_items(model, self.data, self.indices, device=device, transform=view)
            view2 = embed_items(model, self.data, self.indices, device=device, transform=view)
        if not all(torch.isfinite(z).all() for z in (plain, view1, view2)):
            raise NonFiniteEmbeddings("the encoder produces NaN or infinite embeddings; try a lower lr")
        return {
            "rankme": rankme(plain),
            "alignment": alignment(view1, view2),
            "uniformity": (uniformity(view1) + uniformity(view2)) / 2,
            "embedding_std": embedding_std(plain),
            "mean_cosine": mean_cosine(plain),
            "participation_ratio": participation_ratio(plain),
        }
