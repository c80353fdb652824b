"""Refusing work the server cannot take now: 503 with ``Retry-After``, at once, instead of a growing queue.

Two bounds guard the embedding route. :class:`RequestGate` caps the requests in progress in one API
process; it is the route's first dependency, so a refusal costs no thread, no database query and no
decoding, and waiting requests cannot pile up in front of the thread pool. Behind it each model's batcher
caps the images waiting for its encoder (app.embeddings.batching).
"""

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

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.in_progress >= self.limit:
            raise Saturated(f"{self.in_progress} embedding requests in progress", retry_after=1)
        self.in_progress += 1
        try:
            yield
        finally:
            self.in_progress -= 1
