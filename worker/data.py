"""Materializing a dataset's canonical files as the engine's training data, one loader per modality, registered
under its name as the ingests are in :mod:`app.datasets.modalities`."""

from collections.abc import Callable
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


@dataclass(frozen=True)
class DataRequest:
    """What a loader gets: the dataset's canonical folder, the job's params, where its pretrained start lives on
    this host (None without one) and the job's own folder, for caches an attempt can reuse."""

    dataset_dir: Path
    params: Any
    pretrained: Path | None
    workdir: Path


Loader = Callable[[DataRequest], JobData]


def _images(request: DataRequest) -> JobData:
    array = load_image_array(request.dataset_dir / IMAGES_FILE)
    return JobData(ImageData(array, pretrained_dir=request.pretrained))


def _texts(request: DataRequest) -> JobData:
    """Tokenized once with the job's tokenizer (its pretrained model's, where it has one), the ids cached in the
    job's folder so that a resumed attempt does not tokenize again."""
    from selfsup.text.data import load_text_data

    return JobData(
        load_text_data(
            request.dataset_dir,
            max_length=request.params.max_length,
            pretrained_dir=request.pretrained,
            cache_dir=request.workdir,
        )
    )


def _tables(request: DataRequest) -> JobData:
    from selfsup.tabular.data import load_table_data

    return JobData(load_table_data(request.dataset_dir))


def _pairs(request: DataRequest) -> JobData:
    """90% of the images train (split by the job's seed, so every attempt agrees); the rest, with all their
    captions, are held out for retrieval recall."""
    from selfsup.pairs.data import load_pair_data, split_holdout

    pairs = load_pair_data(request.dataset_dir, max_length=request.params.max_length, pretrained_dir=request.pretrained)
    train, heldout = split_holdout(pairs, HELDOUT_FRACTION, seed=request.params.seed)
    return JobData(train, heldout)


LOADERS: dict[str, Loader] = {"image": _images, "text": _texts, "tabular": _tables, "image_text": _pairs}


def pretrained_path(params: Any, settings: Settings) -> Path | None:
    """Where the model ``params.pretrained`` names (checked at submit) lives on this host. The params keep the
    name, never this path: they are stored in checkpoints, and a job resumed on a host whose pretrained folder
    is elsewhere must find the same run there."""
    name = getattr(params, "pretrained", None)
    return settings.pretrained_dir / name if name else None


def job_data(modality: str, dataset_dir: Path, params: Any, *, settings: Settings, workdir: Path) -> JobData:
    """The dataset in ``dataset_dir`` as the engine reads it, memory-mapped where the form allows; a job that
    continues from a pretrained model finds it by name in the pretrained folder."""
    loader = LOADERS.get(modality)
    if loader is None:
        raise ValueError(f"no training data for modality {modality!r}")
    return loader(DataRequest(dataset_dir, params, pretrained_path(params, settings), workdir))
