"""The image-text modality: captions matched to images, the paired training data and retrieval recall."""

from selfsup.pairs.captions import (
    InvalidCaptionsError,
    PairedCaptions,
    captioned_images,
    pair_captions,
    read_captions,
)
from selfsup.pairs.data import ImageTextData, PairBatch, load_pair_data, save_pair_dataset, split_holdout
from selfsup.pairs.retrieval import retrieval_recall

__all__ = [
    "ImageTextData",
    "InvalidCaptionsError",
    "PairBatch",
    "PairedCaptions",
    "captioned_images",
    "load_pair_data",
    "pair_captions",
    "read_captions",
    "retrieval_recall",
    "save_pair_dataset",
    "split_holdout",
]
