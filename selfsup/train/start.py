"""What a run starts from: its method built from the seed, the one construction path both a Trainer and its
evaluation's baseline take."""

from typing import Any

import torch

from selfsup.data.base import TrainingData
from selfsup.errors import SelfSupError
from selfsup.methods import MethodSpec
from selfsup.methods.base import SSLMethod


def build_method(spec: MethodSpec, params: Any, data: TrainingData, inputs: dict[str, Any]) -> SSLMethod:
    """The method at its initial weights, on the CPU: the global RNG seeded with ``params.seed`` (the random
    init is part of the run's identity), then the data's encoder (random, or the pretrained weights
    ``params.pretrained`` names) and the method around it, built with ``inputs`` (a teacher) besides."""
    torch.manual_seed(params.seed)
    if data.modality not in spec.modalities:
        raise SelfSupError(f"method {spec.name!r} does not train on {data.modality} data")
    return spec.method_cls(params, data.create_encoder(params), **inputs)


def initial_method(spec: MethodSpec, params: Any, data: TrainingData, inputs: dict[str, Any]) -> SSLMethod:
    """:func:`build_method` again, on a forked CPU RNG so the caller's random stream is untouched: the exact
    weights a run with these arguments started from, however far it has trained since."""
    with torch.random.fork_rng(devices=[]):
        return build_method(spec, params, data, inputs)
