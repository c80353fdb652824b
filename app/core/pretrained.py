"""The operator's pretrained folder: models a job may start from or learn from, named, never given as paths."""

import re
from pathlib import Path

PRETRAINED_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


class NotInstalled(ValueError):
    """A name that is no installed pretrained model (or no name at all: a path); the message says which."""


def installed_model(pretrained_dir: Path | None, name: str) -> Path:
    """The folder of the installed model ``name``: a tenant must not make the worker read arbitrary files, so
    a name that could be a path is refused before the folder is looked at."""
    if not PRETRAINED_NAME.fullmatch(name) or name in (".", ".."):
        raise NotInstalled("a pretrained model's name (letters, digits, '-', '_', '.'), not a path")
    if pretrained_dir is None or not (pretrained_dir / name).is_dir():
        raise NotInstalled(f"no pretrained model named {name!r} is installed on this service")
    return pretrained_dir / name
