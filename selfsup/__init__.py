"""selfsup: self-supervised representation learning in pure PyTorch.

The engine knows nothing of HTTP, databases or queues. Typical use as a library::

    from selfsup import Trainer, Encoder, get_method
    params = get_method("simclr").validate({"backbone": "tiny_cnn", "epochs": 2})
    trainer = Trainer("simclr", params, images, workdir="run1")  # images: (N, S, S, 3) uint8
    trainer.fit()
    Encoder.load(trainer.export_encoder("run1/encoder.pt")).embed(images[:8])

The names above are imported on first use, not with the package: a process that only decodes images
(``selfsup.data.images``, as ingest's decoding processes do) must not pay for importing torch.
"""

import os
from typing import TYPE_CHECKING

from selfsup.lazy import lazy_exports

if TYPE_CHECKING:
    from selfsup.encoder import Encoder
    from selfsup.methods import MethodSpec, get_method, list_methods
    from selfsup.train.loop import Trainer, TrainResult

# onnxruntime's Linux wheels (1.2x) start Microsoft's 1DS telemetry on import and write a session file into
# $TMPDIR; a self-hosted service must not phone home, and its temp folder holds uploads being spooled.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

_EXPORTS = {
    "Encoder": "selfsup.encoder",
    "MethodSpec": "selfsup.methods",
    "get_method": "selfsup.methods",
    "list_methods": "selfsup.methods",
    "Trainer": "selfsup.train.loop",
    "TrainResult": "selfsup.train.loop",
}

__all__ = ["Encoder", "MethodSpec", "TrainResult", "Trainer", "get_method", "list_methods"]


__getattr__ = lazy_exports(__name__, _EXPORTS)
