"""Writing the servable encoder: the backbone alone, with the spec that rebuilds it."""

from pathlib import Path

from selfsup.methods.base import SSLMethod
from selfsup.train.checkpoint import ENCODER_FORMAT, save_atomically


def export_encoder(model: SSLMethod, method_name: str, path: Path) -> Path:
    backbone = model.backbone
    payload = {
        "format": ENCODER_FORMAT,
        "modality": "image",
        "method": method_name,
        "backbone": backbone.spec.to_dict(),
        "dim": backbone.dim,
        "state_dict": {k: v.detach().cpu() for k, v in backbone.state_dict().items()},
    }
    save_atomically(payload, Path(path))
    return Path(path)
