"""The served encoder: loads from its file alone and embeds exactly as the trained backbone (and head) does."""

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from selfsup.data.images import canonical_image
from selfsup.encoder import Encoder
from selfsup.errors import CheckpointError
from selfsup.methods import get_method
from selfsup.methods.vae import VAE
from selfsup.train.loop import Trainer

SIZE = 16
LATENT_DIM = 24


@dataclass
class Trained:
    trainer: Trainer
    checkpoint: Path
    exported: Path


@pytest.fixture(scope="module")
def trained(digits16: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    workdir = tmp_path_factory.mktemp("encoder")
    params = get_method("simclr").validate({"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32, "warmup_epochs": 0})
    trainer = Trainer("simclr", params, digits16[:64], workdir=workdir)
    result = trainer.fit()
    return Trained(trainer, result.checkpoint_path, trainer.export_encoder(workdir / "encoder.pt"))


@pytest.fixture(scope="module")
def trained_vae(digits16: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    workdir = tmp_path_factory.mktemp("vae")
    params = get_method("vae").validate(
        {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32, "warmup_epochs": 0, "latent_dim": LATENT_DIM}
    )
    trainer = Trainer("vae", params, digits16[:64], workdir=workdir)
    result = trainer.fit()
    return Trained(trainer, result.checkpoint_path, trainer.export_encoder(workdir / "encoder.pt"))


@pytest.fixture(scope="module")
def encoder(trained: Trained) -> Encoder:
    return Encoder.load(trained.exported)


def test_exported_file_and_full_checkpoint_give_identical_vectors(
    trained: Trained, encoder: Encoder, digits16: np.ndarray
) -> None:
    from_checkpoint = Encoder.load(trained.checkpoint)
    assert (from_checkpoint.dim, from_checkpoint.image_size, from_checkpoint.method) == (128, SIZE, "simclr")
    np.testing.assert_array_equal(from_checkpoint.embed(digits16[:10]), encoder.embed(digits16[:10]))


def test_loaded_encoder_is_the_trained_backbone(trained: Trained, encoder: Encoder, digits16: np.ndarray) -> None:
    backbone = trained.trainer.model.backbone.eval()
    with torch.no_grad():
        images = torch.tensor(digits16[:10]).permute(0, 3, 1, 2).float() / 255
        expected = torch.nn.functional.normalize(backbone(images), dim=1).numpy()
    np.testing.assert_allclose(encoder.embed(digits16[:10]), expected, rtol=1e-5, atol=1e-6)


def test_embed_returns_float32_unit_vectors(encoder: Encoder, digits16: np.ndarray) -> None:
    vectors = encoder.embed(digits16[:7])
    assert vectors.shape == (7, encoder.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])  # different images, different vectors


def test_embed_is_deterministic_and_independent_of_batching(encoder: Encoder, digits16: np.ndarray) -> None:
    images = np.ascontiguousarray(digits16[:9])
    first = encoder.embed(images)
    np.testing.assert_array_equal(encoder.embed(images), first)
    np.testing.assert_allclose(encoder.embed(images, batch_size=4), first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(encoder.embed(images[3:4]), first[3:4], rtol=1e-5, atol=1e-6)


def test_empty_batch_gives_no_vectors(encoder: Encoder) -> None:
    vectors = encoder.embed(np.zeros((0, SIZE, SIZE, 3), dtype=np.uint8))
    assert vectors.shape == (0, encoder.dim) and vectors.dtype == np.float32


def test_embed_encoded_prepares_images_exactly_as_ingest(encoder: Encoder, digits: np.ndarray) -> None:
    originals = [Image.fromarray(image) for image in digits[:5]]  # 32 px files for a 16 px encoder
    blobs = []
    for image in originals:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        blobs.append(buffer.getvalue())
    canonical = np.stack([canonical_image(image, SIZE) for image in originals])
    np.testing.assert_array_equal(encoder.embed_encoded(blobs), encoder.embed(canonical))


@pytest.mark.parametrize(
    "shape", [(2, 32, 32, 3), (2, SIZE, SIZE), (2, SIZE, SIZE, 4), (SIZE, SIZE, 3), (2, SIZE, SIZE + 1, 3)]
)
def test_wrong_input_shape_is_refused(encoder: Encoder, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected"):
        encoder.embed(np.zeros(shape, dtype=np.uint8))


def test_loading_a_missing_or_foreign_file_raises(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError):
        Encoder.load(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "someone.else/1", "state_dict": {}}, foreign)
    with pytest.raises(CheckpointError):
        Encoder.load(foreign)


def test_a_method_without_a_head_exports_the_backbone_alone(trained: Trained) -> None:
    payload = torch.load(trained.exported, weights_only=True)
    assert "head" not in payload and payload["dim"] == 128


def test_vae_serves_its_latent_mean_from_the_export_and_the_checkpoint(
    trained_vae: Trained, digits16: np.ndarray
) -> None:
    exported, from_checkpoint = Encoder.load(trained_vae.exported), Encoder.load(trained_vae.checkpoint)
    assert exported.dim == from_checkpoint.dim == LATENT_DIM and exported.method == "vae"
    vectors = exported.embed(digits16[:10])
    assert vectors.shape == (10, LATENT_DIM)
    np.testing.assert_array_equal(from_checkpoint.embed(digits16[:10]), vectors)
    method = trained_vae.trainer.model.eval()
    assert isinstance(method, VAE)
    with torch.no_grad():
        images = torch.tensor(digits16[:10]).permute(0, 3, 1, 2).float() / 255
        mu, _ = method.encode(images)
    np.testing.assert_allclose(vectors, torch.nn.functional.normalize(mu, dim=1).numpy(), rtol=1e-5, atol=1e-6)
    assert torch.load(trained_vae.exported, weights_only=True)["dim"] == LATENT_DIM


def test_an_unknown_head_kind_is_refused(trained_vae: Trained, tmp_path: Path) -> None:
    payload = torch.load(trained_vae.exported, weights_only=True)
    payload["head"]["kind"] = "mlp"
    torch.save(payload, tmp_path / "encoder.pt")
    with pytest.raises(CheckpointError, match="mlp"):
        Encoder.load(tmp_path / "encoder.pt")
