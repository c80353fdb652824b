"""The prefetcher alone: order, errors raised where they are consumed, and a loader thread that always ends."""

import threading
import time
from collections.abc import Iterator

import pytest

from selfsup.train.prefetch import Prefetcher
from tests.support.processes import wait_for


class Broken(Exception):
    pass


def _loader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "selfsup-prefetch"]


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_items_come_prepared_and_in_order(depth: int) -> None:
    with Prefetcher(range(50), lambda item: item * item, depth=depth) as batches:
        assert len(_loader_threads()) == (1 if depth else 0)
        assert list(batches) == [(item, item * item) for item in range(50)]
        assert next(batches, None) is None  # stays exhausted
    assert _loader_threads() == []


@pytest.mark.parametrize("depth", [0, 2])
def test_an_error_in_prepare_is_raised_in_the_consumer_at_its_item(depth: int) -> None:
    def prepare(item: int) -> int:
        if item == 5:
            raise Broken(item)
        return item

    seen = []
    with pytest.raises(Broken) as raised, Prefetcher(range(10), prepare, depth=depth) as batches:
        seen.extend(item for item, _ in batches)
    assert seen == [0, 1, 2, 3, 4] and raised.value.args == (5,)
    assert _loader_threads() == []


def test_an_error_in_the_items_is_raised_in_the_consumer() -> None:
    def items() -> Iterator[int]:
        yield 0
        raise Broken("the index source failed")

    with pytest.raises(Broken, match="index source"), Prefetcher(items(), str, depth=2) as batches:
        assert next(batches) == (0, "0")
        next(batches)
    assert _loader_threads() == []


def test_closing_part_way_stops_a_loader_blocked_on_the_full_queue() -> None:
    prepared: list[int] = []
    with Prefetcher(range(1000), lambda item: prepared.append(item) or item, depth=2) as batches:
        assert next(batches) == (0, 0)
        # 1 taken, 2 queued, 1 waiting for room in the queue: the loader is blocked now
        wait_for(lambda: len(prepared) >= 4, timeout=30, what="the loader to fill its queue", interval=0.01)
    assert _loader_threads() == []
    assert len(prepared) <= 5  # the queue bounds the work done ahead


def test_closing_while_the_consumer_fails_ends_the_loader() -> None:
    with pytest.raises(Broken), Prefetcher(range(1000), str, depth=2) as batches:
        next(batches)
        raise Broken("the training step failed")
    assert _loader_threads() == []


def test_inline_waits_count_the_preparing() -> None:
    spent: list[float] = []

    def prepare(item: int) -> int:
        started = time.perf_counter()
        sum(range(20_000))
        spent.append(time.perf_counter() - started)
        return item

    with Prefetcher(range(5), prepare, depth=0) as batches:
        for _ in batches:
            assert batches.last_wait_s >= spent[-1]
    assert batches.waited_s >= sum(spent)


def test_depth_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="depth"):
        Prefetcher(range(3), str, depth=-1)
