"""An upload's data files read as streams: the upload itself, or each member of the archive it is, opened when
reached and read a line at a time, so ingest never holds a file whole (text today; tables still read
:func:`app.datasets.archives.upload_files` into memory)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from app.core.errors import PayloadTooLarge, Unprocessable
from app.datasets.archives import READ_ERRORS, ArchiveLimits, Member, open_archive


class MemberReader:
    """An archive member read a line at a time and held to the limits as read (headers can lie), damage
    reported as a 422 naming the member. ``unpacked`` is shared by the archive's members."""

    def __init__(self, member: Member, handle: IO[bytes], limits: ArchiveLimits, unpacked: list[int]) -> None:
        self._member, self._handle, self._limits, self._unpacked = member, handle, limits, unpacked
        self._read = 0

    def readline(self, size: int = -1, /) -> bytes:
        try:
            line = self._handle.readline(size)
        except READ_ERRORS as exc:
            raise Unprocessable(f"{self._member.name}: cannot be read from the archive ({exc})") from None
        self._read += len(line)
        self._unpacked[0] += len(line)
        if self._read > self._limits.max_member_bytes:
            limit = self._limits.max_member_bytes
            raise PayloadTooLarge(f"{self._member.name}: larger than {limit} bytes when unpacked, the limit")
        if self._unpacked[0] > self._limits.max_total_bytes:
            limit = self._limits.max_total_bytes
            raise PayloadTooLarge(f"{self._member.name}: the archive unpacks to more than {limit} bytes, the limit")
        return line


@contextmanager
def streamed_upload_files(
    path: Path, filename: str, limits: ArchiveLimits, suffixes: frozenset[str]
) -> Iterator[Iterator[tuple[str, IO[bytes] | MemberReader]]]:
    """The data files of an upload as (name, binary handle) pairs in name order: the upload itself when its
    name ends in one of ``suffixes`` (its size is the upload's, already limited), otherwise every file of the
    archive it must be, each of which must end in one of them."""
    if PurePosixPath(filename).suffix.lower() in suffixes:
        yield _bare_file(path, filename)
        return
    accepted = ", ".join(sorted(suffixes))
    with open_archive(path, filename, limits) as members:
        if not members:
            raise Unprocessable(f"{filename}: the archive contains no files")
        if others := [m.name for m in members if m.suffix not in suffixes]:
            raise Unprocessable(f"{filename}: {others[0]!r} is not a data file (accepted: {accepted})")
        yield _member_files(sorted(members, key=lambda m: m.name), limits)


def _bare_file(path: Path, filename: str) -> Iterator[tuple[str, IO[bytes]]]:
    with path.open("rb") as handle:
        yield filename, handle


def _member_files(members: list[Member], limits: ArchiveLimits) -> Iterator[tuple[str, MemberReader]]:
    unpacked = [0]
    for member in members:
        try:
            handle = member.open()
        except READ_ERRORS as exc:
            raise Unprocessable(f"{member.name}: cannot be read from the archive ({exc})") from None
        with handle:
            yield member.name, MemberReader(member, handle, limits, unpacked)
