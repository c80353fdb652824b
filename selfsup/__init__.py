"""selfsup: self-supervised representation learning in pure PyTorch.

The engine knows nothing of HTTP, databases or queues. Typical use as a library::

    from selfsup import Trainer, Encoder, get_method
    params = get_method("simclr").validate({"backbone": "tiny_cnn", "epochs": 2})
    trainer = Trainer("simclr", params, images, workdir="run1")  # images: (N, S, S, 3) uint8
    trainer.fit()
    Encoder.load(trainer.export_encoder("run1/encoder.pt")).embed(images[:8])
"""

from selfsup.encoder import Encoder
from selfsup.methods import MethodSpec, get_method, list_methods
from selfsup.train.loop import Trainer, TrainResult

__all__ = ["Encoder", "MethodSpec", "TrainResult", "Trainer", "get_method", "list_methods"]
