"""Materializing a dataset's canonical files as the engine's training data, for each modality."""

from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.datasets.ingest import IMAGES_FILE
from selfsup.data.base import TrainingData
from selfsup.data.image_data import ImageData
from selfsup.data.images import load_image_array


def training_data(modality: str, dataset_dir: Path, params: Any, *, settings: Settings, workdir: Path) -> TrainingData:
    """The dataset in ``dataset_dir`` as the engine reads it: memory-mapped where the form allows.

    A text job that continues from a pretrained model tokenizes the stored texts once with that model's
    tokenizer; the ids are cached in the job's ``workdir``, so a resumed attempt does not tokenize again.
    """
    if modality == "image":
        return ImageData(load_image_array(dataset_dir / IMAGES_FILE))
    if modality == "text":
        from selfsup.text.data import load_text_data

        pretrained = settings.pretrained_dir / params.pretrained if params.pretrained else None
        return load_text_data(dataset_dir, max_length=params.max_length, pretrained_dir=pretrained, cache_dir=workdir)
    if modality == "tabular":
        from selfsup.tabular.data import load_table_data

        return load_table_data(dataset_dir)
    raise ValueError(f"no training data for modality {modality!r}")
