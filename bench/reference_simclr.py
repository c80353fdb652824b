"""LightlySSL's reference SimCLR loop, written the way its examples write it (examples/pytorch/simclr.py), to
compare our trained encoders against.

What the example does, and so what this does: a backbone whose pooled features are flattened, lightly's
``SimCLRProjectionHead(D, 512, 128)``, ``NTXentLoss()`` at its default temperature (0.5), lightly's
``SimCLRTransform(input_size=S)`` at its defaults applied per image (PIL) in a torch ``DataLoader`` (shuffled,
last partial batch dropped), and plain ``torch.optim.SGD(lr=0.06)`` without momentum, weight decay or schedule,
one loss per batch of two views. Only the backbone is a choice, from :data:`REFERENCE_BACKBONES`:

* ``conv4``: the usual small CNN of few-shot and SSL tutorials, four conv3x3-BN-ReLU-maxpool blocks of widths
  32, 64, 128, 256 (388k parameters, 256-d), affordable on a CPU;
* ``resnet18``: the example's own backbone, torchvision's ResNet-18 without its classifier (11.2M parameters,
  512-d) and with ImageNet's stride-4 stem, as the example leaves it even at 32 px.

The probes then read the pooled backbone features of the unaugmented images, normalized as the transform
normalizes (ImageNet statistics), in eval mode.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torchvision
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from lightly.transforms import SimCLRTransform
from lightly.transforms.utils import IMAGENET_NORMALIZE
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

REFERENCE_LR = 0.06
EMBED_BATCH = 512


def conv4() -> nn.Module:
    """(B, 3, S, S) -> (B, 256, 1, 1): four conv-BN-ReLU-maxpool blocks, then global average pooling."""
    layers: list[nn.Module] = []
    for c_in, c_out in ((3, 32), (32, 64), (64, 128), (128, 256)):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))


def resnet18() -> nn.Module:
    """torchvision's ResNet-18 up to its global pooling, as the example cuts it: (B, 3, S, S) -> (B, 512, 1, 1)."""
    model = torchvision.models.resnet18()
    return nn.Sequential(*list(model.children())[:-1])


REFERENCE_BACKBONES: dict[str, Callable[[], nn.Module]] = {"conv4": conv4, "resnet18": resnet18}


class ReferenceSimCLR(nn.Module):
    """backbone -> flatten -> projection head, the example's model."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.dim = int(self.embed(torch.zeros(2, 3, 32, 32)).shape[1])
        self.projection_head = SimCLRProjectionHead(self.dim, 512, 128)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x).flatten(start_dim=1)  # (B, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection_head(self.embed(x))  # (B, 128)


class TwoViews(Dataset[list[torch.Tensor]]):
    """(N, S, S, 3) uint8 images as PIL images through lightly's SimCLRTransform: two views each."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self.transform = SimCLRTransform(input_size=int(images.shape[1]))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> list[torch.Tensor]:
        return self.transform(Image.fromarray(self.images[index]))  # type: ignore[return-value]  # ToTensor: tensors


@dataclass
class ReferenceRun:
    trained: ReferenceSimCLR
    random_init: ReferenceSimCLR
    epoch_loss: float
    num_parameters: int  # of the backbone


def train_reference(images: np.ndarray, *, backbone: str, epochs: int, batch_size: int, seed: int) -> ReferenceRun:
    """The example's loop on ``images``: ``epochs`` passes of ``batch_size`` pairs of views."""
    torch.manual_seed(seed)
    model = ReferenceSimCLR(REFERENCE_BACKBONES[backbone]())
    random_init = ReferenceSimCLR(REFERENCE_BACKBONES[backbone]())
    random_init.load_state_dict(model.state_dict())
    loader = DataLoader(TwoViews(images), batch_size=batch_size, shuffle=True, drop_last=True)
    criterion = NTXentLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=REFERENCE_LR)
    model.train()
    epoch_loss = float("nan")
    for _ in range(epochs):
        losses = []
        for x0, x1 in loader:
            loss = criterion(model(x0), model(x1))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.detach())
        epoch_loss = float(torch.stack(losses).mean())
    params = sum(p.numel() for p in model.backbone.parameters())
    return ReferenceRun(model, random_init, epoch_loss, params)


def reference_embedder(model: ReferenceSimCLR, images: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Item indices -> (n, D) float32 pooled backbone features of the unaugmented, normalized images."""
    mean = torch.tensor(IMAGENET_NORMALIZE["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_NORMALIZE["std"]).view(1, 3, 1, 1)

    @torch.no_grad()
    def embed(indices: np.ndarray) -> np.ndarray:
        model.eval()
        chunks = []
        for start in range(0, len(indices), EMBED_BATCH):
            batch = torch.from_numpy(images[indices[start : start + EMBED_BATCH]]).permute(0, 3, 1, 2)
            chunks.append(model.embed((batch.float() / 255 - mean) / std))
        return torch.cat(chunks).numpy()

    return embed
