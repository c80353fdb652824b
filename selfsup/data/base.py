"""The contract between a modality's canonical data and the training loop.

Every modality (images, text, tables, image-text pairs) stores its data once, at ingest, in a canonical
training-ready form, and wraps it in a :class:`TrainingData`. The loop only ever asks it for the batch at
some item indices; methods and encoders of that modality know what the batch holds.
"""

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn


class TrainingData(ABC):
    """N items of one modality in canonical form, and what it takes to build an encoder for them."""

    modality: ClassVar[str]

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def batch(self, indices: np.ndarray, device: torch.device) -> Any:
        """The model input for the items at ``indices`` (sorted int64), on ``device``: what ``make_views``
        and ``embed`` of this modality's methods take."""

    @abstractmethod
    def create_encoder(self, params: Any) -> nn.Module:
        """A randomly initialized encoder (see :mod:`selfsup.encoders`) shaped for this data and ``params``."""

    @abstractmethod
    def probe_view(self, batch: Any) -> Any:
        """One fixed, method-independent augmentation of a batch, for the label-free alignment and
        uniformity metrics (so those numbers compare across methods)."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts a checkpoint records to recognize the same data on resume."""
        return {"modality": self.modality, "num_items": len(self)}

    def serving_assets(self) -> dict[str, Any]:
        """JSON-ready, what serving needs to turn raw inputs into batches (a tokenizer, a table schema)."""
        return {}
