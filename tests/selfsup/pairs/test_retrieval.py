"""Retrieval recall against a brute-force ranking, on pairs without ties, and its hygiene (mode, RNG)."""

import numpy as np
import pytest
import torch

from selfsup.methods import get_method
from selfsup.methods.clip import CLIP, ImageTextEncoder
from selfsup.pairs import ImageTextData, retrieval_recall
from selfsup.text.tokenizer import train_tokenizer

CPU = torch.device("cpu")
WORDS = ["red", "green", "blue", "round", "square", "small", "large", "dark", "light", "left", "right", "up"]


@pytest.fixture(scope="module")
def data() -> ImageTextData:
    """40 random images with 1 to 3 distinct random captions each (no two captions alike: no ties)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, 16, 16, 3), dtype=np.uint8)
    caption_image = np.repeat(np.arange(40), rng.integers(1, 4, size=40))
    texts = [" ".join(rng.choice(WORDS, size=6)) + f" {i}" for i in range(len(caption_image))]
    tokenizer = train_tokenizer(texts, vocab_size=200)
    ids = np.stack([np.pad(tokenizer.encode(t).ids, (0, 12 - len(tokenizer.encode(t).ids))) for t in texts])
    return ImageTextData(images, ids.astype(np.int32), caption_image, tokenizer)


@pytest.fixture(scope="module")
def encoder(data: ImageTextData) -> ImageTextEncoder:
    params = get_method("clip").validate({"backbone": "tiny_cnn", "preset": "tiny", "embed_dim": 16, "max_length": 16})
    torch.manual_seed(0)
    return data.create_encoder(params)


def reference_recall(
    image: np.ndarray, caption: np.ndarray, owner: np.ndarray, k: int, *, cosine: bool = True
) -> tuple[float, float]:
    """(image->text, text->image) recall@k by sorting every row of the cosine (or dot-product) similarities."""
    if cosine:
        image = image / np.linalg.norm(image, axis=1, keepdims=True)
        caption = caption / np.linalg.norm(caption, axis=1, keepdims=True)
    similarity = image @ caption.T  # (N, C)
    i2t = [i in owner[np.argsort(-similarity[i])[:k]] for i in range(len(image))]
    t2i = [owner[c] in np.argsort(-similarity[:, c])[:k] for c in range(len(caption))]
    return float(np.mean(i2t)), float(np.mean(t2i))


def test_recall_matches_a_brute_force_ranking(data: ImageTextData, encoder: ImageTextEncoder) -> None:
    result = retrieval_recall(encoder, data, CPU, ks=(1, 3, 10))
    rows = np.argsort(data.caption_image, kind="stable")
    encoder.eval()
    with torch.no_grad():
        image = encoder.encode_image(data.batch(np.arange(40), CPU).images).numpy()
        caption = encoder.encode_text(data.captions(rows, CPU)).numpy()
    encoder.train()
    assert (result["num_images"], result["num_captions"]) == (40, len(rows))
    for k in (1, 3, 10):
        i2t, t2i = reference_recall(image, caption, data.caption_image[rows], k)
        assert result[f"image_to_text_recall@{k}"] == pytest.approx(i2t)
        assert result[f"text_to_image_recall@{k}"] == pytest.approx(t2i)
    assert result["text_to_image_recall@10"] > result["text_to_image_recall@1"]
    # unnormalized dot products rank differently here, so the match above shows the comparison is by cosine
    dot = reference_recall(image, caption, data.caption_image[rows], 3, cosine=False)
    assert dot != (result["image_to_text_recall@3"], result["text_to_image_recall@3"])


def test_recall_at_the_whole_set_is_one(data: ImageTextData, encoder: ImageTextEncoder) -> None:
    result = retrieval_recall(encoder, data, CPU, ks=(1000,))
    assert result["image_to_text_recall@1000"] == result["text_to_image_recall@1000"] == 1.0


def test_leaves_mode_and_random_stream_alone_and_reads_methods_too(
    data: ImageTextData, encoder: ImageTextEncoder
) -> None:
    method = CLIP(get_method("clip").validate({"embed_dim": 16}), encoder).train()
    state = torch.get_rng_state()
    from_method = retrieval_recall(method, data, CPU)
    assert torch.equal(torch.get_rng_state(), state) and method.training and encoder.training
    assert from_method == retrieval_recall(encoder, data, CPU)
    with pytest.raises(TypeError, match="image-text model"):
        retrieval_recall(encoder.image_encoder, data, CPU)
