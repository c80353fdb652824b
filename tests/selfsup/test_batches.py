"""Seeded, resumable batch order."""

import numpy as np
import pytest

from selfsup.data.batches import EpochBatches


def _epoch(batches: EpochBatches, epoch: int, skip: int = 0) -> list[np.ndarray]:
    return list(batches.epoch(epoch, skip=skip))


def test_order_is_a_pure_function_of_seed_and_epoch() -> None:
    first, second = EpochBatches(100, 16, seed=5), EpochBatches(100, 16, seed=5)
    for epoch in range(3):
        for a, b in zip(_epoch(first, epoch), _epoch(second, epoch), strict=True):
            np.testing.assert_array_equal(a, b)


def test_order_differs_across_epochs_and_seeds() -> None:
    batches = EpochBatches(100, 16, seed=5)
    assert not np.array_equal(np.concatenate(_epoch(batches, 0)), np.concatenate(_epoch(batches, 1)))
    other = EpochBatches(100, 16, seed=6)
    assert not np.array_equal(np.concatenate(_epoch(batches, 0)), np.concatenate(_epoch(other, 0)))


def test_epoch_is_a_shuffled_partition_that_drops_the_incomplete_tail() -> None:
    batches = EpochBatches(100, 16, seed=0)
    epoch = _epoch(batches, 0)
    assert len(batches) == len(epoch) == 6  # 100 // 16; the last 4 items wait for another epoch
    assert all(len(batch) == 16 for batch in epoch)
    flat = np.concatenate(epoch)
    assert len(np.unique(flat)) == 96 and flat.min() >= 0 and flat.max() < 100
    assert all((np.diff(batch) > 0).all() for batch in epoch)  # sorted within a batch, for memory maps
    assert not np.array_equal(np.sort(flat), np.arange(96))  # shuffled, not the first 96


@pytest.mark.parametrize("skip", [0, 1, 3, 5, 6])
def test_skip_yields_exactly_the_tail(skip: int) -> None:
    batches = EpochBatches(100, 16, seed=2)
    full = _epoch(batches, 4)
    tail = _epoch(batches, 4, skip=skip)
    assert len(tail) == len(full) - skip
    for a, b in zip(full[skip:], tail, strict=True):
        np.testing.assert_array_equal(a, b)


def test_fewer_items_than_a_batch_make_one_batch() -> None:
    batches = EpochBatches(10, 256, seed=0)
    assert batches.batch_size == 10 and len(batches) == 1
    (only,) = _epoch(batches, 0)
    np.testing.assert_array_equal(only, np.arange(10))


def test_exact_multiple_keeps_every_item() -> None:
    batches = EpochBatches(64, 16, seed=0)
    assert len(np.unique(np.concatenate(_epoch(batches, 0)))) == 64


def test_fewer_than_two_items_are_refused() -> None:
    with pytest.raises(ValueError):
        EpochBatches(1, 8, seed=0)
