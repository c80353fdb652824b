"""Writing an :class:`~selfsup.encoder.Encoder` in formats other runtimes read.

- ONNX and TorchScript: one graph per tower (see :mod:`selfsup.export.towers`), canonical tensors in, unit
  vectors out, the batch axis (and a text tower's sequence axis) dynamic. A single-tower model has one tower;
  an image-text model has two, "image" and "text", each written to its own file.
- safetensors: the network's, head's and whitening's weights (``model.safetensors``) plus ``config.json``, the spec from
  which :func:`selfsup.encoders.encoder_from_spec` rebuilds the network, and the serving assets (tokenizer,
  table schema). :func:`load_safetensors` reads them back into an ``Encoder``.
"""

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from selfsup.encoder import Encoder
from selfsup.encoders import encoder_from_spec
from selfsup.errors import CheckpointError
from selfsup.export.towers import Tower, towers
from selfsup.train.export import head_from_payload
from selfsup.whitening import Whitening

SAFETENSORS_FORMAT = "selfsup.safetensors/1"
ONNX_OPSET = 17
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def tower_of(encoder: Encoder, tower: str | None) -> Tower:
    """The tower named ``tower`` ("image", "text", "row"); None picks a single-tower model's only one."""
    available = towers(encoder)
    if tower is None and len(available) == 1:
        return next(iter(available.values()))
    if tower not in available:
        raise ValueError(f"this {encoder.modality} model has towers {', '.join(available)}; name one, not {tower!r}")
    return available[tower]


def to_onnx(encoder: Encoder, path: Path | str, *, tower: str | None = None) -> Path:
    """Write one tower as an ONNX graph (opset 17) with inputs and output named as its ``TensorSpec``s."""
    module = tower_of(encoder, tower)
    axes = {spec.name: spec.dynamic_axes for spec in (*module.inputs, module.output)}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python values it records as constants
        torch.onnx.export(
            module,
            module.example_inputs(),
            str(path),
            input_names=[spec.name for spec in module.inputs],
            output_names=[module.output.name],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return Path(path)


def to_torchscript(encoder: Encoder, path: Path | str, *, tower: str | None = None) -> Path:
    """Write one tower as a traced TorchScript module (``torch.jit.load(path)(*inputs)``)."""
    module = tower_of(encoder, tower)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, module.example_inputs(), check_trace=False)
    traced.save(str(path))
    return Path(path)


def safetensors_config(encoder: Encoder) -> dict[str, Any]:
    """What rebuilds ``encoder`` apart from its weights: JSON-ready."""
    config: dict[str, Any] = {
        "format": SAFETENSORS_FORMAT,
        "method": encoder.method,
        "modality": encoder.modality,
        "dim": encoder.dim,
        "backbone": encoder.backbone.spec.to_dict(),
        "assets": encoder.assets,
    }
    if encoder.head is not None:
        config["head"] = {"kind": "linear", "in_features": encoder.head.in_features, "out_features": encoder.dim}
    if encoder.whitening is not None:
        config["whitening"] = {"kind": "zca"}
    return config


def to_safetensors(encoder: Encoder, directory: Path | str) -> Path:
    """Write ``model.safetensors`` (keys ``backbone.*`` and ``head.*``) and ``config.json`` into ``directory``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {f"backbone.{k}": v for k, v in encoder.backbone.state_dict().items()}
    if encoder.head is not None:
        weights |= {f"head.{k}": v for k, v in encoder.head.state_dict().items()}
    if encoder.whitening is not None:
        weights |= {f"whitening.{k}": v for k, v in encoder.whitening.state_dict().items()}
    # safetensors refuses tensors sharing storage (tied embeddings): each gets its own contiguous copy.
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in weights.items()}, str(folder / WEIGHTS_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(safetensors_config(encoder), indent=2))
    return folder


def load_safetensors(directory: Path | str, *, device: str | None = None) -> Encoder:
    """Inverse of :func:`to_safetensors`: the network rebuilt from its spec, then its weights loaded."""
    folder = Path(directory)
    config = json.loads((folder / CONFIG_FILE).read_text())
    if config.get("format") != SAFETENSORS_FORMAT:
        raise CheckpointError(f"{folder / CONFIG_FILE} is not a {SAFETENSORS_FORMAT} config")
    weights = load_file(str(folder / WEIGHTS_FILE))
    network = encoder_from_spec(config["backbone"])
    network.load_state_dict(_part(weights, "backbone."))
    head = None
    if "head" in config:
        head = head_from_payload({**config["head"], "state_dict": _part(weights, "head.")})
    whitening = None
    if "whitening" in config:
        whitening = Whitening.from_payload({**config["whitening"], **_part(weights, "whitening.")})
    return Encoder(
        network,
        method=config["method"],
        modality=config["modality"],
        head=head,
        assets=config["assets"],
        whitening=whitening,
        device=device,
    )


def _part(weights: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
