"""Collapse guards: every image method, trained briefly on real digits, must beat the weights it started from on
kNN. A falling loss proves nothing here (a collapsed BYOL lowers its loss too); a better neighbourhood structure
than the random init's, on labels no method saw, is what a representation learner is for.

The methods come from the registry, so a new image method is guarded the day it is registered: it trains with
BASE unless RECIPES gives it a cheaper or working recipe. Methods that learn from a teacher are left out (the
guard has none to give them).
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

from selfsup.data.image_data import ImageData
from selfsup.eval import embedder
from selfsup.eval.probes import evaluate_with_labels
from selfsup.methods import MethodSpec, list_methods
from selfsup.train.loop import Trainer

pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")  # lightly's DINO head

TRAIN_ITEMS = 512  # trained on the first 512 digits; scored on all 1797 (80/20 split), labels never trained on
MARGIN = 0.02  # kNN top-1 over the initial weights', about two standard errors of a 360-item test split
# At 32 px: at 16 px the tiny CNN's random init already scored 0.955 (random convolutions keep the upsampled
# pixels' neighbourhoods) and two epochs of every method but MAE brought it down; at 32 px it scores 0.861, so
# learning shows. Small heads and a few epochs keep the whole file within minutes on two CPU cores.
BASE: dict[str, Any] = {"backbone": "tiny_cnn", "epochs": 4, "batch_size": 64, "warmup_epochs": 0}
# A method's own entry is what cleared the margin at seed 0: the methods without negatives (byol, simsiam,
# vicreg, barlow_twins), MoCo and the VAE train below the default lr of 2e-3. At seed 1 moco (0.886 vs 0.875)
# and vae (0.850 vs 0.830) beat their start by less than the margin: theirs are the thinnest guards.
RECIPES: dict[str, dict[str, Any]] = {
    "simclr": {"projection_dim": 64, "hidden_dim": 128},
    "moco": {
        "projection_dim": 64,
        "hidden_dim": 128,
        "queue_size": 256,
        "head_batch_norm": True,
        "epochs": 6,
        "lr": 1e-3,
    },
    "byol": {"projection_dim": 64, "hidden_dim": 128, "prediction_hidden_dim": 128, "lr": 3e-4, "epochs": 6},
    "simsiam": {"projection_dim": 128, "hidden_dim": 128, "prediction_hidden_dim": 32, "lr": 5e-4},
    "barlow_twins": {"projection_dim": 128, "hidden_dim": 128, "lr": 1e-3},
    "vicreg": {"projection_dim": 128, "hidden_dim": 128, "lr": 5e-4},
    "swav": {"n_prototypes": 32, "num_local_crops": 0},
    "dino": {"output_dim": 256, "hidden_dim": 128, "bottleneck_dim": 64, "num_local_crops": 0},
    "mae": {"backbone": "vit_tiny", "decoder_dim": 64, "decoder_depth": 1, "epochs": 2},
    "dae": {"decoder_width": 32, "epochs": 10},
    "vae": {"decoder_width": 32, "lr": 5e-4, "epochs": 6},
}
# A ViT trains too slowly on two shared CPU cores at 32 px for this file: MAE is guarded at 16 px, where its
# random init scores far lower (0.71) than the CNN's.
IMAGE_SIZE: dict[str, int] = {"mae": 16}

# Findings, not exemptions: a method listed here fails the guard today (kNN after the run vs at its start).
# Strict: a method that starts passing fails the file until its entry is removed.
KNOWN_FAILURES: dict[str, str] = {}


def guarded_methods() -> list[Any]:
    """Every image method that needs no teacher, those in KNOWN_FAILURES marked as expected (strict) failures."""
    specs = [spec for spec in list_methods() if "image" in spec.modalities and not spec.takes_teacher]
    return [pytest.param(spec, id=spec.name, marks=_known_failure(spec.name)) for spec in specs]


def _known_failure(name: str) -> list[pytest.MarkDecorator]:
    if name not in KNOWN_FAILURES:
        return []
    reason = f"does not beat its initial weights yet: kNN {KNOWN_FAILURES[name]}"
    return [pytest.mark.xfail(reason=reason, strict=True, raises=AssertionError)]


def test_every_recipe_names_a_guarded_method() -> None:
    names = {param.values[0].name for param in guarded_methods()}
    assert set(RECIPES) | set(IMAGE_SIZE) | set(KNOWN_FAILURES) <= names, "an entry for a method that is gone"


@pytest.mark.parametrize("spec", guarded_methods())
def test_a_short_run_beats_its_initial_weights_on_knn(
    spec: MethodSpec, digits: np.ndarray, digits16: np.ndarray, tmp_path: Path
) -> None:
    images = {32: digits, 16: digits16}[IMAGE_SIZE.get(spec.name, 32)]
    params = spec.validate({**BASE, **RECIPES.get(spec.name, {})})
    trainer = Trainer(spec, params, images[:TRAIN_ITEMS], workdir=tmp_path, probe_size=0)
    assert trainer.fit().status == "completed"
    every_digit = ImageData(images)
    scores = evaluate_with_labels(
        embedder(trainer.model, every_digit, trainer.device),
        embedder(trainer.initial_model(), every_digit, trainer.device),
        load_digits().target,
    )
    print(f"{spec.name}: kNN {scores['knn_top1']:.3f} vs initial {scores['knn_top1_random_init']:.3f}")
    assert scores["knn_top1"] > scores["knn_top1_random_init"] + MARGIN, scores
