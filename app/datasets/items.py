"""One stored item of a dataset, addressed by its index (row i of an embedding run is item i).

Each modality registers how it shows an item: images (and image-text images) as PNG, texts and table rows as
JSON. Every view reads the dataset's canonical files from the local cache, memory-mapped or streamed, so one
item never costs a whole dataset in memory.
"""

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from fastapi.responses import JSONResponse, Response
from PIL import Image

from app.core.cache import BlobCache
from app.core.errors import Conflict, FieldErrors, NotFound
from app.datasets.ingest import IMAGES_FILE
from app.datasets.orm import Dataset
from selfsup.pairs.data import CAPTION_IMAGE_FILE, TEXTS_FILE
from selfsup.tabular.data import CATEGORICAL_FILE, LABELS_FILE, NUMERIC_FILE, SCHEMA_FILE
from selfsup.tabular.decoding import decode_rows
from selfsup.tabular.schema import TableSchema
from selfsup.text.store import stored_documents


@dataclass(frozen=True)
class ItemRequest:
    folder: Path  # the dataset's canonical files, local
    dataset: Dataset
    index: int
    part: str | None  # which part of a multi-part item (image_text: "image" or "caption")


ItemView = Callable[[ItemRequest], Response]


def image_item(request: ItemRequest) -> Response:
    image = np.load(request.folder / IMAGES_FILE, mmap_mode="r")[request.index]  # (S, S, 3) uint8
    encoded = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(encoded, format="PNG")
    return Response(encoded.getvalue(), media_type="image/png")


def image_text_item(request: ItemRequest) -> Response:
    if request.part in (None, "image"):
        return image_item(request)
    if request.part != "caption":
        raise FieldErrors([(("query", "part"), "an image_text item has the parts 'image' and 'caption'")])
    owners = np.load(request.folder / CAPTION_IMAGE_FILE, mmap_mode="r")  # (C,) image of each caption
    rows = np.flatnonzero(owners == request.index)
    texts = json.loads((request.folder / TEXTS_FILE).read_text(encoding="utf-8"))
    return JSONResponse({"index": request.index, "captions": [texts[row] for row in rows]})


def text_item(request: ItemRequest) -> Response:
    # Streamed a line at a time up to the item: documents.jsonl has no offsets to seek by.
    text, label = next(islice(stored_documents(request.folder), request.index, None))
    return JSONResponse({"index": request.index, "text": text, "label": label})


def table_item(request: ItemRequest) -> Response:
    folder, index = request.folder, request.index
    schema = TableSchema.from_dict(json.loads((folder / SCHEMA_FILE).read_text()))
    numeric = np.load(folder / NUMERIC_FILE, mmap_mode="r")[index : index + 1]  # (1, Fn)
    categorical = np.load(folder / CATEGORICAL_FILE, mmap_mode="r")[index : index + 1]  # (1, Fc)
    row = decode_rows(schema, np.asarray(numeric), np.asarray(categorical))[0]
    labels_path = folder / LABELS_FILE
    label = json.loads(labels_path.read_text())[index] if labels_path.is_file() else None
    return JSONResponse({"index": index, "row": row, "label": label})


ITEM_VIEWS: dict[str, ItemView] = {
    "image": image_item,
    "image_text": image_text_item,
    "text": text_item,
    "tabular": table_item,
}


def item_response(blobs: BlobCache, *, dataset: Dataset, index: int, part: str | None) -> Response:
    """The item as its modality shows it; 404 naming the range for an index outside it, 409 before ingest ends."""
    if dataset.status != "ready":
        raise Conflict(f"dataset {dataset.id!r} is {dataset.status}; its items can be read once it is ready")
    if not 0 <= index < dataset.num_items:
        raise NotFound(f"dataset {dataset.id!r} has items 0 to {dataset.num_items - 1}; there is no item {index}")
    view = ITEM_VIEWS.get(dataset.modality)
    if view is None:
        raise Conflict(f"items of {dataset.modality} datasets cannot be shown")
    with blobs.local(dataset.storage_key) as folder:
        return view(ItemRequest(folder, dataset, index, part))
