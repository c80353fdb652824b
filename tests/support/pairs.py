"""Small, real image-text pairs for the engine's tests: scikit-learn's bundled digits, captioned from their
labels and their stroke weight in a few phrasings, several captions per image.

The stroke weight (thin, medium or bold: the image's ink against the other images of its digit, in terciles)
makes captions say more than the class, so that retrieval has something to find beyond it.
"""

import csv
import io
import json
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from selfsup.data.images import canonical_image
from selfsup.pairs import ImageTextData, captioned_images, pair_captions
from selfsup.text.tokenizer import tokenize, train_tokenizer

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WEIGHTS = ("thin", "medium", "bold")
PHRASINGS = (
    "a handwritten {word} in {weight} strokes",
    "the digit {digit}, {weight}",
    "number {word} written by hand with a {weight} pen",
)


@dataclass(frozen=True)
class DigitPairs:
    """``images`` (N, S, S, 3) uint8, their file ``names`` (as ``tests.support.images.digit_pngs`` names
    them), ``captions`` as (file name, text) in file order, and the digit ``labels`` (N,)."""

    images: np.ndarray
    names: list[str]
    captions: list[tuple[str, str]]
    labels: np.ndarray


@cache
def digit_pairs(count: int = 600, size: int = 16) -> DigitPairs:
    """The first ``count`` digits; odd-numbered images get all three phrasings, even ones the first two."""
    digits = load_digits()
    gray = np.round(digits.images[:count] * (255 / 16)).astype(np.uint8)  # (N, 8, 8)
    images = np.stack([canonical_image(Image.fromarray(image, mode="L"), size) for image in gray])
    images.setflags(write=False)
    labels = digits.target[:count].astype(np.int64)
    weights = _stroke_weights(gray, labels)
    names = [f"{label}/digit_{index:04d}.png" for index, label in enumerate(labels)]
    captions = [
        (names[i], phrasing.format(word=WORDS[labels[i]], digit=labels[i], weight=WEIGHTS[weights[i]]))
        for i in range(count)
        for phrasing in PHRASINGS[: 3 if i % 2 else 2]
    ]
    return DigitPairs(images, names, captions, labels)


def _stroke_weights(gray: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) 0, 1 or 2: the tercile of each image's total ink among the images of its digit."""
    ink = gray.reshape(len(gray), -1).sum(axis=1).astype(np.float64)
    weights = np.zeros(len(gray), dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        cuts = np.quantile(ink[members], [1 / 3, 2 / 3])
        weights[members] = np.searchsorted(cuts, ink[members], side="right")
    return weights


def digit_pair_data(count: int = 600, size: int = 16, *, vocab_size: int = 200) -> ImageTextData:
    """:func:`digit_pairs` as training data, through the same pairing and tokenizing as an upload."""
    pairs = digit_pairs(count, size)
    texts, image_index = pair_captions(pairs.names, pairs.captions)
    kept, caption_image = captioned_images(image_index, len(pairs.names))
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    ids = tokenize(tokenizer, texts, max_length=32)
    return ImageTextData(pairs.images[kept], ids, caption_image, tokenizer)


def captions_jsonl(captions: list[tuple[str, str]], *, file_field: str = "file", text_field: str = "caption") -> bytes:
    """``captions.jsonl`` bytes: one object per caption."""
    lines = [json.dumps({file_field: name, text_field: text}) for name, text in captions]
    return ("\n".join(lines) + "\n").encode()


def captions_csv(captions: list[tuple[str, str]], *, file_field: str = "filename", text_field: str = "text") -> bytes:
    """``captions.csv`` bytes with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([file_field, text_field])
    writer.writerows(captions)
    return buffer.getvalue().encode()
