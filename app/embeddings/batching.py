"""Micro-batching with admission control: one worker thread per model and input kind runs concurrent requests
as one batch.

A request brings its inputs already prepared (images decoded, texts tokenized, rows encoded: the caller does
that in its own thread, so a slow client never holds up the batch) and is admitted only while the model's
queue has room: past ``queue_limit`` inputs waiting or being encoded it is refused at once with
:class:`Saturated` (503 and ``Retry-After``) rather than queued without bound. The worker takes what is
queued, waiting at most ``max_wait`` seconds after the first request for company or until ``max_batch``
inputs, runs the encoder once, and hands every request its own rows in input order.

Determinism: the same image gives the same vector whatever else shares its batch, up to the last bits of
float32. On CPU, oneDNN runs a batch of one image with different convolution kernels than a batch of two or
more; we measured differences of at most 1.5e-7 (tiny_cnn, resnet18; none for ViTs) and none between
batches of 2 to 128 images. That was already so before batching (one image alone against the same image in
a larger request), so we do not pad batches to hide it; tests compare vectors with a tolerance of 1e-5.
"""

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from app.embeddings.admission import Saturated
from app.monitoring.instruments import EMBEDDING_BATCH_SIZE, EMBEDDING_QUEUE_DEPTH

IDLE_SECONDS = 10.0  # a model's worker thread exits after this long without work; the next request restarts it
MAX_RETRY_AFTER = 60


@dataclass(frozen=True)
class BatchLimits:
    max_batch: int  # images the encoder runs at once (a larger single request runs alone)
    max_wait: float  # seconds a batch waits for more requests after its first one
    queue_limit: int  # images admitted per model, waiting or being encoded


class Items(Protocol):
    """Prepared inputs of one request: (B, S, S, 3) images, a TokenBatch, a TableBatch."""

    def __len__(self) -> int: ...


@dataclass(eq=False)
class _Request:
    images: Any  # Items: B prepared inputs
    future: Future[np.ndarray] = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


class EmbeddingBatcher:
    """Gathers the requests for one model and runs ``embed`` (N prepared inputs -> (N, D)) on them in batches.

    ``join`` makes one batch of several requests' inputs (``np.concatenate`` for images).
    """

    def __init__(
        self,
        embed: Callable[[Any], np.ndarray],
        *,
        limits: BatchLimits,
        name: str,
        join: Callable[[Sequence[Any]], Any] = np.concatenate,
    ) -> None:
        self.limits = limits
        self.name = name
        self._embed = embed
        self._join = join
        self._ready = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._queued = 0  # images in the queue
        self._pending = 0  # images admitted and not yet answered: queued or being encoded
        self._seconds_per_image = 0.0  # moving average, for Retry-After
        self._thread: threading.Thread | None = None

    def check_room(self, count: int) -> None:
        """Refuse now (:class:`Saturated`) if ``count`` more images would not be admitted; reserves nothing."""
        with self._ready:
            self._refuse_if_full(count)

    def submit(self, images: Items) -> Future[np.ndarray]:
        """Admit B prepared inputs, or raise :class:`Saturated`; the future gets their (B, D) vectors."""
        request = _Request(images)
        with self._ready:
            self._refuse_if_full(len(images))
            self._queue.append(request)
            self._queued += len(images)
            self._pending += len(images)
            EMBEDDING_QUEUE_DEPTH.inc(len(images))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"embed-{self.name}", daemon=True)
                self._thread.start()
            self._ready.notify()
        return request.future

    def _refuse_if_full(self, count: int) -> None:
        # An idle model admits any one request, so a request larger than the limit is slow, never refused.
        if self._pending and self._pending + count > self.limits.queue_limit:
            retry_after = math.ceil(self._pending * self._seconds_per_image)
            raise Saturated(
                f"{self._pending} images queued for model {self.name}",
                retry_after=min(MAX_RETRY_AFTER, max(1, retry_after)),
            )

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._run(batch)

    def _next_batch(self) -> list[_Request] | None:
        """Wait for a request, then up to ``max_wait`` for more; None (the thread ends) after an idle spell."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._queue, timeout=IDLE_SECONDS):
                self._thread = None
                return None
            deadline = self._queue[0].arrived + self.limits.max_wait
            while self._queued < self.limits.max_batch and (left := deadline - time.monotonic()) > 0:
                self._ready.wait(left)
            return self._take()

    def _take(self) -> list[_Request]:
        """Pop requests up to ``max_batch`` images (always at least one), dropping those already cancelled."""
        batch: list[_Request] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].images) <= self.limits.max_batch):
            request = self._queue.popleft()
            self._queued -= len(request.images)
            if request.future.set_running_or_notify_cancel():
                batch.append(request)
                size += len(request.images)
            else:
                self._pending -= len(request.images)
                EMBEDDING_QUEUE_DEPTH.dec(len(request.images))
        return batch

    def _run(self, batch: list[_Request]) -> None:
        """Encode the batch and answer each request with its rows; a failure goes to every request in it."""
        if not batch:  # all cancelled
            return
        count = sum(len(r.images) for r in batch)
        EMBEDDING_BATCH_SIZE.observe(count)
        started = time.monotonic()
        try:
            inputs = batch[0].images if len(batch) == 1 else self._join([r.images for r in batch])  # N inputs
            vectors = self._embed(inputs)  # (N, D)
        except Exception as exc:
            self._finished(count, elapsed=None)
            for request in batch:
                request.future.set_exception(exc)
            return
        self._finished(count, elapsed=time.monotonic() - started)  # before answering: room for a quick retry
        offset = 0
        for request in batch:
            request.future.set_result(vectors[offset : offset + len(request.images)])
            offset += len(request.images)

    def _finished(self, count: int, *, elapsed: float | None) -> None:
        with self._ready:
            self._pending -= count
            EMBEDDING_QUEUE_DEPTH.dec(count)
            if elapsed is not None and count:
                latest = elapsed / count
                average = self._seconds_per_image
                self._seconds_per_image = latest if average == 0 else 0.8 * average + 0.2 * latest
