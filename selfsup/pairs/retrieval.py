"""Held-out image-text retrieval: recall@k in both directions, the standard score of CLIP-style models
(Radford et al., 2021, table 13, after Karpathy & Fei-Fei's COCO and Flickr30k protocol)."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from selfsup.methods.clip import ImageTextEncoder
from selfsup.pairs.data import ImageTextData

EVAL_BATCH = 256


def retrieval_recall(
    model_or_encoder: Any, heldout: ImageTextData, device: torch.device, ks: Sequence[int] = (1, 5)
) -> dict[str, float]:
    """Recall@k of image->text and text->image retrieval among the held-out images and all their captions.

    An image hits when any of its captions is among its ``k`` most cosine-similar captions; a caption hits
    when its image is among its ``k`` most similar images. ``model_or_encoder`` is a CLIP method, a served
    ``Encoder`` of an image-text model, or the :class:`ImageTextEncoder` itself. Runs in eval mode without
    gradients on a forked RNG: neither the model nor a training run's random stream changes.
    """
    encoder = _image_text_encoder(model_or_encoder)
    caption_rows, owners = heldout.item_captions()  # (C,), (C,)
    with _evaluating(encoder):
        images = _embed_images(encoder, heldout, device)  # (N, E), unit rows
        captions = _embed_captions(encoder, heldout, caption_rows, device)  # (C, E), unit rows
    owners_t = torch.from_numpy(owners)
    result: dict[str, float] = {"num_images": len(images), "num_captions": len(captions)}
    for k in ks:
        result[f"image_to_text_recall@{k}"] = _image_to_text(images, captions, owners_t, k)
        result[f"text_to_image_recall@{k}"] = _text_to_image(images, captions, owners_t, k)
    return result


def _image_to_text(images: torch.Tensor, captions: torch.Tensor, owners: torch.Tensor, k: int) -> float:
    hits = []
    for start in range(0, len(images), EVAL_BATCH):
        block = images[start : start + EVAL_BATCH]  # (b, E)
        top = (block @ captions.T).topk(min(k, len(captions)), dim=1).indices  # (b, k) caption positions
        mine = torch.arange(start, start + len(block)).unsqueeze(1)
        hits.append((owners[top] == mine).any(dim=1))
    return float(torch.cat(hits).float().mean())


def _text_to_image(images: torch.Tensor, captions: torch.Tensor, owners: torch.Tensor, k: int) -> float:
    hits = []
    for start in range(0, len(captions), EVAL_BATCH):
        block = captions[start : start + EVAL_BATCH]  # (b, E)
        top = (block @ images.T).topk(min(k, len(images)), dim=1).indices  # (b, k) image positions
        hits.append((top == owners[start : start + len(block)].unsqueeze(1)).any(dim=1))
    return float(torch.cat(hits).float().mean())


def _embed_images(encoder: ImageTextEncoder, data: ImageTextData, device: torch.device) -> torch.Tensor:
    chunks = []
    for start in range(0, len(data), EVAL_BATCH):
        images = data.batch(np.arange(start, min(start + EVAL_BATCH, len(data))), device).images
        chunks.append(F.normalize(encoder.encode_image(images).float(), dim=1).cpu())
    return torch.cat(chunks)


def _embed_captions(
    encoder: ImageTextEncoder, data: ImageTextData, rows: np.ndarray, device: torch.device
) -> torch.Tensor:
    chunks = []
    for start in range(0, len(rows), EVAL_BATCH):
        text = data.captions(rows[start : start + EVAL_BATCH], device)
        chunks.append(F.normalize(encoder.encode_text(text).float(), dim=1).cpu())
    return torch.cat(chunks)


def _image_text_encoder(model: Any) -> ImageTextEncoder:
    """The two-tower network inside a method or a served encoder (both call it ``backbone``)."""
    network = getattr(model, "backbone", model)
    if not isinstance(network, ImageTextEncoder):
        raise TypeError(f"retrieval needs an image-text model, got {type(network).__name__}")
    return network


@contextmanager
def _evaluating(encoder: ImageTextEncoder) -> Iterator[None]:
    was_training = encoder.training
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    encoder.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            yield
    finally:
        encoder.train(was_training)
