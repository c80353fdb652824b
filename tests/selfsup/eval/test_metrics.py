"""Label-free metrics on constructed embeddings with known answers, and the probe the Trainer runs."""

import math
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.eval import (
    NonFiniteEmbeddings,
    RepresentationProbe,
    alignment,
    collapse_warning,
    embedding_std,
    neighbour_agreement,
    rankme,
    uniformity,
)
from selfsup.methods import SSLMethod, get_method

D = 32


@pytest.fixture
def gaussian() -> torch.Tensor:
    """(4096, 32) isotropic Gaussian: N >> D, so every direction carries almost the same variance."""
    return torch.randn(4096, D, generator=torch.Generator().manual_seed(0))


def _metrics(embeddings: torch.Tensor) -> dict[str, float]:
    return {"rankme": rankme(embeddings), "embedding_std": embedding_std(embeddings)}


def test_rankme_of_a_collapsed_embedding_is_one() -> None:
    direction = torch.randn(1, D)
    assert rankme(direction.expand(500, -1)) == pytest.approx(1.0, abs=1e-3)  # constant
    assert rankme(torch.randn(500, 1) * direction) == pytest.approx(1.0, abs=1e-3)  # rank 1
    assert rankme(torch.zeros(500, D)) == pytest.approx(1.0, abs=1e-3)  # no 0/0


def test_rankme_of_an_isotropic_gaussian_is_close_to_the_dimension(gaussian: torch.Tensor) -> None:
    # Singular values of a 4096 x 32 Gaussian are sqrt(N) (1 +- sqrt(D / N)) ~ +-9%: the entropy loses < 1%.
    assert D * 0.98 < rankme(gaussian) <= D


def test_rankme_is_bounded_by_the_number_of_items() -> None:
    assert 6 < rankme(torch.randn(8, 256)) <= 8
    assert rankme(torch.randn(8, 256) * 1000) == pytest.approx(rankme(torch.randn(8, 256)), rel=0.1)  # scale-free


def test_rankme_counts_the_directions_of_a_low_rank_embedding() -> None:
    basis = torch.linalg.qr(torch.randn(D, 4)).Q.T  # (4, D) orthonormal rows
    codes = torch.linalg.qr(torch.randn(1000, 4)).Q  # orthonormal columns: four equal singular values
    assert rankme(codes @ basis) == pytest.approx(4.0, abs=1e-3)


def test_alignment_of_identical_views_is_zero_and_of_opposite_views_is_four() -> None:
    z = torch.randn(64, D)
    assert alignment(z, z) == 0.0
    assert alignment(z, 3 * z) == pytest.approx(0.0, abs=1e-6)  # measured on the sphere
    assert alignment(z, -z) == pytest.approx(4.0)
    assert alignment(z, -z, alpha=1) == pytest.approx(2.0)


def test_uniformity_matches_wang_and_isola_reference(gaussian: torch.Tensor) -> None:
    z = torch.nn.functional.normalize(gaussian[:300], dim=1)
    reference = torch.pdist(z, p=2).pow(2).mul(-2).exp().mean().log()  # the paper's code
    assert uniformity(gaussian[:300]) == pytest.approx(float(reference), abs=1e-5)


def test_uniformity_is_zero_at_collapse_and_clearly_negative_when_spread(gaussian: torch.Tensor) -> None:
    assert uniformity(torch.ones(100, D)) == pytest.approx(0.0, abs=1e-6)
    assert uniformity(gaussian[:500]) < -3.5  # the limit for t=2 on a high-dimensional sphere is -4
    with pytest.raises(ValueError):
        uniformity(torch.randn(1, D))


def test_embedding_std(gaussian: torch.Tensor) -> None:
    assert embedding_std(torch.ones(100, D)) == 0.0
    assert embedding_std(gaussian) == pytest.approx(1 / math.sqrt(D), rel=0.05)


def neighbour_agreement_reference(x: torch.Tensor, y: torch.Tensor, k: int) -> float:
    """The same count written out item by item with Python sets."""

    def nearest(z: torch.Tensor, i: int) -> set[int]:
        z = torch.nn.functional.normalize(z.double(), dim=1)
        others = [(float(z[i] @ z[j]), j) for j in range(len(z)) if j != i]
        return {j for _, j in sorted(others, reverse=True)[:k]}

    return float(np.mean([len(nearest(x, i) & nearest(y, i)) / k for i in range(len(x))]))


def test_neighbour_agreement_counts_shared_nearest_neighbours(gaussian: torch.Tensor) -> None:
    x = gaussian[:60]
    assert neighbour_agreement(x, x, k=5) == 1.0
    assert neighbour_agreement(x, 3 * x @ torch.linalg.qr(torch.randn(D, D))[0], k=5) == pytest.approx(1.0)  # rotated
    y = gaussian[60:120]  # unrelated vectors for the same 60 items
    assert neighbour_agreement(x, y, k=5) == pytest.approx(neighbour_agreement_reference(x, y, 5))
    assert neighbour_agreement(x, y, k=5) < 0.25  # chance: 5 / 59
    wide = torch.cat([x, torch.randn(60, 90, generator=torch.Generator().manual_seed(1)) * 0.01], dim=1)  # (60, 122)
    assert neighbour_agreement(x, wide, k=5) == pytest.approx(neighbour_agreement_reference(x, wide, 5))
    assert neighbour_agreement(x, wide, k=5) > 0.9  # other widths compare; a little noise moves few neighbours
    with pytest.raises(ValueError, match="2 items"):
        neighbour_agreement(x[:1], x[:1])


def test_collapse_warning_flags_collapsed_embeddings(gaussian: torch.Tensor) -> None:
    direction, offset = torch.randn(1, D), torch.randn(1, D)
    collapsed = {
        "constant": direction.expand(500, -1),
        "rank 1": torch.randn(500, 1) * direction,
        "a line off the origin": offset + torch.randn(500, 1) * direction,
        "constant plus tiny noise": offset + 1e-4 * gaussian[:500],
    }
    for name, embeddings in collapsed.items():
        warning = collapse_warning(_metrics(embeddings), D)
        assert warning is not None and "collapsed" in warning, name
    assert collapse_warning(_metrics(gaussian), D) is None
    assert collapse_warning({}, D) is None


def _simclr(size: int) -> SSLMethod:
    params: Any = get_method("simclr").validate({"backbone": "tiny_cnn"})
    torch.manual_seed(0)
    return get_method("simclr").method_cls(params, create_backbone("tiny_cnn", image_size=size))


def test_a_randomly_initialized_encoder_is_not_flagged(digits: np.ndarray) -> None:
    probe = RepresentationProbe(digits, size=256, seed=0)
    metrics = probe.evaluate(_simclr(32), torch.device("cpu"))
    assert metrics.keys() == {"rankme", "alignment", "uniformity", "embedding_std"}
    assert collapse_warning(metrics, 128) is None, metrics


def test_probe_is_deterministic_and_leaves_model_and_rng_alone(digits16: np.ndarray) -> None:
    model, device = _simclr(16), torch.device("cpu")
    probe = RepresentationProbe(digits16, size=100, seed=3)
    assert len(probe) == 100 and len(set(probe.indices)) == 100
    assert np.array_equal(probe.indices, RepresentationProbe(digits16, size=100, seed=3).indices)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    first = probe.evaluate(model, device)
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # BatchNorm stats included
    assert probe.evaluate(model, device) == first
    assert len(RepresentationProbe(digits16[:10], size=512)) == 10
    with pytest.raises(ValueError):
        RepresentationProbe(digits16, size=1)


class Diverged(SSLMethod):
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return torch.full((len(images), 8), float("nan"))


def test_probe_refuses_non_finite_embeddings(digits16: np.ndarray) -> None:
    model = Diverged(None, create_backbone("tiny_cnn", image_size=16))
    with pytest.raises(NonFiniteEmbeddings):
        RepresentationProbe(digits16, size=16).evaluate(model, torch.device("cpu"))
