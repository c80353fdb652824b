"""Typed, bounded params: defaults, validation errors that name the field, and the JSON schema."""

import dataclasses
import json

import pytest

from selfsup.errors import ParamError
from selfsup.methods import get_method, list_methods
from selfsup.methods.registry import MethodSpec
from selfsup.methods.simclr import SimCLRParams
from selfsup.params import TrainingParams, params_schema, params_to_dict, validate_params


def _locs(error: ParamError) -> set[tuple[str | int, ...]]:
    return {issue.loc for issue in error.issues}


def test_defaults_resolve_from_nothing() -> None:
    params = get_method("simclr").validate(None)
    assert params == SimCLRParams()
    assert params == get_method("simclr").validate({})
    assert (params.backbone, params.epochs, params.batch_size) == ("resnet18", 20, 256)
    assert (params.temperature, params.min_scale, params.jitter_strength) == (0.2, 0.08, 1.0)
    assert params.lr == 1e-3, "SimCLR's own lr, not the common default"


def test_given_values_override_defaults() -> None:
    params = get_method("simclr").validate({"backbone": "tiny_cnn", "epochs": 3, "temperature": 0.1})
    assert (params.backbone, params.epochs, params.temperature) == ("tiny_cnn", 3, 0.1)
    assert params.batch_size == SimCLRParams().batch_size


def test_resolved_params_are_frozen() -> None:
    params = get_method("simclr").validate({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.epochs = 5


def test_unknown_param_is_named() -> None:
    with pytest.raises(ParamError) as caught:
        get_method("simclr").validate({"epochz": 3})
    assert _locs(caught.value) == {("params", "epochz")}
    assert caught.value.issues[0].message == "unknown parameter"
    assert "params.epochz" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", 10_001),
        ("batch_size", 1),
        ("lr", 0.0),
        ("weight_decay", -0.1),
        ("seed", -1),
        ("temperature", 0),
        ("projection_dim", 4),
        ("min_scale", 1.5),
    ],
)
def test_out_of_bounds_value_is_named(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("simclr").validate({field: value})
    assert _locs(caught.value) == {("params", field)}


@pytest.mark.parametrize(
    ("field", "value"),
    [("epochs", "many"), ("epochs", [3]), ("lr", "fast"), ("backbone", "vgg16"), ("optimizer", 3)],
)
def test_wrong_type_is_named(field: str, value: object) -> None:
    with pytest.raises(ParamError) as caught:
        get_method("simclr").validate({field: value})
    assert _locs(caught.value) == {("params", field)}


@pytest.mark.parametrize(
    ("field", "value"),
    [("epochs", True), ("epochs", "5"), ("epochs", 5.0), ("lr", "0.1"), ("lr", False), ("norm_pix_loss", 1)],
)
def test_json_types_are_strict(field: str, value: object) -> None:
    method = "mae" if field == "norm_pix_loss" else "simclr"
    with pytest.raises(ParamError) as caught:
        get_method(method).validate({field: value})
    assert _locs(caught.value) == {("params", field)}


def test_an_integer_is_a_fine_float() -> None:
    params = get_method("simclr").validate({"lr": 1, "weight_decay": 0, "warmup_epochs": 2})
    assert (params.lr, params.weight_decay, params.warmup_epochs) == (1.0, 0.0, 2.0)
    assert isinstance(params.lr, float)


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ParamError) as caught:
        get_method("simclr").validate({"epochs": 0, "lr": "fast", "nope": 1})
    assert _locs(caught.value) == {("params", "epochs"), ("params", "lr"), ("params", "nope")}


def test_validate_params_works_on_the_shared_base() -> None:
    assert validate_params(TrainingParams, {"epochs": 2}).epochs == 2
    with pytest.raises(ParamError):
        validate_params(TrainingParams, {"temperature": 0.5})  # a SimCLR field, unknown to the base


def test_params_round_trip_through_a_plain_dict() -> None:
    params = get_method("simclr").validate({"backbone": "tiny_cnn", "lr": 0.01, "seed": 3})
    raw = params_to_dict(params)
    assert raw["lr"] == 0.01 and raw["backbone"] == "tiny_cnn"
    assert get_method("simclr").validate(raw) == params


# A value for each parameter some method requires (has no default for).
REQUIRED_EXAMPLES = {"teacher": "mdl_teacher"}


@pytest.mark.parametrize("spec", list_methods(), ids=lambda spec: spec.name)
def test_every_methods_params_survive_the_trip_through_json(spec: MethodSpec) -> None:
    # The job row stores resolved params as JSON and the worker validates them again, strictly.
    required = {name: REQUIRED_EXAMPLES[name] for name in spec.params_schema().get("required", [])}
    resolved = spec.validate(required)
    assert spec.validate(json.loads(json.dumps(params_to_dict(resolved)))) == resolved
    defaults = {name: prop["default"] for name, prop in spec.params_schema()["properties"].items() if "default" in prop}
    assert spec.validate({**defaults, **required}) == resolved, "the published defaults validate as given"


def test_schema_has_defaults_bounds_and_descriptions() -> None:
    schema = params_schema(SimCLRParams)
    assert schema == get_method("simclr").params_schema()
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["epochs"]["default"] == 20
    assert (props["epochs"]["minimum"], props["epochs"]["maximum"]) == (1, 10_000)
    assert props["epochs"]["type"] == "integer"
    assert (props["lr"]["exclusiveMinimum"], props["lr"]["maximum"]) == (0, 10)
    assert (props["temperature"]["exclusiveMinimum"], props["temperature"]["default"]) == (0, 0.2)
    assert set(props["backbone"]["enum"]) == {"tiny_cnn", "small_cnn", "resnet18", "resnet50", "vit_tiny", "vit_small"}
    assert all(prop.get("description") for prop in props.values())
    assert set(props) == {field.name for field in dataclasses.fields(SimCLRParams)}
