"""Exporting a trained encoder to ONNX, TorchScript and safetensors, with its model card."""

from selfsup.export.card import model_card, side_files
from selfsup.export.formats import load_safetensors, to_onnx, to_safetensors, to_torchscript, tower_of
from selfsup.export.towers import TensorSpec, Tower, towers

__all__ = [
    "TensorSpec",
    "Tower",
    "load_safetensors",
    "model_card",
    "side_files",
    "to_onnx",
    "to_safetensors",
    "to_torchscript",
    "tower_of",
    "towers",
]
