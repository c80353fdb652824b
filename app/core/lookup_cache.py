"""Remembering a database lookup for a moment: the hot serving path asks the same two questions (whose key is
this, which model is this id) on every request, and under load those queries were a third of the API's CPU
(py-spy on bench/serve_load.py). A short time to live bounds how stale an answer may be; what this process
changes itself (a key it revokes) it forgets at once.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class LookupCache(Generic[Key, Value]):
    """At most ``size`` answers, each for ``seconds`` after it was looked up (0: nothing is kept), LRU beyond
    ``size``. Thread-safe: the gate and the routes' worker threads share one."""

    def __init__(self, seconds: float, *, size: int = 4096) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: OrderedDict[Key, tuple[float, Value]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Value | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Key, value: Value) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + self.seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, stale: Callable[[Value], bool]) -> None:
        """Drop every answer ``stale`` says no longer holds (a key this process just revoked)."""
        with self._lock:
            for key in [k for k, (_, value) in self._entries.items() if stale(value)]:
                del self._entries[key]
