"""DINO (Caron et al., 2021, "Emerging Properties in Self-Supervised Vision Transformers")."""

import copy
from dataclasses import dataclass
from typing import Annotated

import torch
from lightly.loss import DINOLoss
from lightly.models import utils
from lightly.models.modules import DINOProjectionHead
from lightly.utils.scheduler import cosine_schedule
from pydantic import Field

from selfsup.augment import MultiCrop, MultiCropRecipe, local_crop_size
from selfsup.backbones import Backbone
from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.params import TrainingParams


@dataclass(frozen=True)
class DINOParams(TrainingParams):
    """The ViT-S recipe of the paper's code (``main_dino.py``, README) with a smaller head (2048 / 65536 there)."""

    lr: Annotated[float, Field(gt=0, le=10, description="Peak learning rate (5e-4 per 256 images).")] = 5e-4
    weight_decay: Annotated[float, Field(ge=0, le=1, description="Weight decay at the first step.")] = 0.04
    weight_decay_end: Annotated[
        float, Field(ge=0, le=1, description="Weight decay at the last step, reached along a cosine.")
    ] = 0.4
    clip_grad: Annotated[
        float, Field(ge=0, le=100, description="Largest gradient norm of each parameter tensor; 0 clips nothing.")
    ] = 3.0
    output_dim: Annotated[int, Field(ge=16, le=65536, description="Prototypes K the head scores.")] = 4096
    hidden_dim: Annotated[int, Field(ge=16, le=8192, description="Hidden size of the head's MLP.")] = 512
    bottleneck_dim: Annotated[int, Field(ge=8, le=1024, description="Size before the last layer.")] = 256
    num_local_crops: Annotated[int, Field(ge=0, le=10, description="Small crops per image.")] = 6
    student_temp: Annotated[float, Field(gt=0, le=1, description="Student softmax temperature.")] = 0.1
    teacher_temp: Annotated[float, Field(gt=0, le=1, description="Teacher temperature after warm-up.")] = 0.07
    warmup_teacher_temp: Annotated[float, Field(gt=0, le=1, description="Teacher temperature at epoch 0.")] = 0.04
    warmup_teacher_temp_epochs: Annotated[
        int, Field(ge=0, le=1000, description="Epochs of linear teacher-temperature warm-up.")
    ] = 30
    center_momentum: Annotated[float, Field(ge=0, lt=1, description="EMA rate of the teacher centre.")] = 0.9
    teacher_momentum: Annotated[
        float, Field(ge=0, le=1, description="EMA rate of the teacher at the start; cosine to 1.")
    ] = 0.996
    freeze_last_layer_epochs: Annotated[
        int, Field(ge=0, le=1000, description="Epochs the head's last layer is kept fixed.")
    ] = 1


@register_method("dino", family="clustering", modalities=("image",), params=DINOParams)
class DINO(SSLMethod):
    """DINO: a student matches an EMA teacher's centred, sharpened distribution over K outputs across crops.

    The teacher sees the two global crops, the student every crop; the loss is the cross-entropy
    H(P_t(x), P_s(x')) averaged over all pairs of different crops (eq. 3). Centring and sharpening the
    teacher keep it from collapsing. Local crops go through the same network at their own size (a ViT
    interpolates its position embedding). As in the paper's code, each parameter's gradient is clipped to norm
    ``clip_grad``, the weight decay rises along a cosine to ``weight_decay_end`` and the head's last layer takes
    no step in the first ``freeze_last_layer_epochs``. The served encoder is the student backbone; the paper evaluates
    the teacher, which for runs as short as ours is still mostly its random initialization.
    """

    clock: torch.Tensor

    def __init__(self, params: DINOParams, backbone: Backbone) -> None:
        super().__init__(params, backbone)
        size, patch = backbone.spec.image_size, backbone.spec.patch_size or 1
        recipe = MultiCropRecipe(size, local_crop_size(size, patch), num_local=params.num_local_crops)
        self.crops = MultiCrop(recipe)
        self.head = self._make_head(backbone.dim)
        self.teacher_backbone = copy.deepcopy(backbone)
        self.teacher_head = self._make_head(backbone.dim)  # weight norm's computed weight defeats deepcopy
        self.teacher_head.load_state_dict(self.head.state_dict())
        utils.deactivate_requires_grad(self.teacher_backbone)  # updated by EMA only, never by the optimizer
        utils.deactivate_requires_grad(self.teacher_head)
        self.criterion = DINOLoss(
            output_dim=params.output_dim,
            teacher_temp=params.teacher_temp,
            student_temp=params.student_temp,
            center_momentum=params.center_momentum,
        )
        self._last_layer = [p for p in self.head.last_layer.parameters() if p.requires_grad]
        self.register_buffer("clock", torch.zeros(2, dtype=torch.long))  # (finished steps, steps per epoch)

    def _make_head(self, input_dim: int) -> DINOProjectionHead:
        p = self.params
        return DINOProjectionHead(
            input_dim, p.hidden_dim, p.bottleneck_dim, p.output_dim, freeze_last_layer=p.freeze_last_layer_epochs
        )

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.crops(images)  # 2 x (B, 3, S, S), then N x (B, 3, s, s)

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        epoch = self.epoch()
        for param in self._last_layer:  # no gradient, so the optimizer skips it: DINO's frozen last layer
            param.requires_grad_(epoch >= self.params.freeze_last_layer_epochs)
        with torch.no_grad():
            teacher = self.teacher_head(self.teacher_backbone(torch.cat(views[:2]))).float().chunk(2)  # 2 x (B, K)
        student = self.head(self.backbone.forward_crops(views)).float().chunk(len(views))  # V x (B, K)
        return self.criterion(list(teacher), list(student), teacher_temp=self.teacher_temperature(epoch))

    @torch.no_grad()
    def after_step(self, global_step: int, total_steps: int, *, steps_per_epoch: int) -> None:
        self.clock.copy_(torch.tensor([global_step, steps_per_epoch]))
        momentum = self.teacher_momentum(global_step - 1, total_steps)
        utils.update_momentum(self.backbone, self.teacher_backbone, momentum)
        utils.update_momentum(self.head, self.teacher_head, momentum)

    @property
    def grad_clip(self) -> float | None:
        return self.params.clip_grad or None

    def weight_decay_at(self, step: int, total_steps: int) -> float:
        """Cosine from ``weight_decay`` at step 0 to ``weight_decay_end`` at the last step, set every step (the
        paper's code: 0.04 to 0.4 for ViTs)."""
        return cosine_schedule(step, total_steps, self.params.weight_decay, self.params.weight_decay_end)

    def epoch(self) -> int:
        """The epoch the next step belongs to (stored in ``clock``, so a resumed run knows it too)."""
        done, per_epoch = self.clock.tolist()
        return done // per_epoch if per_epoch else 0

    def teacher_momentum(self, step: int, total_steps: int) -> float:
        """Cosine from ``teacher_momentum`` at step 0 to 1 at the last step (the paper's schedule)."""
        return cosine_schedule(step, total_steps, self.params.teacher_momentum, 1.0)

    def teacher_temperature(self, epoch: int) -> float:
        """Linear from ``warmup_teacher_temp`` to ``teacher_temp`` over the warm-up epochs, then constant."""
        p = self.params
        if epoch >= p.warmup_teacher_temp_epochs:
            return p.teacher_temp
        return p.warmup_teacher_temp + (p.teacher_temp - p.warmup_teacher_temp) * epoch / max(
            p.warmup_teacher_temp_epochs - 1, 1
        )
