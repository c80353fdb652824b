"""Loading encoders lazily (LRU cache, one batcher each) and turning client inputs into embeddings."""

import asyncio
import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
import torch
from anyio import to_thread
from starlette.concurrency import run_in_threadpool

from app.core.cache import BlobCache
from app.core.config import Settings
from app.core.errors import FieldErrors
from app.embeddings.admission import RequestGate
from app.embeddings.batching import BatchLimits, EmbeddingBatcher
from app.embeddings.images import ImageBudget, canonical_images
from app.models.service import ENCODER_FILE
from selfsup.device import pick_device
from selfsup.encoder import Encoder
from selfsup.export.runtime import onnx_embedders
from selfsup.precision import PrecisionChoice, choose_precision, weight_bytes
from selfsup.tabular.rows import InvalidRowError

log = logging.getLogger(__name__)
FULL_PRECISION = PrecisionChoice("fp32", None, {})


@dataclass(frozen=True)
class ServedModel:
    encoder: Encoder
    # One per input kind the model takes ("image", "text", "row"): each runs the encoder on its own thread,
    # batching concurrent requests of that kind.
    batchers: dict[str, EmbeddingBatcher]
    weight_bytes: int  # of its parameters and buffers on its device: what the cache's byte budget counts
    precision: PrecisionChoice


class EncoderCache:
    """Keeps the most recently used encoders in memory, each with its batcher; loads each model once.

    Bounded by ``capacity`` models and by ``max_bytes`` of their weights (the newest stays even alone over it),
    least recently used evicted first. Encoders load on ``device`` in the precision ``precision`` resolves to
    for each (selfsup.precision: half only where the vectors keep their fp32 direction).

    Also holds the gate on embedding requests in progress, the image budgets and the bound on threads preparing
    inputs, the rest of the route's admission control.
    """

    def __init__(
        self,
        capacity: int,
        *,
        blobs: BlobCache,
        limits: BatchLimits,
        threads: int,
        max_requests: int,
        preparing: int,
        images: ImageBudget,
        runtime: str = "torch",
        device: str = "cpu",
        precision: str = "fp32",
        max_bytes: int | None = None,
    ) -> None:
        self.capacity = capacity
        self.device = device
        self.precision = precision
        self.max_bytes = max_bytes
        self.runtime = runtime  # "torch" or "onnx" (see Settings.serve_runtime)
        self.blobs = blobs  # where encoders are read from: a local copy of the model's stored folder
        self.images = images
        self.limits = limits
        self.threads = threads
        self.gate = RequestGate(max_requests)
        # The threads that prepare requests' inputs (JSON, base64, image decoding): a few, for the cores. Under load
        # the thread pool's 40 threads all prepared at once on two cores, and their fight for the GIL doubled
        # the CPU per request, the event loop's included (in-process, 64 concurrent requests of four 24 px
        # PNGs: 1.6-2.2 CPU ms per request with 40 threads, 1.0-1.1 with 2). Waiting requests wait on the loop.
        self.preparing = anyio.CapacityLimiter(preparing)
        self._entries: OrderedDict[str, ServedModel] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "EncoderCache":
        limits = BatchLimits(
            max_batch=settings.embed_max_batch,
            max_wait=settings.embed_max_wait_ms / 1000,
            queue_limit=settings.embed_queue_limit,
        )
        return cls(
            settings.encoder_cache_size,
            blobs=BlobCache.from_settings(settings),
            limits=limits,
            threads=settings.embed_threads,
            max_requests=settings.embed_max_requests,
            preparing=settings.embed_prepare_threads,
            images=ImageBudget.from_settings(settings),
            runtime=settings.serve_runtime,
            device=serving_device(settings.serve_device),
            precision=settings.serve_precision,
            max_bytes=settings.encoder_cache_bytes,
        )

    @property
    def loaded_bytes(self) -> int:
        with self._lock:
            return sum(entry.weight_bytes for entry in self._entries.values())

    def holds(self, model_id: str) -> bool:
        """Whether the model is loaded now (:meth:`get` would answer without loading it)."""
        with self._lock:
            return model_id in self._entries

    def get(self, model_id: str, key: str) -> ServedModel:
        """The model stored below ``key``, loaded on first use."""
        with self._lock:
            if model_id in self._entries:
                self._entries.move_to_end(model_id)
                return self._entries[model_id]
            loading = self._loading.setdefault(model_id, threading.Lock())
        with loading:  # the first caller loads (it can take a while); concurrent callers for it wait
            with self._lock:
                if model_id in self._entries:
                    return self._entries[model_id]
            served = self._load(model_id, key)
            with self._lock:
                self._entries[model_id] = served
                self._loading.pop(model_id, None)
                self._evict()
        return served

    def discard(self, model_id: str) -> None:
        """Forget a deleted model's encoder: its memory is freed and nothing here serves it again."""
        with self._lock:
            self._entries.pop(model_id, None)

    def _load(self, model_id: str, key: str) -> ServedModel:
        with self.blobs.local(key) as folder:
            encoder = Encoder.load(folder / ENCODER_FILE, device=self.device)
        on_onnx = self.runtime == "onnx" and encoder.device.type == "cpu"
        precision = FULL_PRECISION if on_onnx else choose_precision(encoder, self.precision)
        served = ServedModel(encoder, self._batchers(encoder, model_id), weight_bytes(encoder), precision)
        log.info(
            "loaded model %s on %s in %s (%d weight bytes; half precision probe cosines %s)",
            *(model_id, encoder.device, precision.name, served.weight_bytes, precision.measured or "not measured"),
        )
        return served

    def _evict(self) -> None:
        """Least recently used first, past ``capacity`` models or ``max_bytes`` (always keeping the newest)."""

        def over() -> bool:
            if len(self._entries) > self.capacity:
                return True
            total = sum(entry.weight_bytes for entry in self._entries.values())
            return self.max_bytes is not None and total > self.max_bytes and len(self._entries) > 1

        while over():
            self._entries.popitem(last=False)  # its worker thread ends after an idle spell

    def _batchers(self, encoder: Encoder, model_id: str) -> dict[str, EmbeddingBatcher]:
        batchers = {}
        on_onnx = self.runtime == "onnx" and encoder.device.type == "cpu"
        graphs = onnx_embedders(encoder, threads=self.threads) if on_onnx else {}
        for kind in encoder.input_kinds:
            embed, join = _KIND_EMBED[kind](encoder)
            run = graphs[kind] if on_onnx else _with_threads(embed, self.threads)
            name = model_id if len(encoder.input_kinds) == 1 else f"{model_id}-{kind}"
            batchers[kind] = EmbeddingBatcher(run, limits=self.limits, name=name, join=join)
        return batchers


def serving_device(setting: str) -> str:
    """``SELFSUP_SERVE_DEVICE`` -> a torch device name; a CUDA device that is not there fails at startup."""
    device = pick_device(None if setting == "auto" else setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"SELFSUP_SERVE_DEVICE={setting} but torch sees no CUDA device here")
    return str(device)


def _image_embed(encoder: Encoder) -> tuple[Callable[[Any], np.ndarray], Callable[[Sequence[Any]], Any]]:
    return encoder.embed, np.concatenate


def _text_embed(encoder: Encoder) -> tuple[Callable[[Any], np.ndarray], Callable[[Sequence[Any]], Any]]:
    pad = encoder.text_preprocessor.pad
    return encoder.embed_tokens, lambda batches: type(batches[0]).concat(batches, pad)


def _row_embed(encoder: Encoder) -> tuple[Callable[[Any], np.ndarray], Callable[[Sequence[Any]], Any]]:
    return encoder.embed_table, lambda batches: functools.reduce(lambda a, b: a.cat(b), batches)


# For each input kind: the encoder call on prepared inputs, and how several requests' inputs make one batch.
_KIND_EMBED = {"image": _image_embed, "text": _text_embed, "row": _row_embed}


def _with_threads(embed: Callable[[Any], np.ndarray], threads: int) -> Callable[[Any], np.ndarray]:
    """``embed`` using ``threads`` CPU threads in the calling (worker) thread.

    Concurrent requests already run in parallel (decoding in their own threads, one worker per model), and
    on a small or shared CPU spreading one small batch over every core costs more in synchronization than it
    saves: on two busy cores, four 16 px images took 12 ms of CPU with torch's default two threads and 0.5 ms
    with one. torch keeps the count per thread (and makes it the default for threads started later).
    """

    def run(inputs: Any) -> np.ndarray:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return embed(inputs)

    return run


async def embed_batched(prepared: "PreparedInputs") -> np.ndarray:
    """Prepared inputs -> (B, D), run in a batch with concurrent requests; raises Saturated if the queue is full.

    A vector that is not finite (an input the network overflowed on) is refused with 422 naming the input:
    answering NaN would hand the client something that looks like an embedding and compares as nothing.
    """
    vectors = await asyncio.wrap_future(prepared.batcher.submit(prepared.items))
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        index = int(np.flatnonzero(~finite)[0])
        message = "the model's embedding of this input is not finite (a value far outside what it was trained on)"
        raise FieldErrors([(("body", prepared.field, index), message)])
    return vectors


@dataclass(frozen=True)
class ClientInputs:
    """What a client sent to be embedded, before any preparation."""

    kind: str  # "image" (encoded files), "text" (strings), "token_ids" (lists of ints) or "row" (JSON objects)
    values: Sequence[Any]
    field: str  # where in the body they came from, for error locations

    @property
    def encoder_kind(self) -> str:
        return "text" if self.kind == "token_ids" else self.kind


@dataclass(frozen=True)
class PreparedInputs:
    batcher: EmbeddingBatcher
    items: Any  # what the batcher takes: (B, S, S, 3) images, a TokenBatch or a TableBatch
    tokens: int  # tokens the encoder reads (text), 0 for other inputs
    field: str  # where in the body the inputs came from, for error locations


def prepare_inputs(cache: EncoderCache, *, model_id: str, key: str, inputs: ClientInputs) -> PreparedInputs:
    """In the request's own thread: load the model (once), check it takes this kind of input, refuse at once if
    its queue is full (so a saturated server wastes no preparation), then prepare the inputs exactly as
    training data was prepared. Bad inputs are 422s naming the item (and, for rows, the column)."""
    served = cache.get(model_id, key)
    kind = inputs.encoder_kind
    if kind not in served.batchers:
        takes = " and ".join(f"{k}s" for k in served.encoder.input_kinds)
        raise FieldErrors([(("body", inputs.field), f"model {model_id} embeds {takes}, not {kind}s")])
    batcher = served.batchers[kind]
    batcher.check_room(len(inputs.values))
    items = _prepare(served.encoder, inputs, cache.images)
    tokens = int(items.attention_mask.sum()) if kind == "text" else 0
    return PreparedInputs(batcher, items, tokens, inputs.field)


async def prepare_off_loop(cache: EncoderCache, *, model_id: str, key: str, inputs: ClientInputs) -> PreparedInputs:
    """:func:`prepare_inputs` on one of the threads that prepare inputs (``cache.preparing``); a model that is not
    loaded yet loads in the general pool first, so that a slow load holds none of those few threads."""
    if not cache.holds(model_id):
        await run_in_threadpool(cache.get, model_id, key)
    prepare = functools.partial(prepare_inputs, cache, model_id=model_id, key=key, inputs=inputs)
    return await to_thread.run_sync(prepare, limiter=cache.preparing)


def _prepare(encoder: Encoder, inputs: ClientInputs, images: ImageBudget) -> Any:
    field, values = inputs.field, inputs.values
    if inputs.kind == "image":
        return canonical_images(values, image_size=encoder.image_size, field=field, budget=images)
    if inputs.kind == "text":
        return encoder.prepare_texts(values)
    if inputs.kind == "token_ids":
        try:
            return encoder.prepare_token_ids(values)
        except ValueError as exc:  # an id outside the vocabulary, named as input[i][j]
            raise FieldErrors([(("body", field), str(exc))]) from None
    try:
        return encoder.prepare_rows(values)
    except InvalidRowError as exc:
        column = (exc.column,) if exc.column else ()
        raise FieldErrors([(("body", field, exc.index, *column), str(exc))]) from None
