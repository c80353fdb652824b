"""The method registry: each method declares its family, the modalities it accepts and its typed params."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from selfsup.errors import UnknownNameError
from selfsup.params import params_schema, validate_params, validate_request

if TYPE_CHECKING:
    from selfsup.methods.base import SSLMethod

# "distillation" learns from another, frozen model rather than from the data alone: not self-supervised in the
# sense of the other four families, though it trains on the same unlabeled data.
FAMILIES = ("contrastive", "clustering", "masked", "generative", "cross_modal", "distillation")
MODALITIES = ("image", "text", "tabular", "image_text")


@dataclass(frozen=True)
class MethodSpec:
    """What the service needs to know about a method without building it."""

    name: str
    family: str
    modalities: tuple[str, ...]
    params_cls: type
    method_cls: type["SSLMethod"]
    summary: str
    takes_teacher: bool = False  # built with ``teacher=`` (a frozen Encoder) besides its params and backbone
    default_for: tuple[str, ...] = ()  # the modalities whose jobs train with this method when none is named

    def validate(self, raw: dict[str, Any] | None) -> Any:
        """Resolve untrusted params into the method's frozen dataclass (raises ParamError)."""
        return validate_params(self.params_cls, raw)

    def validate_request(self, raw: dict[str, Any] | None) -> Any:
        """:meth:`validate` for params a caller chose: ``epochs`` and ``max_minutes`` not both (ParamError)."""
        return validate_request(self.params_cls, raw)

    def params_schema(self) -> dict[str, Any]:
        return params_schema(self.params_cls)


_METHODS: dict[str, MethodSpec] = {}
_DEFAULTS: dict[str, str] = {}  # modality -> the name of its default method
M = TypeVar("M", bound="type[SSLMethod]")


def register_method(
    name: str,
    *,
    family: str,
    modalities: tuple[str, ...],
    params: type,
    takes_teacher: bool = False,
    default_for: tuple[str, ...] = (),
) -> Callable[[M], M]:
    """Class decorator that adds an :class:`SSLMethod` subclass to the registry under ``name``.

    ``default_for``: the modalities (among ``modalities``) for which this is the method a job gets when it names
    none; at most one method per modality.

    ``takes_teacher``: the method learns from a frozen model that the caller loads and hands to the Trainer
    (``Trainer(..., teacher=...)``); the class then takes it as the keyword ``teacher``, None when it is rebuilt
    only to read its encoder (from a checkpoint).
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if unknown := set(modalities) - set(MODALITIES):
        raise ValueError(f"unknown modalities {sorted(unknown)}")
    if foreign := set(default_for) - set(modalities):
        raise ValueError(f"{name} cannot be the default for {', '.join(sorted(foreign))}: it does not accept them")

    def add(cls: M) -> M:
        if name in _METHODS:
            raise ValueError(f"method {name!r} is registered twice")
        if taken := [m for m in default_for if m in _DEFAULTS]:
            owners = ", ".join(_DEFAULTS[m] for m in taken)
            raise ValueError(f"{name} cannot be the default for {', '.join(taken)}: {owners} already is")
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else name
        _METHODS[name] = MethodSpec(name, family, modalities, params, cls, summary, takes_teacher, default_for)
        _DEFAULTS.update(dict.fromkeys(default_for, name))
        return cls

    return add


def get_method(name: str) -> MethodSpec:
    if name not in _METHODS:
        raise UnknownNameError("method", name, list(_METHODS))
    return _METHODS[name]


def default_method(modality: str) -> MethodSpec:
    """The method a job on ``modality`` data trains with when it names none (UnknownNameError if none is)."""
    if modality not in _DEFAULTS:
        raise UnknownNameError("modality with a default method", modality, sorted(_DEFAULTS))
    return _METHODS[_DEFAULTS[modality]]


def list_methods() -> list[MethodSpec]:
    return [_METHODS[name] for name in sorted(_METHODS)]
