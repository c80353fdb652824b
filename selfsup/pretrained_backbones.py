"""Image backbones that start from pretrained timm weights, for domain-adaptive pretraining: self-supervised
training continued on the user's images from a network trained elsewhere (as Gururangan et al., 2020,
"Don't Stop Pretraining", continue language models on their domain; Reed et al., 2022, "Self-Supervised
Pretraining Improves Self-Supervised Pretraining", do it for images).

A pretrained image model is a folder in timm's own Hugging Face Hub layout, so that a downloaded
``timm/<model>`` repository can be placed as it is::

    <name>/config.json          {"architecture": "resnet18", "pretrained_cfg": {"mean": [..], "std": [..]}}
    <name>/model.safetensors    the network's state dict with timm's key names; a classifier head is dropped

``architecture`` is one of the timm architectures a backbone of this service is built from
(:data:`selfsup.backbones.TIMM_ARCHITECTURES`); ``pretrained_cfg`` is optional, and its ``mean`` and ``std``
(ImageNet's by default) become the backbone's input normalization, recorded in its spec so that serving
normalizes as the weights expect. The input size is the dataset's: a ResNet keeps its pretrained stem (its 7x7
weights are part of the trunk) rather than the small-image stem, and a ViT's patch embedding and position
embedding are resampled to the patch size and grid the image size gives, by timm's own checkpoint filter
(FlexiViT's pseudo-inverse resize for the patches, Beyer et al., 2023).

The weights must match the architecture key for key, apart from the head: a missing, unexpected or misshapen
tensor is an error that names it, never a partly random start.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from timm.models.vision_transformer import checkpoint_filter_fn

from selfsup.backbones import TIMM_ARCHITECTURES, Backbone, BackboneSpec, backbone_from_spec, is_vit, vit_patch_size
from selfsup.errors import SelfSupError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
_BACKBONE_OF = {arch: name for name, arch in TIMM_ARCHITECTURES.items()}
_RESAMPLED = ("pos_embed", "patch_embed.proj.weight")  # a ViT's, fitted to the image size on loading
_LISTED = 5  # key names an error quotes before "and N more"
_CHECK_SIZE = 224  # any size: only the resampled tensors' shapes depend on it

Shapes = dict[str, tuple[int, ...]]


class PretrainedModelError(SelfSupError, ValueError):
    """A pretrained model folder that cannot start this backbone: missing, unreadable or of another shape."""


@dataclass(frozen=True)
class PretrainedImageConfig:
    """What a pretrained folder's ``config.json`` says, checked."""

    name: str  # the folder's name: where training started, recorded in the backbone's spec
    backbone: str  # this service's backbone name for the architecture
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    def spec(self, image_size: int) -> BackboneSpec:
        """The backbone these weights fit, at ``image_size``: the pretrained stem, the size's ViT patch."""
        patch = vit_patch_size(image_size) if is_vit(self.backbone) else None
        return BackboneSpec(self.backbone, image_size, False, patch, mean=self.mean, std=self.std, pretrained=self.name)


def read_pretrained_config(model_dir: str | Path, *, backbone: str) -> PretrainedImageConfig:
    """The checked config of the model in ``model_dir``, whose architecture must be ``backbone``'s."""
    folder = Path(model_dir)
    raw = _config_json(folder)
    found = _backbone_of(folder, raw.get("architecture"))
    if found != backbone:
        named = f"{CONFIG_FILE}: {raw['architecture']!r}"
        raise _error(folder, f"it is a {found} ({named}), but backbone is {backbone!r}: set backbone to {found!r}")
    normalization = raw.get("pretrained_cfg") or {}
    if not isinstance(normalization, dict):
        raise _error(folder, f"{CONFIG_FILE}: pretrained_cfg must be an object")
    mean, std = (_channels(folder, normalization, key) for key in ("mean", "std"))
    if std is not None and min(std) <= 0:
        raise _error(folder, f"{CONFIG_FILE}: every std must be positive, not {list(std)}")
    return PretrainedImageConfig(folder.name, found, mean, std)


def pretrained_backbone_name(model_dir: str | Path) -> str:
    """This service's backbone name for the architecture the model in ``model_dir`` says it is: what a teacher,
    which names no backbone of its own, is built as."""
    folder = Path(model_dir)
    return _backbone_of(folder, _config_json(folder).get("architecture"))


def _backbone_of(folder: Path, architecture: Any) -> str:
    """This service's backbone name for a timm architecture; "resnet18.a1_in1k" is resnet18 with a tag."""
    base = architecture.split(".")[0] if isinstance(architecture, str) else None
    if base not in _BACKBONE_OF:
        known = ", ".join(sorted(_BACKBONE_OF))
        raise _error(folder, f"{CONFIG_FILE} names architecture {architecture!r}, not one of {known}")
    return _BACKBONE_OF[base]


def check_pretrained_backbone(model_dir: str | Path, *, backbone: str) -> None:
    """Raise :class:`PretrainedModelError` unless ``model_dir`` can start ``backbone``, reading only the config
    and the weights' header (cheap enough for a request): the tensors' names, and their shapes where no
    resampling fits them (a ViT's patch and position embeddings)."""
    folder = Path(model_dir)
    config = read_pretrained_config(folder, backbone=backbone)
    with torch.device("meta"):  # the architecture's shapes, with no memory and no init
        trunk = backbone_from_spec(config.spec(_CHECK_SIZE)).trunk
    found = {key: shape for key, shape in _header_shapes(folder).items() if not _is_classifier(trunk, key)}
    resampled = _RESAMPLED if is_vit(config.backbone) else ()
    _check_shapes(folder, _shapes(trunk.state_dict()), found, resampled=resampled)


def load_pretrained_backbone(model_dir: str | Path, *, backbone: str, image_size: int) -> Backbone:
    """A ``backbone`` for ``image_size`` images holding the weights in ``model_dir``; never downloads anything."""
    folder = Path(model_dir)
    config = read_pretrained_config(folder, backbone=backbone)
    model = backbone_from_spec(config.spec(image_size))
    weights = _trunk_weights(folder, model)
    _check_shapes(folder, _shapes(model.trunk.state_dict()), _shapes(weights), resampled=())
    if bad := [key for key, value in weights.items() if value.is_floating_point() and not value.isfinite().all()]:
        raise _error(folder, f"{WEIGHTS_FILE} holds NaN or infinite values in {_listed(bad)}")
    model.trunk.load_state_dict(weights, strict=True)
    return model


def _config_json(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise _error(folder, "no such folder")
    try:
        raw = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _error(folder, f"it has no {CONFIG_FILE}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _error(folder, f"{CONFIG_FILE} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise _error(folder, f"{CONFIG_FILE} must hold a JSON object")
    return raw


def _channels(folder: Path, raw: dict[str, Any], key: str) -> tuple[float, ...] | None:
    values = raw.get(key)
    if values is None:
        return None
    if not isinstance(values, list) or len(values) != 3 or not all(_is_number(v) for v in values):
        raise _error(folder, f"{CONFIG_FILE}: pretrained_cfg.{key} must be 3 numbers (R, G, B), not {values!r}")
    return tuple(float(v) for v in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _header_shapes(folder: Path) -> Shapes:
    """Tensor names and shapes from the safetensors header, without reading the tensors."""
    try:
        with safe_open(str(folder / WEIGHTS_FILE), framework="pt") as weights:
            return {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}  # noqa: SIM118
    except FileNotFoundError:
        raise _error(folder, f"it has no {WEIGHTS_FILE}") from None
    except Exception as exc:  # safetensors raises its own error type for a torn or foreign file
        raise _error(folder, f"{WEIGHTS_FILE} is not a readable safetensors file: {exc}") from None


def _trunk_weights(folder: Path, model: Backbone) -> dict[str, torch.Tensor]:
    """The file's tensors without the classifier head, a ViT's fitted to the model's patch size and grid."""
    _header_shapes(folder)  # a torn file is named as such, before the full read
    try:
        weights = load_file(str(folder / WEIGHTS_FILE))
    except Exception as exc:
        raise _error(folder, f"{WEIGHTS_FILE} is not a readable safetensors file: {exc}") from None
    weights = {key: value for key, value in weights.items() if not _is_classifier(model.trunk, key)}
    return checkpoint_filter_fn(weights, model.trunk) if is_vit(model.spec.name) else weights  # type: ignore[arg-type]


def _check_shapes(folder: Path, expected: Shapes, found: Shapes, *, resampled: tuple[str, ...]) -> None:
    missing, unexpected = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    misshapen = [
        f"{key} {list(found[key])} (the architecture's is {list(expected[key])})"
        for key in sorted(expected.keys() & found.keys())
        if key not in resampled and expected[key] != found[key]
    ]
    problems = [
        f"{label} {_listed(keys)}"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("misshapen", misshapen))
        if keys
    ]
    if problems:
        raise _error(folder, f"{WEIGHTS_FILE} does not fit the architecture: " + "; ".join(problems))


def _is_classifier(trunk: torch.nn.Module, key: str) -> bool:
    """A key of the classifier head timm names in the architecture's config ("fc" for ResNets, "head" for ViTs);
    the trunk is built without one."""
    classifier = getattr(trunk, "pretrained_cfg", {}).get("classifier") or ()
    names = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    return any(key.startswith(f"{name}.") for name in names)


def _shapes(weights: dict[str, torch.Tensor]) -> Shapes:
    return {key: tuple(value.shape) for key, value in weights.items()}


def _listed(keys: list[str]) -> str:
    more = f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else ""
    return ", ".join(keys[:_LISTED]) + more


def _error(folder: Path, problem: str) -> PretrainedModelError:
    """Named by the folder's name only: over HTTP that is the name the caller gave, never a host path."""
    return PretrainedModelError(f"pretrained model {folder.name!r}: {problem}")
