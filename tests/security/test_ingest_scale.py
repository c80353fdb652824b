"""Uploads that are small on the wire and huge once ingested, or shaped to make the archive layer work hard:
each failing its dataset with a message naming the limit, before the work, and nothing stored."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import reset_service_caches
from tests.support import ingest
from tests.support.images import digit_pngs, png_bytes, tar_bytes, zip_bytes

MAX_PATH_DEPTH, MAX_PATH_BYTES = 64, 1024  # the documented caps, stated so the old code fails by assertion


def upload(client: TestClient, data: bytes, filename: str, **form: str) -> dict:
    """Uploaded and ingested: the dataset as GET shows it, ready or failed."""
    return ingest.upload(client, {"file": (filename, data)}, {"name": filename, **form})


def stored(client: TestClient) -> int:
    return sum(d["status"] == "ready" for d in client.get("/v1/datasets").json()["items"])


def test_a_dictionary_encoded_parquet_is_budgeted_as_it_decodes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One 1 MiB string used on each of 1024 rows: a few KB packed, a GiB once decoded. The decoded-size guard
    # counted the dictionary once (batch.nbytes), and the table was then unpacked into Python strings.
    monkeypatch.setenv("SELFSUP_MAX_DATASET_BYTES", str(256 * 1024**2))
    reset_service_caches()
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(1024, np.int32)), pa.array(["x" * 1024**2]))
    buffer = io.BytesIO()
    pq.write_table(pa.table({"tag": column, "n": pa.array(np.arange(1024.0))}), buffer, compression="zstd")
    assert len(buffer.getvalue()) < 100_000
    failed = upload(client, buffer.getvalue(), "bomb.parquet", modality="tabular")
    assert failed["status"] == "failed", failed
    assert "bomb.parquet: unpacks to more than the limit of 268435456 bytes" in failed["error"]
    assert stored(client) == 0


def test_images_whose_array_passes_the_dataset_limit_fail_before_decoding(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 300 one-pixel PNGs (a few KB zipped) at image_size=1024 wrote a 944 MB array.
    monkeypatch.setenv("SELFSUP_MAX_DATASET_BYTES", str(512 * 1024**2))
    reset_service_caches()
    pixel = png_bytes(Image.new("RGB", (1, 1), "white"))
    archive = zip_bytes([(f"p/{i:03d}.png", pixel) for i in range(300)])
    failed = upload(client, archive, "pixels.zip", image_size="1024")
    assert failed["status"] == "failed", failed
    expected = "300 images at 1024x1024 decode to 943718400 bytes, over the limit of 536870912 bytes"
    assert expected in failed["error"] and "SELFSUP_MAX_DATASET_BYTES" in failed["error"]
    assert stored(client) == 0
    assert upload(client, archive, "pixels.zip", image_size="32")["status"] == "ready"  # 0.9 MB: well inside


@pytest.mark.parametrize("pack", [zip_bytes, tar_bytes], ids=["zip", "tar.gz"])
def test_member_paths_past_the_depth_or_length_limit_are_refused(client: TestClient, pack: object) -> None:
    [(_, png), *_] = digit_pngs(2)
    deep = "d/" * MAX_PATH_DEPTH + "x.png"  # one folder too many, in few bytes
    long = "n" * (MAX_PATH_BYTES - 3) + ".png"  # one byte too long, at depth 1
    cases = [
        (deep, f"nested deeper than the limit of {MAX_PATH_DEPTH} folders"),
        (long, f"longer than the limit of {MAX_PATH_BYTES} bytes"),
    ]
    for name, expected in cases:
        archive = pack([(name, png), ("ok/a.png", png)])  # type: ignore[operator]
        failed = upload(client, archive, "paths.archive", image_size="16")
        assert failed["status"] == "failed", failed
        assert expected in failed["error"]
    assert stored(client) == 0
    at_limits = pack([("d/" * (MAX_PATH_DEPTH - 1) + "x.png", png), ("n" * (MAX_PATH_BYTES - 4) + ".png", png)])  # type: ignore[operator]
    assert upload(client, at_limits, "paths.archive", image_size="16")["status"] == "ready"
