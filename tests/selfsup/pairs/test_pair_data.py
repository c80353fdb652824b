"""Image-text training data: random caption per image and epoch, splits by image, canonical files on disk."""

from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.methods import get_method
from selfsup.pairs import ImageTextData, PairBatch, load_pair_data, save_pair_dataset, split_holdout
from selfsup.pairs.data import IMAGES_FILE
from selfsup.text.preprocess import TextPreprocessor
from selfsup.text.tokenizer import train_tokenizer
from tests.support.pairs import digit_pair_data, digit_pairs

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data() -> ImageTextData:
    return digit_pair_data(60, 16)


def _caption_sets(data: ImageTextData) -> list[set[tuple[int, ...]]]:
    """For each item, the id rows (padding stripped) of its captions."""
    rows, owners = data.item_captions()
    sets: list[set[tuple[int, ...]]] = [set() for _ in range(len(data))]
    for row, owner in zip(rows, owners, strict=True):
        sets[owner].add(tuple(int(t) for t in data.caption_ids[row] if t != data.special.pad))
    return sets


def _batch_captions(batch: PairBatch) -> list[tuple[int, ...]]:
    return [
        tuple(ids[mask.bool()].tolist())
        for ids, mask in zip(batch.text.input_ids, batch.text.attention_mask, strict=True)
    ]


def test_each_image_meets_one_of_its_own_captions_a_different_one_over_epochs(data: ImageTextData) -> None:
    indices = np.arange(0, 60, 3)
    own = _caption_sets(data)
    torch.manual_seed(0)
    drawn: list[set[tuple[int, ...]]] = [set() for _ in indices]
    for _ in range(30):
        batch = data.batch(indices, CPU)
        assert batch.images.shape == (20, 3, 16, 16) and batch.images.dtype == torch.float32
        for seen, index, caption in zip(drawn, indices, _batch_captions(batch), strict=True):
            assert caption in own[index]
            seen.add(caption)
    assert all(seen == own[index] for seen, index in zip(drawn, indices, strict=True))  # every caption used

    torch.manual_seed(1)
    first = _batch_captions(data.batch(indices, CPU))
    torch.manual_seed(1)
    assert _batch_captions(data.batch(indices, CPU)) == first  # the global RNG decides: a resume redraws the same
    np.testing.assert_array_equal(data.batch(indices, CPU).images.numpy(), data.batch(indices, CPU).images.numpy())


def test_split_holds_out_whole_images_deterministically(data: ImageTextData) -> None:
    train, heldout = split_holdout(data, 0.2, seed=3)
    assert (len(train), len(heldout)) == (48, 12)
    assert set(train.items) | set(heldout.items) == set(range(60)) and not set(train.items) & set(heldout.items)
    rows, owners = heldout.item_captions()
    assert set(data.caption_image[rows]) == set(heldout.items)  # every caption goes with its image ...
    assert len(rows) == int(np.isin(data.caption_image, heldout.items).sum())  # ... and all of them
    np.testing.assert_array_equal(data.caption_image[rows], heldout.items[owners])
    assert heldout.describe()["num_captions"] + train.describe()["num_captions"] == len(data.caption_ids)

    again_train, again_heldout = split_holdout(data, 0.2, seed=3)
    np.testing.assert_array_equal(again_heldout.items, heldout.items)
    np.testing.assert_array_equal(again_train.items, train.items)
    assert not np.array_equal(split_holdout(data, 0.2, seed=4)[1].items, heldout.items)
    assert len(split_holdout(data, 0.01, seed=0)[1]) == 5  # at least a few, whatever the fraction
    with pytest.raises(ValueError):
        split_holdout(data, 1.0, seed=0)


def test_heldout_batches_show_the_heldout_images(data: ImageTextData) -> None:
    _, heldout = split_holdout(data, 0.2, seed=0)
    batch = heldout.batch(np.arange(len(heldout)), CPU)
    expected = torch.from_numpy(np.asarray(data.images[heldout.items])).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(batch.images, expected)


def test_saved_dataset_loads_back_with_the_same_pairs(data: ImageTextData, tmp_path: Path) -> None:
    pairs = digit_pairs(60, 16)
    texts = [text for _, text in pairs.captions]
    owner = {name: i for i, name in enumerate(pairs.names)}
    caption_image = np.array([owner[name] for name, _ in pairs.captions])
    tokenizer = train_tokenizer(texts, vocab_size=200)
    save_pair_dataset(tmp_path, texts, caption_image, tokenizer, max_length=32)
    np.save(tmp_path / IMAGES_FILE, pairs.images)

    loaded = load_pair_data(tmp_path)
    assert len(loaded) == 60 and loaded.describe()["num_captions"] == len(texts)
    np.testing.assert_array_equal(loaded.caption_image, caption_image)
    np.testing.assert_array_equal(np.asarray(loaded.images), pairs.images)
    decoded = tokenizer.decode(loaded.caption_ids[5].tolist())
    assert decoded == texts[5].lower().replace(",", " ,")

    cut = load_pair_data(tmp_path, max_length=6)
    assert cut.width == 6 and all(row[-1] in (cut.special.sep, cut.special.pad) for row in cut.caption_ids)


def test_serving_assets_tokenize_captions_as_training_did(data: ImageTextData) -> None:
    preprocess = TextPreprocessor.from_assets(data.serving_assets())
    text = "the digit 7, bold"
    batch = preprocess.encode([text])
    own = data.tokenizer.encode(text).ids
    assert batch.input_ids[0].tolist() == own


def test_probe_view_is_a_light_crop_and_token_deletion(data: ImageTextData) -> None:
    torch.manual_seed(0)
    batch = data.batch(np.arange(16), CPU)
    view = data.probe_view(batch)
    assert view.images.shape == batch.images.shape and not torch.equal(view.images, batch.images)
    assert view.text.input_ids.shape[1] <= batch.text.input_ids.shape[1]
    assert int(view.text.attention_mask.sum()) < int(batch.text.attention_mask.sum())


def test_encoder_fits_the_data_or_says_why(data: ImageTextData) -> None:
    params = get_method("clip").validate({"backbone": "tiny_cnn", "preset": "tiny", "embed_dim": 16, "max_length": 8})
    with pytest.raises(ValueError, match="do not fit the text encoder's 8 positions"):
        data.create_encoder(params)
    fits = get_method("clip").validate({"backbone": "tiny_cnn", "preset": "tiny", "embed_dim": 16, "max_length": 32})
    encoder = data.create_encoder(fits)
    assert encoder(data.batch(np.arange(4), CPU)).shape == (4, 16)


def test_images_without_captions_are_refused() -> None:
    tokenizer = train_tokenizer(["a b c"], vocab_size=50)
    images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    ids = np.array([[2, 5, 3], [2, 6, 3]], dtype=np.int32)
    with pytest.raises(ValueError, match="1 images have no caption"):
        ImageTextData(images, ids, np.array([0, 2]), tokenizer)
    with pytest.raises(ValueError, match="outside the images"):
        ImageTextData(images, ids, np.array([0, 3]), tokenizer)
