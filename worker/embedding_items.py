"""Each modality's items as an embedding run reads them: canonical files -> vectors and content hashes.

One registry entry per modality. A reader is asked for consecutive ranges of items in increasing order (a
resumed attempt starts past its finished shards), so a reader may stream its file rather than hold it.
"""

import hashlib
import json
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from app.datasets.ingest import IMAGES_FILE
from selfsup.data.images import load_image_array
from selfsup.encoder import Encoder
from selfsup.tabular.batch import TableBatch
from selfsup.tabular.data import CATEGORICAL_FILE, NUMERIC_FILE, SCHEMA_FILE
from selfsup.tabular.decoding import decode_rows
from selfsup.tabular.schema import TableSchema
from selfsup.text.store import stored_documents

BATCH = 128  # items per forward pass


def content_hash(content: bytes) -> int:
    """blake2b-8 of an item's canonical bytes, as an unsigned 64-bit integer (equal items, equal hashes)."""
    return int.from_bytes(hashlib.blake2b(content, digest_size=8).digest(), "little")


def hashes_of(contents: Iterator[bytes]) -> np.ndarray:
    return np.fromiter((content_hash(c) for c in contents), dtype=np.uint64)


class ItemReader(Protocol):
    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Items ``start:stop`` -> ((n, D) float32 unit vectors, (n,) uint64 content hashes)."""
        ...


class ImageReader:
    """Image datasets, and the images of image-text datasets: rows of the memory-mapped ``images.npy``."""

    def __init__(self, dataset_dir: Path, encoder: Encoder) -> None:
        self.images = load_image_array(dataset_dir / IMAGES_FILE)  # (N, S, S, 3) uint8
        self.encoder = encoder

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        images = self.images[start:stop]
        vectors = self.encoder.embed(images, batch_size=BATCH)
        return vectors, hashes_of(image.tobytes() for image in images)


class TextReader:
    """The stored documents, read a line at a time, tokenized by the model's own tokenizer."""

    def __init__(self, dataset_dir: Path, encoder: Encoder) -> None:
        self.documents = stored_documents(dataset_dir)
        self.position = 0
        self.encoder = encoder

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        if start < self.position:
            raise ValueError(f"text items are read in order: asked for {start} after {self.position}")
        texts = [text for text, _ in islice(self.documents, start - self.position, stop - self.position)]
        self.position = stop
        vectors = self.encoder.embed_tokens(self.encoder.prepare_texts(texts), batch_size=BATCH)
        return vectors, hashes_of(text.encode("utf-8") for text in texts)


class TableReader:
    """The canonical arrays straight into a ``TableBatch`` when the model was trained with this table's schema;
    otherwise rows rebuilt in original units and encoded through the model's own schema."""

    def __init__(self, dataset_dir: Path, encoder: Encoder) -> None:
        self.numeric = np.load(dataset_dir / NUMERIC_FILE, mmap_mode="r")  # (N, Fn) float32
        self.categorical = np.load(dataset_dir / CATEGORICAL_FILE, mmap_mode="r")  # (N, Fc) int64
        self.schema = TableSchema.from_dict(json.loads((dataset_dir / SCHEMA_FILE).read_text()))
        self.same_schema = encoder.row_preprocessor.schema.columns == self.schema.columns
        self.encoder = encoder

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        chunks = [self._embed(a, min(a + BATCH, stop)) for a in range(start, stop, BATCH)]
        numeric, categorical = self.numeric[start:stop], self.categorical[start:stop]
        contents = (n.tobytes() + c.tobytes() for n, c in zip(numeric, categorical, strict=True))
        return np.concatenate(chunks), hashes_of(contents)

    def _embed(self, start: int, stop: int) -> np.ndarray:
        numeric = np.array(self.numeric[start:stop])  # copies: torch wants writable arrays
        categorical = np.array(self.categorical[start:stop])
        if self.same_schema:
            return self.encoder.embed_table(TableBatch(torch.from_numpy(numeric), torch.from_numpy(categorical)))
        return self.encoder.embed_rows(decode_rows(self.schema, numeric, categorical))


READERS: dict[str, Callable[[Path, Encoder], ItemReader]] = {
    "image": ImageReader,
    "image_text": ImageReader,  # an image-text run embeds the images; captions are the items' other part
    "text": TextReader,
    "tabular": TableReader,
}


def item_reader(modality: str, dataset_dir: Path, encoder: Encoder) -> ItemReader:
    if modality not in READERS:
        raise ValueError(f"no embedding run for modality {modality!r}")
    return READERS[modality](dataset_dir, encoder)
