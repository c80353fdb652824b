"""A trained encoder, loaded from its file alone, that turns raw inputs into unit vectors.

One class serves every modality. What a model accepts follows from its modality: images for image models,
text (strings or token ids) for text models, rows (JSON-like dicts) for table models, and both images and text
for image-text models, whose two towers embed into one space. Inputs are prepared exactly as at training
time, from the assets saved with the encoder (a tokenizer, a table schema).
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from selfsup.augment import to_float_images
from selfsup.data.images import decode_image
from selfsup.encoders import encoder_from_spec
from selfsup.methods import get_method
from selfsup.train.checkpoint import CHECKPOINT_FORMAT, ENCODER_FORMAT, load_payload
from selfsup.train.export import head_from_payload, linear_head
from selfsup.whitening import Whitening

INPUT_KINDS = {"image": ("image",), "text": ("text",), "tabular": ("row",), "image_text": ("image", "text")}


class Encoder:
    """Pooled features of a trained network, through the method's embedding head if it has one (a VAE's mean,
    say), then its whitening if the method serves one (see :mod:`selfsup.whitening`), L2-normalized, float32."""

    def __init__(
        self,
        network: nn.Module,
        *,
        method: str,
        modality: str = "image",
        head: nn.Linear | None = None,
        assets: dict[str, Any] | None = None,
        whitening: Whitening | None = None,
        device: str | None = None,
    ) -> None:
        if modality not in INPUT_KINDS:
            raise ValueError(f"unknown modality {modality!r}")
        self.device = torch.device(device or "cpu")
        self.backbone: Any = network.to(self.device).eval()
        self.head = head.to(self.device).eval() if head is not None else None
        self.whitening = whitening.to(self.device) if whitening is not None else None
        self.method = method
        self.modality = modality
        self.assets = assets or {}
        self._text: Any = None  # TextPreprocessor, built on first use
        self._rows: Any = None  # RowPreprocessor, built on first use
        # What the forward pass computes in: float32, or a half precision under autocast (selfsup.precision
        # chooses it for serving, where the vectors keep their fp32 direction). Vectors are float32 either way.
        self.precision: torch.dtype = torch.float32

    @property
    def input_kinds(self) -> tuple[str, ...]:
        """What :meth:`embed_batch` takes for this model: some of "image", "text", "row"."""
        return INPUT_KINDS[self.modality]

    @property
    def dim(self) -> int:
        return self.head.out_features if self.head is not None else int(self.backbone.dim)

    @property
    def image_size(self) -> int:
        spec = self.backbone.spec
        image_spec = spec.image if self.modality == "image_text" else spec
        return int(image_spec.image_size)

    def to(self, device: torch.device | str) -> "Encoder":
        """Move the network (and head) to ``device``; returns self."""
        self.device = torch.device(device)
        self.backbone.to(self.device)
        if self.head is not None:
            self.head.to(self.device)
        if self.whitening is not None:
            self.whitening.to(self.device)
        return self

    @classmethod
    def load(cls, path: Path | str, *, device: str | None = None) -> "Encoder":
        """Load from an exported encoder file or from a full training checkpoint (which serves unwhitened: the
        whitening is fitted at export)."""
        payload = load_payload(Path(path), (ENCODER_FORMAT, CHECKPOINT_FORMAT))
        if payload["format"] == CHECKPOINT_FORMAT:
            network, head = _from_checkpoint(payload)
            modality = str(payload["data"].get("modality", "image"))
        else:
            network, head = _from_export(payload)
            modality = str(payload.get("modality", "image"))
        assets = payload.get("assets", {})
        whitening = Whitening.from_payload(payload["whitening"]) if "whitening" in payload else None
        return cls(
            network,
            method=str(payload["method"]),
            modality=modality,
            head=head,
            assets=assets,
            whitening=whitening,
            device=device,
        )

    @torch.inference_mode()
    def embed(self, images: np.ndarray, *, batch_size: int = 128) -> np.ndarray:
        """(B, S, S, 3) uint8 canonical images -> (B, D) float32 unit vectors."""
        self._require("image")
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ValueError(f"expected (B, {self.image_size}, {self.image_size}, 3) images, got {images.shape}")
        chunks = []
        for start in range(0, len(images), batch_size):
            batch = torch.tensor(images[start : start + batch_size], device=self.device)  # copies: may be read-only
            chunks.append(self._vectors(to_float_images(batch), "image"))
        return self._stack(chunks)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) floats in [0, 1] on :attr:`device` -> (B, D) features, not normalized, on the device.

        What a distillation teacher gives its student: the served vector before its L2 normalization, under the
        caller's grad mode and autocast. Any size the network takes is accepted; :meth:`embed` insists on the
        trained one.
        """
        self._require("image")
        return self._features(images, "image")

    def embed_encoded(self, blobs: Sequence[bytes]) -> np.ndarray:
        """Encoded image files (PNG, JPEG, ...) -> (B, D), prepared exactly as at ingest."""
        return self.embed(np.stack([decode_image(blob, self.image_size) for blob in blobs]))

    def prepare_texts(self, texts: Sequence[str]) -> Any:
        """Strings -> a ``TokenBatch``, tokenized and cut exactly as the training corpus was."""
        self._require("text")
        return self.text_preprocessor.encode(list(texts))

    def prepare_token_ids(self, ids: Sequence[Sequence[int]]) -> Any:
        """A client's own token ids (content tokens of this model's vocabulary) -> a ``TokenBatch``, framed and
        cut as text is. Raises ValueError naming an id outside the vocabulary."""
        self._require("text")
        return self.text_preprocessor.from_ids(ids)

    @torch.inference_mode()
    def embed_tokens(self, batch: Any, *, batch_size: int = 128) -> np.ndarray:
        """A ``TokenBatch`` (from :meth:`prepare_texts` or :meth:`prepare_token_ids`) -> (B, D) unit vectors."""
        self._require("text")
        chunks = []
        for start in range(0, len(batch), batch_size):
            rows = slice(start, start + batch_size)
            chunk = type(batch)(batch.input_ids[rows], batch.attention_mask[rows])  # (b, L)
            chunks.append(self._vectors(chunk.to(self.device), "text"))
        return self._stack(chunks)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_tokens(self.prepare_texts(texts))

    def prepare_rows(self, rows: Sequence[Any]) -> Any:
        """Table rows keyed by column name -> a ``TableBatch``; a missing column is imputed as in training.

        Raises ``InvalidRowError`` (see :mod:`selfsup.tabular`) naming the row and column of a bad value."""
        self._require("row")
        return self.row_preprocessor.encode(list(rows))

    @torch.inference_mode()
    def embed_table(self, batch: Any) -> np.ndarray:
        """A ``TableBatch`` (from :meth:`prepare_rows`) -> (B, D) unit vectors."""
        self._require("row")
        return self._stack([self._vectors(batch.to(self.device), "row")])

    def embed_rows(self, rows: Sequence[Any]) -> np.ndarray:
        return self.embed_table(self.prepare_rows(rows))

    @property
    def text_preprocessor(self) -> Any:
        if self._text is None:
            from selfsup.text.preprocess import TextPreprocessor

            self._text = TextPreprocessor.from_assets(self.assets)
        return self._text

    @property
    def row_preprocessor(self) -> Any:
        if self._rows is None:
            from selfsup.tabular.rows import RowPreprocessor

            self._rows = RowPreprocessor.from_assets(self.assets)
        return self._rows

    def _features(self, batch: Any, kind: str) -> torch.Tensor:
        with self._autocast():
            return self._forward(batch, kind)

    def _autocast(self) -> AbstractContextManager[object]:
        # fp32 leaves the caller's own autocast in force (a distillation teacher runs under the student's).
        if self.precision == torch.float32:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.precision)

    def _forward(self, batch: Any, kind: str) -> torch.Tensor:
        if self.modality == "image_text":
            features = self.backbone.encode_image(batch) if kind == "image" else self.backbone.encode_text(batch)
        else:
            features = self.backbone(batch)  # (b, encoder dim)
        return self.head(features) if self.head is not None else features  # (b, D)

    def _vectors(self, batch: Any, kind: str) -> torch.Tensor:
        features = self._features(batch, kind).float()  # (b, D)
        if self.whitening is not None:  # in float32, outside autocast: the matrix amplifies rounding
            features = self.whitening(features)
        return torch.nn.functional.normalize(features, dim=1).cpu()

    def _stack(self, chunks: list[torch.Tensor]) -> np.ndarray:
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, self.dim), np.float32)

    def _require(self, kind: str) -> None:
        if kind not in self.input_kinds:
            accepted = " and ".join(f"{k}s" for k in self.input_kinds)
            raise ValueError(f"this {self.modality} model embeds {accepted}, not {kind}s")


def _from_export(payload: dict[str, Any]) -> tuple[nn.Module, nn.Linear | None]:
    network = encoder_from_spec(payload["backbone"])
    network.load_state_dict(payload["state_dict"])
    return network, head_from_payload(payload["head"]) if "head" in payload else None


def _from_checkpoint(payload: dict[str, Any]) -> tuple[nn.Module, nn.Linear | None]:
    """Rebuild the whole method from its registry name and params, so its embedding head comes back too."""
    spec = get_method(payload["method"])
    model = spec.method_cls(spec.validate(payload["params"]), encoder_from_spec(payload["backbone"]))
    model.load_state_dict(payload["model"])
    return model.backbone, linear_head(model.embedding_head())
