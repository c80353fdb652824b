"""The serving cache of encoders: bounded by the bytes of their weights as well as their count, LRU first."""

from pathlib import Path

import pytest
import torch

from app.core.cache import BlobCache
from app.core.storage.local import LocalStorage
from app.embeddings.admission import PixelGate
from app.embeddings.batching import BatchLimits
from app.embeddings.images import ImageBudget
from app.embeddings.service import EncoderCache, serving_device
from app.models.service import ENCODER_FILE
from selfsup.backbones import create_backbone
from selfsup.methods import get_method
from selfsup.train.export import export_encoder


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> LocalStorage:
    """Three tiny_cnn encoders stored as models m0, m1, m2 are (below models/mX/)."""
    root = tmp_path_factory.mktemp("store")
    storage = LocalStorage(root)
    spec = get_method("simclr")
    params = spec.validate({"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32, "warmup_epochs": 0})
    for index in range(3):
        method = spec.method_cls(params, create_backbone("tiny_cnn", image_size=16))
        path = export_encoder(method, "simclr", root / f"encoder-{index}.pt")
        storage.put_file(path, f"models/m{index}/{ENCODER_FILE}")
    return storage


def cache_of(storage: LocalStorage, tmp: Path, *, max_bytes: int | None, capacity: int = 10) -> EncoderCache:
    return EncoderCache(
        capacity,
        blobs=BlobCache(storage, tmp / "cache", max_bytes=1 << 30),
        limits=BatchLimits(max_batch=64, max_wait=0.002, queue_limit=512),
        threads=1,
        max_requests=8,
        preparing=2,
        images=ImageBudget(max_pixels=1 << 24, scale=32, max_request_pixels=1 << 26, decoding=PixelGate(1 << 28)),
        max_bytes=max_bytes,
    )


def test_the_least_recently_used_encoder_goes_when_the_weights_pass_the_byte_budget(
    stored: LocalStorage, tmp_path: Path
) -> None:
    one = cache_of(stored, tmp_path, max_bytes=None).get("m0", "models/m0").weight_bytes
    cache = cache_of(stored, tmp_path, max_bytes=int(2.5 * one))  # room for two
    cache.get("m0", "models/m0")
    cache.get("m1", "models/m1")
    cache.get("m0", "models/m0")  # m0 used last: m1 is now the least recently used
    cache.get("m2", "models/m2")
    assert list(cache._entries) == ["m0", "m2"] and cache.loaded_bytes == 2 * one


def test_a_model_larger_than_the_budget_is_still_served_alone(stored: LocalStorage, tmp_path: Path) -> None:
    cache = cache_of(stored, tmp_path, max_bytes=1)
    cache.get("m0", "models/m0")
    served = cache.get("m1", "models/m1")
    assert list(cache._entries) == ["m1"] and cache.loaded_bytes == served.weight_bytes


def test_the_count_bound_still_holds(stored: LocalStorage, tmp_path: Path) -> None:
    cache = cache_of(stored, tmp_path, max_bytes=None, capacity=1)
    cache.get("m0", "models/m0")
    cache.get("m1", "models/m1")
    assert list(cache._entries) == ["m1"]


def test_holds_says_which_models_get_would_answer_without_loading(stored: LocalStorage, tmp_path: Path) -> None:
    cache = cache_of(stored, tmp_path, max_bytes=None, capacity=1)
    assert not cache.holds("m0")
    cache.get("m0", "models/m0")
    assert cache.holds("m0")
    cache.get("m1", "models/m1")  # evicts m0
    assert not cache.holds("m0") and cache.holds("m1")
    cache.discard("m1")
    assert not cache.holds("m1")


def test_the_serving_device_is_cpu_without_cuda_and_a_missing_gpu_fails_fast() -> None:
    if torch.cuda.is_available():
        assert serving_device("auto") == "cuda"
        return
    assert serving_device("auto") == "cpu" and serving_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="no CUDA device"):
        serving_device("cuda:0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_encoders_load_on_the_gpu_in_a_precision_within_parity(stored: LocalStorage, tmp_path: Path) -> None:
    cache = cache_of(stored, tmp_path, max_bytes=None)
    cache.device, cache.precision, cache.runtime = "cuda", "auto", "onnx"  # onnx serves CPU models only
    served = cache.get("m0", "models/m0")
    assert served.encoder.device.type == "cuda" and served.precision.name in ("bf16", "fp16", "fp32")
