"""The method registry: names, families, modalities and refusals."""

import pytest

from selfsup import list_methods
from selfsup.errors import UnknownNameError
from selfsup.methods import FAMILIES, MODALITIES, SSLMethod, get_method, register_method
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
