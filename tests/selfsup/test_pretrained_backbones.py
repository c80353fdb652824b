"""Image backbones from pretrained timm weights: the start is the file's weights, self-supervised training goes
on from them, the trained encoder reloads without the folder, and every spoiled folder is refused by name.

The weights are made by the test (timm's architectures, perturbed deterministically so that no random init can match
them) and saved as the Hugging Face Hub stores timm models; nothing is downloaded.
"""

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from selfsup.backbones import BackboneSpec
from selfsup.data.image_data import ImageData
from selfsup.encoder import Encoder
from selfsup.export import model_card
from selfsup.methods import get_method
from selfsup.methods.mae import MAE
from selfsup.pretrained_backbones import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    PretrainedModelError,
    check_pretrained_backbone,
    load_pretrained_backbone,
)
from selfsup.train.loop import Trainer
from tests.support.pretrained import install_timm_model

HALF = [0.5, 0.5, 0.5]  # a normalization that is not ImageNet's, as many timm ViTs use


@pytest.fixture(scope="module")
def resnet18_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pretrained") / "r18-hub"
    config = {"architecture": "resnet18", "pretrained_cfg": {"mean": HALF, "std": HALF}}
    install_timm_model(folder, "resnet18", config=config)
    return folder


def test_training_starts_from_the_files_weights_and_the_encoder_keeps_them(
    resnet18_dir: Path, digits16: np.ndarray, tmp_path: Path
) -> None:
    model_dir = tmp_path / "r18"
    shutil.copytree(resnet18_dir, model_dir)
    saved = load_file(str(model_dir / WEIGHTS_FILE))
    params = get_method("simclr").validate({"pretrained": str(model_dir), "epochs": 1, "batch_size": 32})
    images = digits16[:64]
    trainer = Trainer("simclr", params, ImageData(images), workdir=tmp_path / "run", probe_size=0)

    start = trainer.model.backbone.trunk.state_dict()
    assert start.keys() == {key for key in saved if not key.startswith("fc.")}  # the head is dropped
    assert all(torch.equal(start[key], saved[key]) for key in start), "the start is the file's weights"
    spec = trainer.model.backbone.spec
    assert (spec.pretrained, spec.small_stem, spec.mean, spec.std) == ("r18", False, tuple(HALF), tuple(HALF))

    initial = trainer.initial_model().backbone  # the labeled probes' floor: what training started from
    assert initial.spec == spec and all(torch.equal(initial.trunk.state_dict()[key], saved[key]) for key in start)

    assert trainer.fit().status == "completed"
    trained = trainer.model.backbone.trunk.state_dict()
    assert not torch.equal(trained["conv1.weight"], saved["conv1.weight"]), "training went on from them"
    exported = trainer.export_encoder(tmp_path / "encoder.pt")
    shutil.rmtree(model_dir)  # the encoder holds every weight: the folder is no longer needed

    trainer.model.eval()
    with torch.no_grad():
        expected = torch.nn.functional.normalize(
            trainer.model.embed(ImageData(images[:8]).batch(np.arange(8), trainer.device))
        )
    for path in (exported, trainer.checkpoint_path):
        encoder = Encoder.load(path)
        np.testing.assert_allclose(encoder.embed(images[:8]), expected.numpy(), atol=1e-5)
        assert encoder.backbone.mean.flatten().tolist() == HALF  # served as it was trained
    assert model_card(Encoder.load(exported))["backbone"]["pretrained"] == "r18"


def test_a_vit_is_fitted_to_the_image_size_and_mae_keeps_its_weights(tmp_path: Path) -> None:
    saved = install_timm_model(tmp_path / "vit", "vit_tiny_patch16_224")  # 16 px patches, a 14 x 14 grid
    backbone = load_pretrained_backbone(tmp_path / "vit", backbone="vit_tiny", image_size=16)
    trunk = backbone.trunk.state_dict()
    assert backbone.spec.patch_size == 2 and trunk["patch_embed.proj.weight"].shape == (192, 3, 2, 2)
    assert trunk["pos_embed"].shape == (1, 1 + 8 * 8, 192)  # resampled to the 8 x 8 grid 16 px images make
    torch.testing.assert_close(trunk["pos_embed"][:, 0], saved["pos_embed"][:, 0])  # the class token's is kept
    unchanged = [key for key in trunk if key not in ("pos_embed", "patch_embed.proj.weight")]
    assert all(torch.equal(trunk[key], saved[key]) for key in unchanged)

    params = get_method("mae").validate({"pretrained": str(tmp_path / "vit")})
    mae = MAE(params, backbone)  # MAE's own init and sine-cosine positions are for a random start only
    after = mae.backbone.trunk.state_dict()
    assert all(torch.equal(after[key], trunk[key]) for key in trunk)
    assert mae.backbone.trunk.pos_embed.requires_grad
    with torch.no_grad():
        assert torch.isfinite(mae.training_loss(mae.make_views(torch.rand(2, 3, 16, 16)))).all()


def test_the_spec_records_normalization_and_provenance_only_when_there_are_some() -> None:
    spec = BackboneSpec("resnet18", 16, False, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2), pretrained="r18")
    assert BackboneSpec.from_dict(spec.to_dict()) == spec
    plain = BackboneSpec("resnet18", 16, True)
    assert plain.to_dict() == {"name": "resnet18", "image_size": 16, "small_stem": True}  # as older files


def _edit_config(change: dict) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        raw = json.loads((folder / CONFIG_FILE).read_text())
        (folder / CONFIG_FILE).write_text(json.dumps({**raw, **change}))

    return spoil


def _edit_weights(change: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        weights = load_file(str(folder / WEIGHTS_FILE))
        change(weights)
        (folder / WEIGHTS_FILE).unlink()  # a hard link to the shared file: replaced, not written through
        save_file(weights, str(folder / WEIGHTS_FILE))

    return spoil


def _truncate(folder: Path) -> None:
    data = (folder / WEIGHTS_FILE).read_bytes()
    (folder / WEIGHTS_FILE).unlink()
    (folder / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])


def _swap_keys(weights: dict[str, torch.Tensor]) -> None:
    weights["extra.weight"] = weights.pop("layer4.1.bn2.weight")


SPOILED: dict[str, tuple[Callable[[Path], None], str]] = {
    "no folder": (lambda folder: shutil.rmtree(folder), "no such folder"),
    "no config": (lambda folder: (folder / CONFIG_FILE).unlink(), "has no config.json"),
    "config not JSON": (lambda folder: (folder / CONFIG_FILE).write_text("{architecture"), "not readable JSON"),
    "unknown architecture": (_edit_config({"architecture": "efficientnet_b0"}), "architecture 'efficientnet_b0'"),
    "architecture missing": (_edit_config({"architecture": None}), "architecture None"),
    "another architecture": (_edit_config({"architecture": "resnet50"}), "set backbone to 'resnet50'"),
    "bad mean": (_edit_config({"pretrained_cfg": {"mean": [0.5, "x"]}}), r"pretrained_cfg.mean must be 3 numbers"),
    "zero std": (_edit_config({"pretrained_cfg": {"std": [0.5, 0, 0.5]}}), "every std must be positive"),
    "no weights": (lambda folder: (folder / WEIGHTS_FILE).unlink(), "has no model.safetensors"),
    "garbage weights": (lambda folder: _replace(folder, b"\x00" * 64), "not a readable safetensors file"),
    "torn weights": (_truncate, "not a readable safetensors file"),
    "keys of another network": (_edit_weights(_swap_keys), "missing layer4.1.bn2.weight; unexpected extra.weight"),
    "misshapen tensor": (
        _edit_weights(lambda w: w.update({"conv1.weight": w["conv1.weight"][:, :, :3, :3].contiguous()})),
        r"misshapen conv1.weight \[64, 3, 3, 3\] \(the architecture's is \[64, 3, 7, 7\]\)",
    ),
}


def _replace(folder: Path, data: bytes) -> None:
    (folder / WEIGHTS_FILE).unlink()
    (folder / WEIGHTS_FILE).write_bytes(data)


def _spoiled_copy(source: Path, destination: Path, spoil: Callable[[Path], None]) -> Path:
    """A copy of ``source`` (its weights hard-linked: no 45 MB write per case) spoiled by ``spoil``."""
    destination.mkdir()
    shutil.copy(source / CONFIG_FILE, destination / CONFIG_FILE)
    os.link(source / WEIGHTS_FILE, destination / WEIGHTS_FILE)
    spoil(destination)
    return destination


@pytest.mark.parametrize("case", sorted(SPOILED))
def test_a_spoiled_folder_is_refused_naming_its_problem(case: str, resnet18_dir: Path, tmp_path: Path) -> None:
    spoil, problem = SPOILED[case]
    folder = _spoiled_copy(resnet18_dir, tmp_path / "model", spoil)
    with pytest.raises(PretrainedModelError, match=problem) as checked:
        check_pretrained_backbone(folder, backbone="resnet18")  # what the API asks before queueing a job
    assert str(tmp_path) not in str(checked.value), "named by the model's name, not the host path"
    with pytest.raises(PretrainedModelError, match=problem):
        load_pretrained_backbone(folder, backbone="resnet18", image_size=16)  # what the job meets


def test_weights_that_are_not_numbers_fail_on_loading(resnet18_dir: Path, tmp_path: Path) -> None:
    """NaN weights have a sound header: only the job, which reads the tensors, can see them."""
    poisoned = _edit_weights(lambda w: w["layer1.0.conv1.weight"].view(-1)[0].fill_(float("nan")))
    folder = _spoiled_copy(resnet18_dir, tmp_path / "model", poisoned)
    check_pretrained_backbone(folder, backbone="resnet18")
    with pytest.raises(PretrainedModelError, match=r"NaN or infinite values in layer1\.0\.conv1\.weight"):
        load_pretrained_backbone(folder, backbone="resnet18", image_size=16)
