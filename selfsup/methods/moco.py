"""MoCo v2 (He et al., 2020, "Momentum Contrast for Unsupervised Visual Representation Learning"; Chen et al.,
2020, "Improved Baselines with Momentum Contrastive Learning")."""

import copy
from dataclasses import dataclass
from typing import Annotated

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead
from lightly.models.modules.memory_bank import MemoryBankModule
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule
from pydantic import Field
from torch import nn

from selfsup.augment import ViewAugment, ViewRecipe
from selfsup.backbones import Backbone
from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import register_method
from selfsup.params import TrainingParams


@dataclass(frozen=True)
class MoCoParams(TrainingParams):
    temperature: Annotated[float, Field(gt=0, le=10, description="InfoNCE softmax temperature.")] = 0.2
    momentum: Annotated[
        float, Field(ge=0, le=1, description="Key-encoder momentum at the first step; rises to 1 along a cosine.")
    ] = 0.99
    queue_size: Annotated[int, Field(ge=16, le=65_536, description="Negative keys kept from past batches.")] = 4096
    projection_dim: Annotated[int, Field(ge=8, le=8192, description="Output size of the head.")] = 128
    hidden_dim: Annotated[int, Field(ge=8, le=8192, description="Hidden size of the head.")] = 2048
    head_batch_norm: Annotated[
        bool, Field(description="BatchNorm in the head, as in MoCo v3 (MoCo v2 has none); starts faster on small nets.")
    ] = False
    bn_splits: Annotated[
        int,
        Field(
            ge=1,
            le=64,
            description="Sub-batches with their own BatchNorm statistics, keys shuffled across them (shuffle-BN, "
            "as on the paper's 8 GPUs); 1: one batch, no shuffle.",
        ),
    ] = 8
    min_scale: Annotated[float, Field(gt=0, le=1, description="Smallest crop, as area fraction.")] = 0.2
    jitter_strength: Annotated[float, Field(ge=0, le=2, description="Colour distortion strength s.")] = 0.5


def _checkpoint_queue(bank: MemoryBankModule) -> None:
    """Make the queue part of ``state_dict``: lightly registers it as non-persistent, so a resumed run would
    otherwise restart from random negatives."""
    bank.register_buffer("bank", bank.bank, persistent=True)
    bank.register_buffer("bank_ptr", bank.bank_ptr, persistent=True)


@register_method("moco", family="contrastive", modalities=("image",), params=MoCoParams)
class MoCo(SSLMethod):
    """MoCo v2: each query must pick out its own key among a queue of keys from earlier batches (InfoNCE).

    Keys come from a momentum copy of the backbone and MLP head that receives no gradient; its momentum follows
    a cosine from ``params.momentum`` to 1 over the run. Each step's keys join the queue as the oldest leave.
    Views are MoCo v2's: crops of at least 20%, colour jitter (0.4, 0.4, 0.4, 0.1) with p = 0.8, grayscale
    with p = 0.2, blur with p = 0.5 (from 64 px). BatchNorm is computed over ``bn_splits`` sub-batches on both
    sides, and the keys' sub-batches are a shuffle of the queries' (shuffle-BN, see :meth:`keys`), so that one
    device behaves as the paper's eight.
    """

    def __init__(self, params: MoCoParams, backbone: Backbone) -> None:
        super().__init__(params, backbone)
        size = backbone.spec.image_size
        self.view = ViewAugment(
            ViewRecipe(size=size, min_scale=params.min_scale, jitter_strength=params.jitter_strength)
        )
        self.head = MoCoProjectionHead(
            backbone.dim, params.hidden_dim, params.projection_dim, batch_norm=params.head_batch_norm
        )
        self.key_backbone = copy.deepcopy(backbone)
        self.key_head = copy.deepcopy(self.head)
        for key_module in (self.key_backbone, self.key_head):
            deactivate_requires_grad(key_module)  # moved by after_step only; the optimizer never sees it
        self.criterion = NTXentLoss(
            temperature=params.temperature, memory_bank_size=(params.queue_size, params.projection_dim)
        )
        _checkpoint_queue(self.criterion.memory_bank)
        self.batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.modules())

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.view(images), self.view(images)]  # query view, key view: 2 x (B, 3, H, W)

    def training_loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        query = self.queries(views[0])  # (B, P)
        key = self.keys(views[1])  # (B, P)
        # Positive: the query's own key; negatives: the (K, P) queue. Enqueues the keys when query has grad.
        return self.criterion(query, key)

    def num_splits(self, batch: int) -> int:
        """BatchNorm sub-batches for a batch of ``batch``: ``bn_splits``, fewer when a sub-batch would hold under
        two images, and one when nothing normalizes over the batch (a ViT, a head without BatchNorm)."""
        return max(1, min(self.params.bn_splits, batch // 2)) if self.batch_norm else 1

    def queries(self, view: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, P), each sub-batch of consecutive images normalized on its own, as on one GPU."""
        chunks = view.tensor_split(self.num_splits(view.shape[0]))
        return torch.cat([self.head(self.backbone(chunk)) for chunk in chunks])

    @torch.no_grad()  # keys carry no gradient: the key encoder only follows by momentum
    def keys(self, view: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, P) in the batch's order, through shuffle-BN (He et al., 2020, sec. 3.3).

        The batch is shuffled before being split into the sub-batches the key encoder normalizes over, and the
        keys put back in order after: a query and its key are then normalized with different images, so the
        model cannot find its positive by the sub-batch statistics they would share (its queue negatives,
        from other batches, share none).
        """
        order = torch.randperm(view.shape[0], device=view.device)  # (B,)
        chunks = view[order].tensor_split(self.num_splits(view.shape[0]))
        shuffled = torch.cat([self.key_head(self.key_backbone(chunk)) for chunk in chunks])  # row j: image order[j]
        return shuffled[torch.argsort(order)]  # row i: image i

    def momentum(self, global_step: int, total_steps: int) -> float:
        """Momentum of the update after step ``global_step`` (1-based): ``params.momentum`` first, 1 last."""
        return cosine_schedule(global_step - 1, total_steps, self.params.momentum, 1.0)

    def after_step(self, global_step: int, total_steps: int, *, steps_per_epoch: int) -> None:
        m = self.momentum(global_step, total_steps)
        update_momentum(self.backbone, self.key_backbone, m)
        update_momentum(self.head, self.key_head, m)
