"""The encoder contract shared by every modality, and the registry that rebuilds an encoder from its spec.

An encoder is an ``nn.Module`` whose ``forward(batch)`` returns pooled embeddings (B, ``dim``) and whose
``spec.to_dict()`` is a JSON-ready dict with a ``"kind"`` key from which :func:`encoder_from_spec`
rebuilds the same architecture (weights are loaded separately). Image backbones (:mod:`selfsup.backbones`),
text transformers (:mod:`selfsup.text.encoder`), table encoders (:mod:`selfsup.tabular.encoders`) and the
two-tower image-text encoder all meet it, which is what lets one training loop, one checkpoint format and
one serving path handle them all.
"""

import importlib
from collections.abc import Callable
from typing import Any, Protocol

from torch import nn

from selfsup.errors import CheckpointError


class EncoderSpec(Protocol):
    name: str

    def to_dict(self) -> dict[str, Any]: ...


Builder = Callable[[dict[str, Any]], nn.Module]

# The module that registers each kind, imported when a spec of that kind is first read, so that reading an
# image model never imports transformers.
_KIND_MODULES = {
    "image": "selfsup.backbones",
    "text_transformer": "selfsup.text.encoder",
    "text_bag": "selfsup.text.bag",
    "tabular_mlp": "selfsup.tabular.encoders",
    "ft_transformer": "selfsup.tabular.encoders",
    "image_text": "selfsup.methods.clip",
}
_BUILDERS: dict[str, Builder] = {}


def register_encoder_kind(kind: str) -> Callable[[Builder], Builder]:
    """Register ``builder(spec_dict) -> encoder`` for specs whose ``"kind"`` is ``kind``."""

    def add(builder: Builder) -> Builder:
        if kind in _BUILDERS:
            raise ValueError(f"encoder kind {kind!r} is registered twice")
        _BUILDERS[kind] = builder
        return builder

    return add


def encoder_from_spec(raw: dict[str, Any]) -> nn.Module:
    """Rebuild a randomly initialized encoder from ``spec.to_dict()``; specs without a kind are image backbones
    (files written before there were other modalities)."""
    kind = str(raw.get("kind", "image"))
    if kind in _KIND_MODULES:
        importlib.import_module(_KIND_MODULES[kind])
    if kind not in _BUILDERS:
        raise CheckpointError(f"unknown encoder kind {kind!r}; known: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[kind](raw)
