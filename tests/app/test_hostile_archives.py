"""Hostile and broken archives: bombs, escaping paths and links, truncation, content that belies its name. Each
upload is accepted and its ingest fails naming the problem, and nothing is stored.
"""

import gzip
import io
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.support.hostile import FAILED, ZEROS, assert_refused, upload
from tests.support.images import FIXED_ZIP_TIME, digit_pngs, png_bytes, tar_bytes, zip_bytes

# --- archive bombs ----------------------------------------------------------------------------------------


def zip_declaring(name: str, data: bytes, declared_size: int) -> bytes:
    """A one-member zip whose headers state ``declared_size`` as the unpacked size, whatever ``data`` is."""
    raw = bytearray(zip_bytes([(name, data)]))
    struct.pack_into("<L", raw, raw.find(b"PK\x03\x04") + 22, declared_size)
    struct.pack_into("<L", raw, raw.find(b"PK\x01\x02") + 24, declared_size)
    return bytes(raw)


@pytest.mark.parametrize(
    ("payload", "filename", "status", "needles"),
    [
        (zip_bytes([("bomb.png", ZEROS)]), "bomb.zip", FAILED, ["bomb.zip", "unpacks to more than 200000 bytes"]),
        (tar_bytes([("bomb.png", ZEROS)]), "bomb.tar.gz", FAILED, ["bomb.tar.gz", "unpacks to more than 200000"]),
        (zip_bytes([("big.png", ZEROS[:30000])]), "big.zip", FAILED, ["big.png", "over the limit of 20000"]),
        (tar_bytes([("big.png", ZEROS[:30000])]), "big.tar.gz", FAILED, ["big.png", "over the limit of 20000"]),
        (zip_declaring("huge.png", b"x", 0xFFFFFFF0), "huge.zip", FAILED, ["huge.zip", "unpacks to more than"]),
        (zip_bytes([(f"{i}.png", b"x") for i in range(41)]), "many.zip", FAILED, ["many.zip", "more than 40 entries"]),
        (tar_bytes([(f"{i}.png", b"x") for i in range(41)]), "many.tgz", FAILED, ["many.tgz", "more than 40 entries"]),
        # The header says 100 bytes; the data inflates to 300 KB. Only 100 are read, and they fail the checksum.
        (zip_declaring("liar.png", ZEROS, 100), "liar.zip", FAILED, ["liar.png", "cannot be read", "CRC"]),
    ],
    ids=["zip-total", "tgz-total", "zip-member", "tgz-member", "zip-declared", "zip-count", "tgz-count", "zip-liar"],
)
def test_archive_bombs_are_refused(
    limited: TestClient, data_dir: Path, payload: bytes, filename: str, status: int, needles: list[str]
) -> None:
    assert_refused(limited, data_dir, upload(limited, payload, filename), status, *needles)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: a decompression bomb's first step."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("image", "needle"),
    [
        (png_claiming(50_000, 50_000), "too large to decode safely"),  # Pillow's own DecompressionBombError
        (png_bytes(Image.new("L", (200, 200))), "200x200 pixels, over the limit of 10000"),  # our setting
    ],
    ids=["pillow-bomb", "over-setting"],
)
def test_image_decompression_bombs_are_refused(limited: TestClient, data_dir: Path, image: bytes, needle: str) -> None:
    payload = zip_bytes([*digit_pngs(2), ("bomb.png", image)])
    assert_refused(limited, data_dir, upload(limited, payload), FAILED, "bomb.png", needle)


# --- escaping paths and links -----------------------------------------------------------------------------


def tar_with(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        name, png = digit_pngs(1)[0]
        first = tarfile.TarInfo(name)
        first.size = len(png)
        archive.addfile(first, io.BytesIO(png))
        archive.addfile(info, io.BytesIO(data) if data else None)
    return gzip.compress(buffer.getvalue(), mtime=0)  # no clock in the bytes: every xdist worker collects the same


def tar_link(name: str, kind: bytes, target: str) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return tar_with(info)


def zip_symlink(name: str, target: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        first, png = digit_pngs(1)[0]
        archive.writestr(zipfile.ZipInfo(first, date_time=FIXED_ZIP_TIME), png)
        info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
        info.create_system = 3  # unix: the upper 16 bits of external_attr are the file's mode
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)
    return buffer.getvalue()


def tar_file(name: str) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 3
    return tar_with(info, b"abc")


@pytest.mark.parametrize(
    ("payload", "filename", "needles"),
    [
        (zip_bytes([("/etc/cron.png", b"x")]), "abs.zip", ["'/etc/cron.png' points outside the archive"]),
        (tar_file("/etc/cron.png"), "abs.tgz", ["'/etc/cron.png' points outside the archive"]),
        (tar_file("a/../../up.png"), "up.tgz", ["'a/../../up.png' points outside the archive"]),
        (tar_link("x.png", tarfile.SYMTYPE, "/etc/passwd"), "sym.tgz", ["'x.png' is a link"]),
        (tar_link("x.png", tarfile.LNKTYPE, "/etc/passwd"), "hard.tgz", ["'x.png' is a link"]),
        (zip_symlink("x.png", "/etc/passwd"), "sym.zip", ["sym.zip", "'x.png' is a symbolic link"]),
    ],
    ids=["zip-absolute", "tar-absolute", "tar-dotdot", "tar-symlink", "tar-hardlink", "zip-symlink"],
)
def test_escaping_paths_and_links_are_refused(
    limited: TestClient, data_dir: Path, payload: bytes, filename: str, needles: list[str]
) -> None:
    assert_refused(limited, data_dir, upload(limited, payload, filename), FAILED, filename, *needles)


@pytest.mark.parametrize(
    ("archive", "filename", "needle"),
    [
        (zip_bytes(digit_pngs(20)), "cut.zip", "damaged or truncated zip archive"),
        (tar_bytes(digit_pngs(20)), "cut.tar.gz", "damaged or truncated archive"),
        (tar_bytes(digit_pngs(20), mode="w"), "cut.tar", "damaged or truncated archive"),
    ],
    ids=["zip", "tar.gz", "tar"],
)
def test_truncated_archives_are_refused_naming_the_file(
    limited: TestClient, data_dir: Path, archive: bytes, filename: str, needle: str
) -> None:
    response = upload(limited, archive[: len(archive) // 2], filename)
    assert_refused(limited, data_dir, response, FAILED, filename, needle)


def jpeg_bytes() -> bytes:
    return png_bytes(Image.new("RGB", (24, 24), (200, 30, 30)), "JPEG")


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("photo.jpg", png_bytes(Image.new("L", (24, 24))), "the content is a PNG image, but the name says JPEG"),
        ("photo.png", jpeg_bytes(), "the content is a JPEG image, but the name says PNG"),
        ("photo.webp", jpeg_bytes(), "the content is a JPEG image, but the name says WEBP"),
    ],
    ids=["png-as-jpg", "jpeg-as-png", "jpeg-as-webp"],
)
def test_content_that_does_not_match_its_extension_is_refused(
    limited: TestClient, data_dir: Path, name: str, data: bytes, needle: str
) -> None:
    response = upload(limited, zip_bytes([*digit_pngs(2), (f"x/{name}", data)]))
    assert_refused(limited, data_dir, response, FAILED, f"x/{name}: {needle}")
