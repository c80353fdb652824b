"""Reading uploaded archives safely: zip, tar and tar.gz, detected by content rather than by name.

Limits are checked from the headers before anything is unpacked (a tar is read one header at a time and
given up as soon as it passes one), and again while reading, because headers can lie. Links, special
files, encrypted entries and paths leading out of the archive are refused; a damaged or truncated archive
is refused naming the file, whichever layer (zip, gzip, tar) noticed.
"""

import lzma
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from app.core.errors import PayloadTooLarge, Unprocessable

IGNORED_PARTS = ("__MACOSX",)
ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
# What each layer raises on damaged or truncated data (zlib.error and LZMAError are not OSErrors).
READ_ERRORS = (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)
# Leading bytes of the formats we take apart, to tell "damaged" from "not an archive at all".
ARCHIVE_MAGIC = {b"PK\x03\x04": "zip", b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
EOCD = struct.Struct("<4s4H2LH")  # a zip's end-of-central-directory record
EOCD_SEARCH_BYTES = EOCD.size + 0xFFFF  # the record, then a comment of at most 64 KiB
# Member paths: no real dataset nests deeper or names longer, and every path is split into its parts more
# than once (ignored parts, label folders), which a 16,000-deep path made cost memory quadratic in its depth.
MAX_PATH_BYTES = 1024
MAX_PATH_DEPTH = 64
COPY_CHUNK_BYTES = 1024**2


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
    max_member_bytes: int  # refused from the header already, and again while reading (headers can lie)


@contextmanager
def open_archive(path: Path, filename: str, limits: ArchiveLimits) -> Iterator[list[Member]]:
    """Yield the archive's regular files (hidden and metadata files left out), after checking limits."""
    if zipfile.is_zipfile(path):
        _check_count(_declared_zip_entries(path), filename, limits)
        with _open_zip(path, filename) as archive:
            yield _visible(_zip_members(archive, filename, limits))
    elif _is_tar(path):
        with _open_tar(path, filename) as archive:
            yield _visible(_tar_members(archive, filename, limits))
    else:
        raise Unprocessable(_not_an_archive(path, filename))


def _open_zip(path: Path, filename: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (*READ_ERRORS, ValueError) as exc:
        raise Unprocessable(f"{filename}: damaged zip archive ({exc})") from None


def _open_tar(path: Path, filename: str) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:*")
    except READ_ERRORS as exc:
        raise Unprocessable(f"{filename}: damaged tar archive ({exc})") from None


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (*READ_ERRORS, ValueError):
        return False


def _not_an_archive(path: Path, filename: str) -> str:
    with path.open("rb") as handle:
        head = handle.read(8)
    kind = next((kind for magic, kind in ARCHIVE_MAGIC.items() if head.startswith(magic)), None)
    if kind is not None:
        return f"{filename}: damaged or truncated {kind} archive (its end or its index is missing)"
    return f"{filename}: not a .zip, .tar or .tar.gz archive"


def _declared_zip_entries(path: Path) -> int:
    """The entry count a zip declares at its end, read before zipfile builds an object for every entry."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - EOCD_SEARCH_BYTES))
        tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < EOCD.size:
        return 0
    return int(EOCD.unpack_from(tail, at)[4])  # zip64 archives say 0xFFFF here: the real count is checked later


def _zip_members(archive: zipfile.ZipFile, filename: str, limits: ArchiveLimits) -> list[Member]:
    infos = archive.infolist()
    _check_count(len(infos), filename, limits)
    _check_total(sum(info.file_size for info in infos), filename, limits)
    members = []
    for info in infos:
        _check_path(info.filename, filename)
        if info.is_dir():
            continue
        _check_zip_entry(info, filename, limits)

        def opener(info: zipfile.ZipInfo = info) -> IO[bytes]:
            return archive.open(info)

        members.append(Member(info.filename, info.file_size, opener))
    return members


def _check_zip_entry(info: zipfile.ZipInfo, filename: str, limits: ArchiveLimits) -> None:
    name = info.filename
    file_type = stat.S_IFMT(info.external_attr >> 16)  # unix mode bits, when the zip was made on unix
    if file_type == stat.S_IFLNK:
        raise Unprocessable(f"{filename}: member {name!r} is a symbolic link, which is not accepted")
    if file_type not in (0, stat.S_IFREG):
        raise Unprocessable(f"{filename}: member {name!r} is a device or special file, which is not accepted")
    if info.flag_bits & 0x1:
        raise Unprocessable(f"{filename}: member {name!r} is encrypted, which is not accepted")
    if info.compress_type not in ZIP_METHODS:
        raise Unprocessable(f"{filename}: member {name!r} uses an unsupported compression method")
    _check_member_size(name, info.file_size, limits)


def _tar_members(archive: tarfile.TarFile, filename: str, limits: ArchiveLimits) -> list[Member]:
    """Read headers one at a time and stop at the first that passes a limit: reaching the next header of a
    compressed tar means decompressing everything before it."""
    members, count, total = [], 0, 0
    try:
        for info in archive:
            count, total = count + 1, total + info.size
            _check_count(count, filename, limits)
            _check_total(total, filename, limits)
            _check_path(info.name, filename)
            if info.isdir():
                continue
            if not info.isfile():
                raise Unprocessable(f"{filename}: member {info.name!r} is a link or device, which is not accepted")
            _check_member_size(info.name, info.size, limits)

            def opener(info: tarfile.TarInfo = info) -> IO[bytes]:
                handle = archive.extractfile(info)
                assert handle is not None  # regular files always have content
                return handle

            members.append(Member(info.name, info.size, opener))
        ended = _has_end_marker(archive)
    except READ_ERRORS as exc:
        raise Unprocessable(f"{filename}: damaged or truncated archive ({exc})") from None
    if not ended:  # tarfile takes a cut-off header for the end of the archive
        raise Unprocessable(f"{filename}: damaged or truncated archive (its end-of-archive marker is missing)")
    return members


def _has_end_marker(archive: tarfile.TarFile) -> bool:
    """Whether a zero block follows the last member, as every tar writer leaves; a cut-off tar lacks it."""
    assert archive.fileobj is not None
    archive.fileobj.seek(archive.offset)
    return archive.fileobj.read(tarfile.BLOCKSIZE) == tarfile.NUL * tarfile.BLOCKSIZE


def _check_count(count: int, filename: str, limits: ArchiveLimits) -> None:
    if count > limits.max_members:
        raise PayloadTooLarge(f"{filename}: more than {limits.max_members} entries, the limit")


def _check_total(total: int, filename: str, limits: ArchiveLimits) -> None:
    if total > limits.max_total_bytes:
        raise PayloadTooLarge(f"{filename}: unpacks to more than {limits.max_total_bytes} bytes, the limit")


def _check_member_size(name: str, size: int, limits: ArchiveLimits) -> None:
    if size > limits.max_member_bytes:
        raise PayloadTooLarge(f"{name}: {size} bytes unpacked, over the limit of {limits.max_member_bytes}")


def _check_path(name: str, filename: str) -> None:
    # Length first, from the raw name: the depth is then counted on at most MAX_PATH_BYTES.
    if len(name.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise Unprocessable(f"{filename}: a member's path is longer than the limit of {MAX_PATH_BYTES} bytes")
    if name.replace("\\", "/").strip("/").count("/") + 1 > MAX_PATH_DEPTH:
        raise Unprocessable(f"{filename}: member {name!r} is nested deeper than the limit of {MAX_PATH_DEPTH} folders")
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise Unprocessable(f"{filename}: member {name!r} points outside the archive")


def _visible(members: list[Member]) -> list[Member]:
    return [m for m in members if not _is_ignored(m.name)]


def _is_ignored(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(part.startswith(".") or part in IGNORED_PARTS for part in parts)


def read_member(member: Member, max_bytes: int) -> bytes:
    """Read a member, never more than ``max_bytes`` (its header's size can lie); damage is a 422 naming it."""
    try:
        with member.open() as handle:
            data = handle.read(max_bytes + 1)
    except READ_ERRORS as exc:
        raise Unprocessable(f"{member.name}: cannot be read from the archive ({exc})") from None
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{member.name}: larger than {max_bytes} bytes when unpacked")
    return data


def extract_member(member: Member, dest: Path, max_bytes: int) -> None:
    """Copy a member to ``dest`` in chunks, never more than ``max_bytes`` (its header's size can lie)."""
    written = 0
    try:
        with member.open() as source, dest.open("wb") as target:
            while chunk := source.read(COPY_CHUNK_BYTES):
                written += len(chunk)
                if written > max_bytes:
                    raise PayloadTooLarge(f"{member.name}: larger than {max_bytes} bytes when unpacked")
                target.write(chunk)
    except READ_ERRORS as exc:
        raise Unprocessable(f"{member.name}: cannot be read from the archive ({exc})") from None


def staged_data_file(
    path: Path, filename: str, limits: ArchiveLimits, suffixes: frozenset[str], *, staging: Path
) -> tuple[str, Path]:
    """The one data file of an upload, as (name, path on disk), for ingest that streams from a file: the upload
    itself when its name ends in one of ``suffixes``, else the archive's only file, extracted into ``staging``."""
    if PurePosixPath(filename).suffix.lower() in suffixes:
        return filename, path
    with open_archive(path, filename, limits) as members:
        if len(members) != 1:
            accepted = " or ".join(sorted(suffixes))
            raise Unprocessable(f"{filename}: the archive must hold one {accepted} file, not {len(members)}")
        [member] = members
        if member.suffix not in suffixes:
            raise Unprocessable(
                f"{filename}: {member.name!r} is not a data file (accepted: {', '.join(sorted(suffixes))})"
            )
        dest = staging / f"member{member.suffix}"
        extract_member(member, dest, limits.max_member_bytes)
        return member.name, dest


def upload_files(
    path: Path, filename: str, limits: ArchiveLimits, suffixes: frozenset[str], *, max_total_bytes: int
) -> list[tuple[str, bytes]]:
    """The data files of an upload, as (name, bytes): the upload itself when its name ends in one of
    ``suffixes``, otherwise every file of the archive it must be, each of which must end in one of them.

    They are all read into memory, so together they may unpack to at most ``max_total_bytes`` (checked from
    the headers before reading, and again as read)."""
    accepted = ", ".join(sorted(suffixes))
    if PurePosixPath(filename).suffix.lower() in suffixes:
        cap = min(limits.max_member_bytes, max_total_bytes)
        if path.stat().st_size > cap:
            raise PayloadTooLarge(f"{filename}: larger than {cap} bytes, the limit")
        return [(filename, path.read_bytes())]
    with open_archive(path, filename, limits) as members:
        if not members:
            raise Unprocessable(f"{filename}: the archive contains no files")
        if others := [m.name for m in members if m.suffix not in suffixes]:
            raise Unprocessable(f"{filename}: {others[0]!r} is not a data file (accepted: {accepted})")
        if sum(m.size for m in members) > max_total_bytes:
            raise PayloadTooLarge(f"{filename}: its files unpack to more than {max_total_bytes} bytes, the limit")
        files, total = [], 0
        for member in sorted(members, key=lambda m: m.name):
            data = read_member(member, min(limits.max_member_bytes, max_total_bytes - total))
            files.append((member.name, data))
            total += len(data)
        return files
