"""Refusing work the server cannot take now: 503 with ``Retry-After``, at once, instead of a growing queue.

Three bounds guard the embedding route. :class:`RequestGate` caps the requests in progress in one API
process; it is the route's first dependency, so a refusal costs no thread, no database query and no
decoding, and waiting requests cannot pile up in front of the thread pool. :class:`PixelGate` caps the image
pixels being decoded at once across those requests (each may decode up to its own budget, and decoded pixels
are what fill memory). Behind them each model's batcher caps the images waiting for its encoder
(app.embeddings.batching).
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from app.core.errors import ServiceUnavailable


class Saturated(ServiceUnavailable):
    """Too much work in progress: try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        message = f"the server is saturated: {message}; retry after {retry_after} s"
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class RequestGate:
    """At most ``limit`` requests in progress at once; the next one is refused at once.

    Only the event loop's thread enters and leaves (the dependency is async), so a plain counter does.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_progress = 0

    @property
    def full(self) -> bool:
        return self.in_progress >= self.limit

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.full:
            raise Saturated(f"{self.in_progress} embedding requests in progress", retry_after=1)
        self.in_progress += 1
        try:
            yield
        finally:
            self.in_progress -= 1


class PixelGate:
    """At most ``limit`` image pixels being decoded at once; a request that would pass it is refused at once.

    Requests prepare their inputs in worker threads, hence the lock.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_progress = 0
        self._lock = threading.Lock()

    @contextmanager
    def reserve(self, pixels: int) -> Iterator[None]:
        with self._lock:
            if self.in_progress and self.in_progress + pixels > self.limit:  # an idle server takes any one request
                raise Saturated(f"{self.in_progress} image pixels being decoded", retry_after=1)
            self.in_progress += pixels
        try:
            yield
        finally:
            with self._lock:
                self.in_progress -= pixels
