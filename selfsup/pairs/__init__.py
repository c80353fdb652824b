"""The image-text modality: captions matched to images, the paired training data and retrieval recall.

The names below are imported on first use, not with the package: ``selfsup.methods.clip`` imports the batch
type from here, and the training data imports that method's encoder factory, so an eager ``__init__`` would
import the two into each other.
"""

from typing import TYPE_CHECKING

from selfsup.lazy import lazy_exports

if TYPE_CHECKING:
    from selfsup.pairs.batch import PairBatch
    from selfsup.pairs.captions import (
        InvalidCaptionsError,
        PairedCaptions,
        captioned_images,
        pair_captions,
        read_captions,
    )
    from selfsup.pairs.data import ImageTextData, load_pair_data, save_pair_dataset, split_holdout
    from selfsup.pairs.retrieval import retrieval_recall

_EXPORTS = {
    "PairBatch": "selfsup.pairs.batch",
    "InvalidCaptionsError": "selfsup.pairs.captions",
    "PairedCaptions": "selfsup.pairs.captions",
    "captioned_images": "selfsup.pairs.captions",
    "pair_captions": "selfsup.pairs.captions",
    "read_captions": "selfsup.pairs.captions",
    "ImageTextData": "selfsup.pairs.data",
    "load_pair_data": "selfsup.pairs.data",
    "save_pair_dataset": "selfsup.pairs.data",
    "split_holdout": "selfsup.pairs.data",
    "retrieval_recall": "selfsup.pairs.retrieval",
}

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


__getattr__ = lazy_exports(__name__, _EXPORTS)
