"""Distillation teachers from pretrained image models: a folder in the same timm Hub layout a ``pretrained``
start reads (see :mod:`selfsup.pretrained_backbones`), as a frozen :class:`~selfsup.encoder.Encoder`.

The teacher is built as the architecture its ``config.json`` names, at the student's image size (as a
pretrained start keeps the dataset's size: a ResNet keeps its 7x7 stem, a ViT's embeddings are resampled), and
serves its pooled trunk features: the vector a timm model gives before its classifier head.
"""

from pathlib import Path

from selfsup.encoder import Encoder
from selfsup.pretrained_backbones import check_pretrained_backbone, load_pretrained_backbone, pretrained_backbone_name

TEACHER_METHOD = "pretrained"  # what the Encoder records as its training method: none of this service's


def check_pretrained_teacher(model_dir: str | Path) -> str:
    """The teacher's backbone name, after checking the folder as a pretrained start is checked (config and
    the weights' header only); raises :class:`~selfsup.pretrained_backbones.PretrainedModelError`."""
    backbone = pretrained_backbone_name(model_dir)
    check_pretrained_backbone(model_dir, backbone=backbone)
    return backbone


def load_pretrained_teacher(model_dir: str | Path, *, image_size: int) -> Encoder:
    """The model in ``model_dir`` as a frozen image encoder on the CPU, for ``image_size`` px inputs."""
    network = load_pretrained_backbone(model_dir, backbone=pretrained_backbone_name(model_dir), image_size=image_size)
    return Encoder(network, method=TEACHER_METHOD, modality="image")
