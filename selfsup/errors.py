"""Typed errors raised by the engine. Callers map them to their own world (HTTP codes, job states)."""

from dataclasses import dataclass


class SelfSupError(Exception):
    """Base class for every error the engine raises on purpose."""


@dataclass(frozen=True)
class ParamIssue:
    """One problem with one parameter: where it is (``("params", "epochs")``) and what is wrong."""

    loc: tuple[str | int, ...]
    message: str


class ParamError(SelfSupError):
    """Parameters that do not fit a method's typed config."""

    def __init__(self, issues: list[ParamIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{'.'.join(map(str, i.loc))}: {i.message}" for i in issues))


class UnknownNameError(SelfSupError, KeyError):
    """A method or backbone name that is not registered."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, known
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidImageError(SelfSupError, ValueError):
    """Bytes that do not decode to a usable image."""


class ItemDecodeError(InvalidImageError):
    """Item ``index`` of a batch being decoded is not a usable image."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


class CheckpointError(SelfSupError):
    """A checkpoint or encoder file that is missing, foreign or from an unknown format version."""


class TrainingCanceled(SelfSupError):
    """Raised inside the loop when a stop was requested; the loop turns it into a result."""


class TrainingDiverged(SelfSupError):
    """The loss became NaN or infinite."""
