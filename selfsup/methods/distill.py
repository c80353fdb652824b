"""Distillation: a student backbone learns to reproduce a frozen teacher's embeddings on unlabeled images.

The student's pooled features go through a projection into the teacher's feature space and are pulled onto
the teacher's features of the same image (Hinton et al., 2015, "Distilling the Knowledge in a Neural Network",
applied to embeddings rather than logits, as LightlyTrain's ``distillation`` does with a large pretrained
teacher). Teacher and student see one and the same augmented view: Beyer et al. (2022, "Knowledge
distillation: A good teacher is patient and consistent") find that a teacher shown the same crop as its
student ("consistent teaching") beats one shown a fixed or a separately drawn view, since the student is then
asked to match the teacher's function wherever it is evaluated, never a target it cannot see.

The teacher stays outside the module tree: it is not in the state dict (checkpoints hold the student and
the projection only, and a resumed run is handed its teacher again), not moved by ``.to()``, not switched by
``.train()`` (its BatchNorm statistics never move), and not seen by the optimizer.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from selfsup.augment import ViewAugment, simclr_view
from selfsup.backbones import Backbone
from selfsup.errors import SelfSupError
from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.params import TrainingParams

if TYPE_CHECKING:  # a type only: selfsup.encoder imports the method registry, which imports this module
    from selfsup.encoder import Encoder

DistillLoss = Literal["cosine", "mse"]


@dataclass(frozen=True, kw_only=True)
class DistillParams(TrainingParams):
    teacher: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="The model to learn from, one that embeds images. Over HTTP: the id or alias of one of "
            "your models (an alias is pinned to its model at submit). In the engine: a name recorded with "
            "the run; the Trainer is handed the loaded teacher itself.",
        ),
    ]
    loss: Annotated[
        DistillLoss,
        Field(
            description="cosine: 1 - cos(student projection, teacher features), direction only (what serving "
            "compares, as vectors are L2-normalized). mse: mean squared error against the teacher's raw "
            "features, length included (LightlyTrain's distillation v2)."
        ),
    ] = "cosine"
    projection_hidden_dim: Annotated[
        int,
        Field(
            ge=0,
            le=8192,
            description="Hidden width of the projection from the student's features to the teacher's; 0 makes it "
            "one linear layer.",
        ),
    ] = 0
    augment: Annotated[
        bool,
        Field(
            description="Random crops, flips and colour jitter, one view per image seen by teacher and student "
            "alike; off, both see the stored images as they are."
        ),
    ] = True
    min_scale: Annotated[float, Field(gt=0, le=1, description="Smallest crop, as area fraction.")] = 0.2
    jitter_strength: Annotated[float, Field(ge=0, le=2, description="Colour distortion strength s.")] = 0.5


def cosine_distance(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - cos(prediction_i, target_i), averaged over the batch: (B, D), (B, D) -> scalar in [0, 2]."""
    return 1 - F.cosine_similarity(prediction, target, dim=1).mean()


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (prediction, target), both (B, T) -> scalar
LOSSES: dict[str, Loss] = {"cosine": cosine_distance, "mse": F.mse_loss}


@register_method("distill", family="distillation", modalities=("image",), params=DistillParams, takes_teacher=True)
class Distill(SSLMethod):
    """Distillation: the student backbone learns, through a projection, to reproduce a frozen teacher's embeddings.

    The served encoder is the student backbone alone, its own pooled features (no embedding head): the
    projection only bridges the student's width to the teacher's, as a projection head does in SimCLR, and
    is dropped as LightlyTrain drops it. The student's vectors are therefore not in the teacher's space; they
    keep the teacher's neighbourhoods, which is what kNN search and probes use.

    ``teacher`` is the loaded :class:`~selfsup.encoder.Encoder` to learn from. Built without one (None), the
    method can embed and load a checkpoint (the projection takes its size from the state it loads) but not train.
    """

    def __init__(self, params: DistillParams, backbone: Backbone, *, teacher: "Encoder | None" = None) -> None:
        super().__init__(params, backbone)
        self.view: ViewAugment | None = None
        if params.augment:
            size = backbone.spec.image_size
            self.view = simclr_view(size, min_scale=params.min_scale, jitter_strength=params.jitter_strength)
        self.teacher = teacher  # a plain attribute, not a submodule: see the module docstring
        self.projection = self.make_projection(teacher.dim) if teacher is not None else None
        self.criterion = LOSSES[params.loss]

    def make_projection(self, teacher_dim: int) -> nn.Module:
        """Student features (B, S) -> the teacher's space (B, T)."""
        hidden = self.params.projection_hidden_dim
        if hidden == 0:
            return nn.Linear(self.backbone.dim, teacher_dim)
        return nn.Sequential(
            nn.Linear(self.backbone.dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, teacher_dim),
        )

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.view(images) if self.view is not None else images]  # 1 x (B, 3, H, W)

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        [view] = views
        if self.teacher is None or self.projection is None:
            raise SelfSupError("distill needs its teacher to train: pass teacher= to the Trainer")
        with torch.no_grad():
            target = self.teacher.image_features(self._teacher_input(view, self.teacher.image_size))  # (B, T)
        prediction = self.projection(self.backbone(view))  # (B, T)
        return self.criterion(prediction.float(), target.float())

    @staticmethod
    def _teacher_input(view: torch.Tensor, size: int) -> torch.Tensor:
        """The view at the size the teacher was trained at (a teacher trained elsewhere may differ)."""
        if view.shape[-1] == size and view.shape[-2] == size:
            return view
        return F.interpolate(view, size=(size, size), mode="bilinear", antialias=True, align_corners=False)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Built without a teacher, the projection is sized from the state's last 2-d projection weight
        (its output layer: state dicts keep the order modules were registered in) before loading."""
        if self.projection is None:
            weights = [value for key, value in state_dict.items() if key.startswith("projection.") and value.ndim == 2]
            if weights:
                self.projection = self.make_projection(int(weights[-1].shape[0]))
        return super().load_state_dict(state_dict, strict, assign)
