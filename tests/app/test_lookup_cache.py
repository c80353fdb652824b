"""The short-lived lookup cache of the serving path: answers expire, the oldest go past the size, and a
changed answer is forgotten at once."""

import time

from app.core.lookup_cache import LookupCache


def test_an_answer_is_kept_for_its_time_to_live_then_looked_up_again() -> None:
    cache: LookupCache[str, int] = LookupCache(0.05)
    cache.put("k", 1)
    assert cache.get("k") == 1
    deadline = time.monotonic() + 10
    while cache.get("k") is not None:  # expires once 50 ms have passed, however slow this machine is
        assert time.monotonic() < deadline, "the answer never expired"
        time.sleep(0.01)


def test_nothing_is_kept_with_a_zero_time_to_live() -> None:
    cache: LookupCache[str, int] = LookupCache(0)
    cache.put("k", 1)
    assert cache.get("k") is None


def test_the_least_recently_used_answer_goes_past_the_size() -> None:
    cache: LookupCache[str, int] = LookupCache(60, size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # b is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_forget_drops_the_answers_that_no_longer_hold() -> None:
    cache: LookupCache[str, int] = LookupCache(60)
    for key, value in (("a", 1), ("b", 2), ("c", 1)):
        cache.put(key, value)
    cache.forget(lambda value: value == 1)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, None)
