"""Batches prepared ahead of the training step on a loader thread, so that the step does not wait on data.

The loader thread walks the epoch's index batches in order, gathers each from the arrays (often a memory map)
and moves it to the device: through page-locked memory and a copy stream of its own on CUDA, so the copy
overlaps the steps before it. At most ``depth`` prepared batches wait in a bounded queue. The training thread
takes them in the same order it would have loaded them itself, so a run is the same with or without it.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from selfsup.data.base import TrainingData
from selfsup.data.placement import pinned, tensors_in, to_device

Item = TypeVar("Item")
Prepared = TypeVar("Prepared")

DEFAULT_DEPTH = 2  # batches ready ahead: one being used, one waiting; more only holds memory
POLL_S = 0.1  # how often a loader blocked on a full queue looks whether it was told to stop


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


class Prefetcher(Generic[Item, Prepared]):
    """Iterates ``(item, prepare(item))`` for each of ``items`` in order, prepared up to ``depth`` ahead on a
    loader thread; ``depth`` 0 prepares each on the calling thread when it is asked for (no thread).

    ``waited_s`` sums the time the consumer spent waiting for prepared items, ``last_wait_s`` is that of the
    latest. An exception raised by ``prepare``
    or by ``items`` is raised in the consumer, in place of the item it failed on. Leaving the ``with`` block (or
    :meth:`close`) stops the loader and joins its thread, at the end, on an exception or part way through.
    """

    def __init__(self, items: Iterable[Item], prepare: Callable[[Item], Prepared], *, depth: int) -> None:
        if depth < 0:
            raise ValueError(f"depth must be 0 or more, not {depth}")
        self._items, self._prepare = iter(items), prepare
        self.waited_s = self.last_wait_s = 0.0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._done = False
        self._thread: threading.Thread | None = None
        if depth:
            self._thread = threading.Thread(target=self._load, name="selfsup-prefetch", daemon=True)
            self._thread.start()

    def __iter__(self) -> Iterator[tuple[Item, Prepared]]:
        return self

    def __next__(self) -> tuple[Item, Prepared]:
        if self._done:
            raise StopIteration
        started = time.perf_counter()
        try:
            entry = self._queue.get() if self._thread else self._prepare_next()
        finally:
            self.last_wait_s = time.perf_counter() - started
            self.waited_s += self.last_wait_s
        if entry is _END or isinstance(entry, _Failed):
            self._done = True
            if isinstance(entry, _Failed):
                raise entry.error
            raise StopIteration
        return entry

    def close(self) -> None:
        self._stop.set()
        if self._thread is None:
            return
        while not self._queue.empty():  # frees a loader blocked on a full queue at once
            self._queue.get_nowait()
        self._thread.join()

    def __enter__(self) -> "Prefetcher[Item, Prepared]":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _prepare_next(self) -> Any:
        try:
            item = next(self._items)
        except StopIteration:
            return _END
        except BaseException as error:  # raised again in the consumer, whatever it is
            return _Failed(error)
        try:
            return item, self._prepare(item)
        except BaseException as error:  # raised again in the consumer, whatever it is
            return _Failed(error)

    def _load(self) -> None:
        while not self._stop.is_set():
            entry = self._prepare_next()
            if not self._offer(entry) or entry is _END or isinstance(entry, _Failed):
                return

    def _offer(self, entry: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False


class Staging:
    """Moves a gathered batch to the training device on the loader thread and hands it to the step: here a
    plain copy (to CPU, none at all)."""

    def __init__(self, data: TrainingData, device: torch.device) -> None:
        self.data, self.device = data, device

    def stage(self, indices: np.ndarray) -> Any:
        return to_device(self.data.gather(indices), self.device)

    def receive(self, staged: Any) -> Any:
        """The model input, on the training thread."""
        return self.data.assemble(staged, self.device)


class CudaStaging(Staging):
    """Gathers into page-locked memory and copies on a stream of its own, so the copy overlaps the running
    step; the step's stream waits for the copy's event before it reads the batch."""

    def __init__(self, data: TrainingData, device: torch.device) -> None:
        super().__init__(data, device)
        self.stream = torch.cuda.Stream(device)

    def stage(self, indices: np.ndarray) -> tuple[Any, torch.cuda.Event]:
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            moved = to_device(pinned(self.data.gather(indices)), self.device, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(self.stream)
        return moved, copied

    def receive(self, staged: tuple[Any, torch.cuda.Event]) -> Any:
        moved, copied = staged
        step_stream = torch.cuda.current_stream(self.device)
        step_stream.wait_event(copied)
        for tensor in tensors_in(moved):
            tensor.record_stream(step_stream)  # allocated on the copy stream: not reused while the step reads it
        return self.data.assemble(moved, self.device)


def staging_for(data: TrainingData, device: torch.device) -> Staging:
    return CudaStaging(data, device) if device.type == "cuda" else Staging(data, device)
