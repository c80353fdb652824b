"""Self-supervised methods. Importing this package imports every module in it, and each registers itself."""

import importlib
import pkgutil

from selfsup.methods.base import SSLMethod
from selfsup.methods.registry import (
    FAMILIES,
    MODALITIES,
    MethodSpec,
    default_method,
    get_method,
    list_methods,
    register_method,
)

_INFRASTRUCTURE = {"base", "registry"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _INFRASTRUCTURE and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "FAMILIES",
    "MODALITIES",
    "MethodSpec",
    "SSLMethod",
    "default_method",
    "get_method",
    "list_methods",
    "register_method",
]
