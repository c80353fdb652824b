"""The contract between a modality's canonical data and the training loop.

Every modality (images, text, tables, image-text pairs) stores its data once, at ingest, in a canonical
training-ready form, and wraps it in a :class:`TrainingData`. The loop only ever asks it for the batch at
some item indices; methods and encoders of that modality know what the batch holds.

A batch is made in two stages so that the loop can read ahead: :meth:`TrainingData.gather` reads the items out of
the arrays (on the loop's loader thread, batches ahead of the step), and :meth:`TrainingData.assemble` turns them,
once on the device, into the model input (on the training thread, in step order).
"""

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from selfsup.data.placement import to_device


class TrainingData(ABC):
    """N items of one modality in canonical form, and what it takes to build an encoder for them."""

    modality: ClassVar[str]

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def gather(self, indices: np.ndarray) -> Any:
        """The items at ``indices`` (sorted int64) read out of the arrays: tensors (alone, in a tuple or in a
        dataclass) wherever the arrays live, normally host memory.

        The loop calls it on its loader thread, while the training thread runs earlier steps: it must read only
        the data's own arrays and leave the global RNG alone (a random choice belongs in :meth:`assemble`)."""

    def assemble(self, gathered: Any, device: torch.device) -> Any:
        """The model input from what :meth:`gather` read, its tensors now on ``device``: what ``make_views`` and
        ``embed`` of this modality's methods take. Runs on the training thread, in step order, so a random draw
        here is part of the run's seeded RNG stream (and a resumed run draws the same)."""
        return gathered

    def batch(self, indices: np.ndarray, device: torch.device) -> Any:
        """The model input for the items at ``indices``, on ``device``, in one go (what the probe reads)."""
        return self.assemble(to_device(self.gather(indices), device, non_blocking=True), device)

    def keep_on(self, device: torch.device, budget_bytes: int) -> bool:
        """Hold the arrays on ``device`` from now on if they fit ``budget_bytes`` there, so that :meth:`gather`
        reads there and no batch is copied; whether it did. By default the data stays where it is."""
        return False

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
