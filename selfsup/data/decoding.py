"""Decoding many images into one canonical array on every core: ingest's hot loop.

One thread reads the encoded images in order (a compressed tar can only be read forwards) and hands the bytes
to a pool of decoding processes, one per core; each decoded (S, S, 3) image comes back and is written into its
row of the memory-mapped array. At most ``IN_FLIGHT_PER_WORKER`` images per process are on their way at any
time, so memory stays bounded whatever the number of images.

The pool is started once per process and shared by every ingest it runs (starting one costs about a second,
more than decoding a few hundred images). Small batches are decoded in the calling thread.
"""

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from types import TracebackType

import numpy as np

from selfsup.data.images import DEFAULT_MAX_PIXELS, create_image_array, decode_image
from selfsup.errors import InvalidImageError, ItemDecodeError

IN_FLIGHT_PER_WORKER = 16
MIN_PARALLEL_ITEMS = 256

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def available_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    return len(os.sched_getaffinity(0))


def decoding_pool() -> ProcessPoolExecutor:
    """The process's pool of decoding processes, one per core, started on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn, not fork: the caller may be a threaded server, and a forked copy of its locks can deadlock.
            _pool = ProcessPoolExecutor(available_cores(), mp_context=multiprocessing.get_context("spawn"))
        return _pool


def close_decoding_pool() -> None:
    """Stop the process's decoding processes, if it started them: for hosts that end a process without running
    its exit handlers (a Celery pool process leaves with ``os._exit``)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(cancel_futures=True)
            _pool = None


class ParallelDecoder:
    """Fills a new canonical array at ``path`` with ``count`` images of side ``size``, item by item.

    Use as a context manager; :meth:`submit` each item's encoded bytes with its index, in any order. The first
    undecodable item raises :class:`~selfsup.errors.ItemDecodeError` naming its index, from :meth:`submit` or
    on leaving the block; then nothing more is decoded.
    """

    def __init__(
        self, path: Path, *, count: int, size: int, max_pixels: int = DEFAULT_MAX_PIXELS, parallel: bool | None = None
    ) -> None:
        self.size, self.max_pixels = size, max_pixels
        self.array = create_image_array(path, count, size)
        if parallel is None:  # decide by size: below MIN_PARALLEL_ITEMS the calling thread is quicker
            parallel = count >= MIN_PARALLEL_ITEMS and available_cores() > 1
        self.pool = decoding_pool() if parallel else None
        self.capacity = available_cores() * IN_FLIGHT_PER_WORKER
        self.pending: deque[tuple[int, Future[np.ndarray]]] = deque()
        self.stored = 0  # items written into the array so far: the caller's progress

    def __enter__(self) -> "ParallelDecoder":
        return self

    def submit(self, index: int, data: bytes, expected_format: str | None = None) -> None:
        if self.pool is None:
            self.array[index] = _decoded(index, lambda: self._decode(data, expected_format))
            self.stored += 1
            return
        future = self.pool.submit(
            decode_image, data, self.size, max_pixels=self.max_pixels, expected_format=expected_format
        )
        self.pending.append((index, future))
        while len(self.pending) >= self.capacity:
            self._store_oldest()

    def __exit__(
        self, kind: type[BaseException] | None, _error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        try:
            while self.pending and kind is None:
                self._store_oldest()
        finally:
            for _, future in self.pending:
                future.cancel()
            self.array.flush()
            del self.array

    def _decode(self, data: bytes, expected_format: str | None) -> np.ndarray:
        return decode_image(data, self.size, max_pixels=self.max_pixels, expected_format=expected_format)

    def _store_oldest(self) -> None:
        index, future = self.pending.popleft()
        self.array[index] = _decoded(index, future.result)
        self.stored += 1


def _decoded(index: int, decode: Callable[[], np.ndarray]) -> np.ndarray:
    try:
        return decode()
    except InvalidImageError as exc:
        raise ItemDecodeError(index, str(exc)) from None
