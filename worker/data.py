"""Materializing a dataset's canonical files as the engine's training data, for each modality."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.datasets.ingest import IMAGES_FILE
from selfsup.data.base import TrainingData
from selfsup.data.image_data import ImageData
from selfsup.data.images import load_image_array

HELDOUT_FRACTION = 0.1  # of an image-text dataset's images, kept out of training to measure retrieval


@dataclass(frozen=True)
class JobData:
    train: TrainingData
    heldout: Any = None  # image-text only: the ImageTextData whose retrieval the final report measures


def pretrained_path(params: Any, settings: Settings) -> Path | None:
    """Where the model ``params.pretrained`` names (checked at submit) lives on this host. The params keep the
    name, never this path: they are stored in checkpoints, and a job resumed on a host whose pretrained folder
    is elsewhere must find the same run there."""
    name = getattr(params, "pretrained", None)
    return settings.pretrained_dir / name if name else None


def job_data(modality: str, dataset_dir: Path, params: Any, *, settings: Settings, workdir: Path) -> JobData:
    """The dataset in ``dataset_dir`` as the engine reads it: memory-mapped where the form allows.

    A job that continues from a pretrained model finds it by name in the pretrained folder: an image job's
    backbone starts from its weights; a text job tokenizes the stored texts once with that model's tokenizer,
    caching the ids in the job's ``workdir``, so a resumed attempt does not tokenize again.
    An image-text job trains on 90% of the images (split by the job's seed, so every attempt agrees) and keeps
    the rest, with all their captions, for retrieval recall.
    """
    pretrained = pretrained_path(params, settings)
    if modality == "image":
        return JobData(ImageData(load_image_array(dataset_dir / IMAGES_FILE), pretrained_dir=pretrained))
    if modality == "text":
        from selfsup.text.data import load_text_data

        text = load_text_data(dataset_dir, max_length=params.max_length, pretrained_dir=pretrained, cache_dir=workdir)
        return JobData(text)
    if modality == "tabular":
        from selfsup.tabular.data import load_table_data

        return JobData(load_table_data(dataset_dir))
    if modality == "image_text":
        from selfsup.pairs.data import load_pair_data, split_holdout

        pairs = load_pair_data(dataset_dir, max_length=params.max_length, pretrained_dir=pretrained)
        train, heldout = split_holdout(pairs, HELDOUT_FRACTION, seed=params.seed)
        return JobData(train, heldout)
    raise ValueError(f"no training data for modality {modality!r}")
