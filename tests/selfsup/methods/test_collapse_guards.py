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
BASE: dict[str, Any] = {"backbone": "tiny_cnn", "epochs": 2, "batch_size": 64, "warmup_epochs": 0}
# Small heads and a few epochs keep the whole file within a few minutes on two CPU cores.
RECIPES: dict[str, dict[str, Any]] = {
    "simclr": {"projection_dim": 64, "hidden_dim": 128},
    "moco": {"projection_dim": 64, "hidden_dim": 128, "queue_size": 256, "head_batch_norm": True},
    "byol": {"projection_dim": 64, "hidden_dim": 128, "prediction_hidden_dim": 128},
    "simsiam": {"projection_dim": 128, "hidden_dim": 128, "prediction_hidden_dim": 32},
    "barlow_twins": {"projection_dim": 128, "hidden_dim": 128},
    "vicreg": {"projection_dim": 128, "hidden_dim": 128},
    "swav": {"n_prototypes": 32, "num_local_crops": 0},
    "dino": {"output_dim": 256, "hidden_dim": 128, "bottleneck_dim": 64, "num_local_crops": 0},
    "mae": {"backbone": "vit_tiny", "decoder_dim": 64, "decoder_depth": 1},
    "dae": {"decoder_width": 32},
    "vae": {"decoder_width": 32},
}


# Findings, not exemptions: these fail the guard today (kNN after the run vs at its start, measured on this
# recipe). The tiny CNN's random init already scores 0.955 at 16 px (random convolutions keep the pixels'
# neighbourhoods), and two epochs of these methods bring it down, not up. Strict: a method that starts passing
# fails the file until its entry is removed. (A ViT's random init scores far lower, 0.42, but trains too slowly
# on two shared CPU cores for this file.)
KNOWN_FAILURES: dict[str, str] = {
    "barlow_twins": "0.928 vs 0.955",
    "byol": "0.942 vs 0.955",
    "dae": "0.925 vs 0.955",
    "dino": "0.939 vs 0.955",
    "moco": "0.922 vs 0.955",
    "simclr": "0.947 vs 0.955",
    "simsiam": "0.944 vs 0.955",
    "swav": "0.942 vs 0.955",
    "vae": "0.914 vs 0.916",
    "vicreg": "0.933 vs 0.955",
}


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
    assert set(RECIPES) <= names and set(KNOWN_FAILURES) <= names, "an entry for a method that is gone"


@pytest.mark.parametrize("spec", guarded_methods())
def test_a_short_run_beats_its_initial_weights_on_knn(spec: MethodSpec, digits16: np.ndarray, tmp_path: Path) -> None:
    params = spec.validate({**BASE, **RECIPES.get(spec.name, {})})
    trainer = Trainer(spec, params, digits16[:TRAIN_ITEMS], workdir=tmp_path, probe_size=0)
    assert trainer.fit().status == "completed"
    every_digit = ImageData(digits16)
    scores = evaluate_with_labels(
        embedder(trainer.model, every_digit, trainer.device),
        embedder(trainer.initial_model(), every_digit, trainer.device),
        load_digits().target,
    )
    print(f"{spec.name}: kNN {scores['knn_top1']:.3f} vs initial {scores['knn_top1_random_init']:.3f}")
    assert scores["knn_top1"] > scores["knn_top1_random_init"] + MARGIN, scores
