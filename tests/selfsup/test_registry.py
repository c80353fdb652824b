"""The method registry: names, families, modalities and refusals."""

import pytest

from selfsup import list_methods
from selfsup.errors import UnknownNameError
from selfsup.methods import FAMILIES, MODALITIES, SSLMethod, default_method, get_method, register_method
from selfsup.methods.simclr import SimCLR, SimCLRParams
from selfsup.params import TrainingParams


def test_simclr_is_registered_with_its_family_and_modalities() -> None:
    spec = get_method("simclr")
    assert spec.name == "simclr"
    assert spec.family == "contrastive"
    assert spec.modalities == ("image",)
    assert spec.params_cls is SimCLRParams
    assert spec.method_cls is SimCLR
    assert spec.summary.startswith("SimCLR")


def test_list_methods_is_sorted_and_consistent() -> None:
    specs = list_methods()
    names = [spec.name for spec in specs]
    assert "simclr" in names
    assert names == sorted(names)
    for spec in specs:
        assert spec.family in FAMILIES
        assert set(spec.modalities) <= set(MODALITIES)
        assert get_method(spec.name) is spec


def test_unknown_method_raises_a_typed_error() -> None:
    with pytest.raises(UnknownNameError) as caught:
        get_method("simclrr")
    assert caught.value.kind == "method" and caught.value.name == "simclrr"
    assert "simclr" in caught.value.known
    assert str(caught.value) == f"unknown method 'simclrr'; known: {', '.join(sorted(caught.value.known))}"
    assert isinstance(caught.value, KeyError)


def test_registration_refuses_bad_declarations() -> None:
    with pytest.raises(ValueError, match="family"):
        register_method("x", family="magic", modalities=("image",), params=TrainingParams)
    with pytest.raises(ValueError, match="modalities"):
        register_method("x", family="contrastive", modalities=("audio",), params=TrainingParams)
    with pytest.raises(ValueError, match="twice"):

        @register_method("simclr", family="contrastive", modalities=("image",), params=TrainingParams)
        class Duplicate(SSLMethod):
            pass

    assert get_method("simclr").method_cls is SimCLR


def test_each_modality_has_one_default_method_that_accepts_it() -> None:
    for modality in MODALITIES:
        spec = default_method(modality)
        assert modality in spec.modalities and modality in spec.default_for and not spec.takes_teacher
    assert [spec.name for spec in list_methods() if spec.default_for] == ["bagcse", "clip", "simclr", "tabular_dae"]
    with pytest.raises(UnknownNameError, match="unknown modality"):
        default_method("audio")


def test_a_second_default_for_a_modality_is_refused() -> None:
    with pytest.raises(ValueError, match="simclr already is"):
        register_method(
            "simclr_too", family="contrastive", modalities=("image",), params=SimCLRParams, default_for=("image",)
        )(SimCLR)
    with pytest.raises(ValueError, match="does not accept"):
        register_method("odd", family="contrastive", modalities=("image",), params=SimCLRParams, default_for=("text",))(
            SimCLR
        )
