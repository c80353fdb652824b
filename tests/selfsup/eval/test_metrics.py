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
    mean_cosine,
    neighbour_agreement,
    participation_ratio,
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


def test_mean_cosine_is_one_for_a_shared_direction_and_zero_when_spread(gaussian: torch.Tensor) -> None:
    direction = torch.randn(1, D)
    assert mean_cosine(direction.expand(300, -1) * torch.rand(300, 1)) == pytest.approx(1.0)  # scale-free
    assert mean_cosine(gaussian) == pytest.approx(0.0, abs=0.01)
    assert mean_cosine(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-1.0)
    z = torch.nn.functional.normalize(gaussian[:200] + 2.0, dim=1)  # a cone around (1, ..., 1)
    pairs = (z @ z.T)[~torch.eye(200, dtype=torch.bool)]
    assert mean_cosine(z) == pytest.approx(float(pairs.mean()), abs=1e-5)  # the O(N D) formula
    assert 0.7 < mean_cosine(z) < 0.9
    with pytest.raises(ValueError):
        mean_cosine(torch.randn(1, D))


def test_participation_ratio_counts_equally_used_directions(gaussian: torch.Tensor) -> None:
    basis = torch.linalg.qr(torch.randn(D, 4)).Q.T  # (4, D) orthonormal rows
    codes = torch.randn(4000, 4)
    assert participation_ratio(codes @ basis) == pytest.approx(4.0, rel=0.05)  # 4 equal variances
    assert participation_ratio(torch.randn(500, 1) * basis[:1]) == pytest.approx(1.0)  # unit rows: +-basis[0]
    # Far off the origin, normalizing barely bends a patch: eigenvalues 9 : 1, so (9 + 1)^2 / (81 + 1).
    uneven = torch.randn(4000, 2) * torch.tensor([3.0, 1.0])
    assert participation_ratio(uneven @ basis[:2] + 1000 * basis[2]) == pytest.approx(100 / 82, rel=0.05)
    assert participation_ratio(gaussian) == pytest.approx(D, rel=0.05)
    assert participation_ratio(torch.randn(1, D).expand(50, -1)) == 0.0  # constant: no variance at all


def test_an_anisotropic_low_spread_encoder_like_mlm_is_flagged(gaussian: torch.Tensor) -> None:
    """Embeddings as MLM's: a large shared direction with small variation around it, 0.997 cosine apart."""
    shared = torch.nn.functional.normalize(torch.randn(1, D), dim=1)
    cone = shared + 0.05 * gaussian[:512] / math.sqrt(D)  # (512, D), spread evenly but slightly
    metrics = {**_metrics(cone), "mean_cosine": mean_cosine(cone), "participation_ratio": participation_ratio(cone)}
    assert metrics["rankme"] > 2 and metrics["embedding_std"] * math.sqrt(D) > 0.01  # the old checks pass it
    warning = collapse_warning(metrics, D)
    assert warning is not None and "point the same way" in warning, metrics
    one_axis = {"rankme": 10.0, "embedding_std": 0.1, "mean_cosine": 0.3, "participation_ratio": 1.2}
    assert "participation ratio" in (collapse_warning(one_axis, D) or "")
    healthy_relu = {"rankme": 23.0, "embedding_std": 0.02, "mean_cosine": 0.95, "participation_ratio": 8.4}
    assert collapse_warning(healthy_relu, 128) is None  # SimCLR's tiny CNN on digits: a ReLU network's cone


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
    assert metrics.keys() == {
        "rankme",
        "alignment",
        "uniformity",
        "embedding_std",
        "mean_cosine",
        "participation_ratio",
    }
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
