"""Image-text pairs in canonical form, and the :class:`~selfsup.data.base.TrainingData` that serves them.

On disk a pair dataset is a folder: ``images.npy`` (N, S, S, 3) uint8 (written by ingest with
:func:`selfsup.data.images.create_image_array`), ``captions.npy`` (M, L) int32 caption token ids,
``caption_image.npy`` (M,) int64, the image of each caption, ``tokenizer.json``, and ``captions.json`` (the
caption texts, kept so that a pretrained text tower's own tokenizer can tokenize them again). Every image has
at least one caption.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from selfsup.augment import random_resized_crop, to_float_images
from selfsup.data.base import TrainingData
from selfsup.data.image_store import HostImages, ImageStore, ResidentImages, place_images
from selfsup.data.images import load_image_array
from selfsup.methods.clip import CLIPParams, ImageTextEncoder, create_image_text_encoder
from selfsup.pairs.batch import PairBatch
from selfsup.text.batch import TokenBatch, delete_tokens
from selfsup.text.tokenizer import frame, load_pretrained_tokenizer, special_tokens, tokenize, truncate_ids

IMAGES_FILE, CAPTIONS_FILE, CAPTION_IMAGE_FILE = "images.npy", "captions.npy", "caption_image.npy"
TOKENIZER_FILE, TEXTS_FILE = "tokenizer.json", "captions.json"
CAPTION_MAX_LENGTH = 77  # CLIP's context length; captions are short
PROBE_MIN_SCALE = 0.6  # the probe view: a light crop ...
PROBE_DELETION = 0.1  # ... and this fraction of caption tokens deleted
MIN_HELDOUT = 5


@dataclass(frozen=True)
class GatheredImages:
    """A pair batch before its captions are drawn: the (B, S, S, 3) uint8 images and their (B,) rows."""

    images: torch.Tensor
    rows: np.ndarray


class ImageTextData(TrainingData):
    """Items are images; each batch pairs every image with one of its captions drawn at random.

    The draw uses the global torch RNG, so an image meets a different caption from epoch to epoch (as CLIP
    trained on COCO's five captions per image) and a resumed run draws the same ones. ``items`` selects some
    images (a split) without copying the arrays, which may be memory-mapped.
    """

    modality = "image_text"

    def __init__(
        self,
        images: np.ndarray,
        caption_ids: np.ndarray,
        caption_image: np.ndarray,
        tokenizer: Tokenizer,
        *,
        items: np.ndarray | None = None,
        pretrained_dir: str | Path | None = None,
    ) -> None:
        if images.ndim != 4 or images.shape[1] != images.shape[2] or images.shape[3] != 3:
            raise ValueError(f"expected (N, S, S, 3) images, got {images.shape}")
        caption_image = np.asarray(caption_image, dtype=np.int64)
        if caption_ids.ndim != 2 or caption_image.shape != (len(caption_ids),):
            raise ValueError(f"captions {caption_ids.shape} and their images {caption_image.shape} do not match")
        if len(caption_image) and not 0 <= caption_image.min() <= caption_image.max() < len(images):
            raise ValueError("a caption points outside the images")
        self.images, self.caption_ids, self.caption_image = images, caption_ids, caption_image
        self.store: ImageStore = HostImages(images)
        self.tokenizer = tokenizer
        self.pretrained_dir = pretrained_dir  # where the text model ``params.pretrained`` names lives on this host
        self.special = special_tokens(tokenizer)
        self.image_size = int(images.shape[1])
        # captions grouped by image: those of image i are _by_image[_starts[i] : _starts[i + 1]]
        self._by_image = np.argsort(caption_image, kind="stable")
        self._starts = np.concatenate([[0], np.cumsum(np.bincount(caption_image, minlength=len(images)))])
        self.items = np.arange(len(images)) if items is None else np.sort(np.asarray(items, dtype=np.int64))
        if (uncaptioned := int((self._counts(self.items) == 0).sum())) > 0:
            raise ValueError(f"{uncaptioned} images have no caption")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def width(self) -> int:
        """L: the longest caption, in tokens."""
        return int(self.caption_ids.shape[1])

    def subset(self, positions: np.ndarray) -> "ImageTextData":
        """The items at ``positions`` (into this data's items), with all their captions."""
        return ImageTextData(
            self.images,
            self.caption_ids,
            self.caption_image,
            self.tokenizer,
            items=self.items[positions],
            pretrained_dir=self.pretrained_dir,
        )

    def gather(self, indices: np.ndarray) -> GatheredImages:
        rows = self.items[indices]  # sorted, as the loop's indices are
        return GatheredImages(self.store.gather(rows), rows)

    def assemble(self, gathered: GatheredImages, device: torch.device) -> PairBatch:
        """Draws each image's caption here, on the training thread: the draw is part of the run's RNG stream."""
        rows = gathered.rows
        counts = self._counts(rows)
        picks = (torch.rand(len(rows)).numpy() * counts).astype(np.int64)  # a uniform caption of each image
        captions = self._by_image[self._starts[rows] + np.minimum(picks, counts - 1)]
        return PairBatch(to_float_images(gathered.images), self.captions(captions, device))  # (B, 3, S, S)

    def keep_on(self, device: torch.device, budget_bytes: int) -> bool:
        self.store = place_images(self.store, self.images, device, budget_bytes)
        return isinstance(self.store, ResidentImages)

    def captions(self, caption_rows: np.ndarray, device: torch.device) -> TokenBatch:
        """The captions at ``caption_rows`` (into all M captions) as a (B, L') batch on ``device``."""
        return TokenBatch.from_ids(np.asarray(self.caption_ids[caption_rows]), self.special.pad).to(device)

    def item_captions(self) -> tuple[np.ndarray, np.ndarray]:
        """Every caption of the items: (C,) caption rows and (C,) the position of each one's image in the items."""
        counts = self._counts(self.items)
        owner = np.repeat(np.arange(len(self.items)), counts)  # (C,)
        rank = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)  # each one's place in its image
        return self._by_image[self._starts[self.items][owner] + rank], owner

    def create_encoder(self, params: CLIPParams) -> ImageTextEncoder:
        vocab_size = self.tokenizer.get_vocab_size()
        encoder = create_image_text_encoder(
            params,
            image_size=self.image_size,
            vocab_size=vocab_size,
            special=self.special,
            pretrained_dir=self.pretrained_dir,
        )
        text = encoder.text_encoder
        if self.width > text.max_length:
            raise ValueError(
                f"captions of {self.width} tokens do not fit the text encoder's {text.max_length} positions; "
                "load the data with max_length=params.max_length"
            )
        if vocab_size > text.vocab_size:
            raise ValueError(f"the tokenizer has {vocab_size} tokens, the text encoder embeds {text.vocab_size}")
        return encoder

    def probe_view(self, batch: PairBatch) -> PairBatch:
        crops = random_resized_crop(batch.images, self.image_size, scale=(PROBE_MIN_SCALE, 1.0), flip_prob=0.0)
        text = delete_tokens(batch.text, PROBE_DELETION, self.special.ids(), pad=self.special.pad)
        return PairBatch(crops, text)

    def describe(self) -> dict[str, Any]:
        digest = hashlib.sha256(np.ascontiguousarray(self.caption_ids).tobytes())
        digest.update(self.items.tobytes())
        return {
            **super().describe(),
            "image_size": self.image_size,
            "num_captions": int(self._counts(self.items).sum()),
            "max_length": self.width,
            "vocab_size": self.tokenizer.get_vocab_size(),
            "captions_sha256": digest.hexdigest(),
        }

    def serving_assets(self) -> dict[str, Any]:
        """The same keys as text data's, so serving builds its ``TextPreprocessor`` the same way."""
        return {"tokenizer": self.tokenizer.to_str(), "max_length": self.width}

    def _counts(self, rows: np.ndarray) -> np.ndarray:
        return self._starts[rows + 1] - self._starts[rows]


def save_pair_dataset(
    out_dir: Path,
    captions: Sequence[str],
    caption_image: np.ndarray,
    tokenizer: Tokenizer,
    *,
    max_length: int = CAPTION_MAX_LENGTH,
) -> None:
    """Write the caption side of a pair dataset into ``out_dir``: the texts tokenized once, their images and
    the tokenizer. ``images.npy`` is ingest's to write (:data:`IMAGES_FILE`), before or after."""
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / CAPTIONS_FILE, tokenize(tokenizer, captions, max_length=max_length))
    np.save(out_dir / CAPTION_IMAGE_FILE, np.asarray(caption_image, dtype=np.int64))
    tokenizer.save(str(out_dir / TOKENIZER_FILE))
    (out_dir / TEXTS_FILE).write_text(json.dumps(list(captions), ensure_ascii=False), encoding="utf-8")


def load_pair_data(
    dataset_dir: Path, *, max_length: int | None = None, pretrained_dir: str | Path | None = None
) -> ImageTextData:
    """The dataset as training data, images memory-mapped; captions cut at ``max_length`` tokens, or with
    ``pretrained_dir`` tokenized again by that text model's own tokenizer."""
    images = load_image_array(dataset_dir / IMAGES_FILE)
    caption_image = np.load(dataset_dir / CAPTION_IMAGE_FILE)
    if pretrained_dir is not None:
        tokenizer = load_pretrained_tokenizer(pretrained_dir)
        texts = json.loads((dataset_dir / TEXTS_FILE).read_text(encoding="utf-8"))
        ids = tokenize(tokenizer, texts, max_length=max_length or CAPTION_MAX_LENGTH)
        return ImageTextData(images, ids, caption_image, tokenizer, pretrained_dir=pretrained_dir)
    tokenizer = Tokenizer.from_file(str(dataset_dir / TOKENIZER_FILE))
    ids = np.load(dataset_dir / CAPTIONS_FILE)
    if max_length is not None:
        _, suffix = frame(tokenizer)
        ids = truncate_ids(ids, max_length, pad=special_tokens(tokenizer).pad, suffix=suffix)
    return ImageTextData(images, ids, caption_image, tokenizer)


def split_holdout(data: ImageTextData, fraction: float, seed: int) -> tuple[ImageTextData, ImageTextData]:
    """(train, held out) by image: all captions of an image go to the same side.

    ``fraction`` of the images, but at least :data:`MIN_HELDOUT` and at most all but two (training needs
    two), are held out, chosen by a permutation seeded with ``seed``.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if len(data) < 3:
        raise ValueError(f"holding out images for evaluation needs at least 3, got {len(data)}")
    count = min(max(round(fraction * len(data)), MIN_HELDOUT), len(data) - 2)
    order = np.random.default_rng(seed).permutation(len(data))
    return data.subset(np.sort(order[count:])), data.subset(np.sort(order[:count]))
