"""Reading uploaded archives safely: zip, tar and tar.gz, detected by content rather than by name."""

import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from app.core.errors import PayloadTooLarge, Unprocessable

IGNORED_PARTS = ("__MACOSX",)


@dataclass(frozen=True)
class Member:
    """A regular file inside an archive."""

    name: str
    size: int
    open: Callable[[], IO[bytes]]

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int
    max_total_bytes: int


@contextmanager
def open_archive(path: Path, filename: str, limits: ArchiveLimits) -> Iterator[list[Member]]:
    """Yield the archive's regular files (hidden and metadata files left out), after checking limits."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            yield _checked(_zip_members(archive), filename, limits)
    elif _is_tar(path):
        with tarfile.open(path, mode="r:*") as archive:
            yield _checked(_tar_members(archive, filename), filename, limits)
    else:
        raise Unprocessable(f"{filename}: not a .zip, .tar or .tar.gz archive")


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, tarfile.TarError, EOFError):
        return False


def _zip_members(archive: zipfile.ZipFile) -> list[Member]:
    members = []
    for info in archive.infolist():
        if info.is_dir():
            continue

        def opener(info: zipfile.ZipInfo = info) -> IO[bytes]:
            return archive.open(info)

        members.append(Member(info.filename, info.file_size, opener))
    return members


def _tar_members(archive: tarfile.TarFile, filename: str) -> list[Member]:
    members = []
    try:
        infos = archive.getmembers()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise Unprocessable(f"{filename}: damaged archive ({exc})") from None
    for info in infos:
        if info.isdir():
            continue
        if not info.isfile():
            raise Unprocessable(f"{filename}: member {info.name!r} is a link or device, which is not accepted")

        def opener(info: tarfile.TarInfo = info) -> IO[bytes]:
            handle = archive.extractfile(info)
            assert handle is not None  # regular files always have content
            return handle

        members.append(Member(info.name, info.size, opener))
    return members


def _checked(members: list[Member], filename: str, limits: ArchiveLimits) -> list[Member]:
    if len(members) > limits.max_members:
        raise PayloadTooLarge(f"{filename}: {len(members)} files, over the limit of {limits.max_members}")
    total = sum(member.size for member in members)
    if total > limits.max_total_bytes:
        raise PayloadTooLarge(f"{filename}: unpacks to {total} bytes, over the limit of {limits.max_total_bytes}")
    for member in members:
        _check_path(member.name, filename)
    return [m for m in members if not _is_ignored(m.name)]


def _check_path(name: str, filename: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise Unprocessable(f"{filename}: member {name!r} points outside the archive")


def _is_ignored(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(part.startswith(".") or part in IGNORED_PARTS for part in parts)


def read_member(member: Member, max_bytes: int) -> bytes:
    """Read a member, never more than ``max_bytes`` (its header's size can lie)."""
    with member.open() as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{member.name}: larger than {max_bytes} bytes when unpacked")
    return data
