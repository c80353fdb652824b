"""Self-supervised methods. Importing this package registers every built-in method."""

from selfsup.methods import simclr as _simclr  # noqa: F401  (registers itself)
from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import (
    FAMILIES,
    MODALITIES,
    MethodSpec,
    get_method,
    list_methods,
    register_method,
)

__all__ = [
    "FAMILIES",
    "MODALITIES",
    "MethodSpec",
    "SSLMethod",
    "get_method",
    "list_methods",
    "register_method",
]
