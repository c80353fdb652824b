"""The storage contract, run against both backends: a local folder and a real S3 server (moto, a process)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.storage import LocalStorage, Storage, StoredObject, UnsafeKey
from app.core.storage.s3 import S3Storage
from tests.support import s3
from tests.support.s3 import ChildProcess

PART = 5 * 1024**2  # S3's smallest multipart part


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "file":
        yield LocalStorage(tmp_path / "blobs")
        return
    server: ChildProcess = request.getfixturevalue("s3_server")
    bucket = s3.new_bucket(server.url)
    client = s3.client(server.url)
    yield S3Storage(client, bucket=bucket, prefix="root", staging_root=tmp_path / "staging", multipart_bytes=PART)


def local_file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_file_put_at_a_key_is_fetched_opened_and_listed(store: Storage, tmp_path: Path) -> None:
    store.put_file(local_file(tmp_path, "in.bin", b"weights"), "models/m1/encoder.pt")
    assert store.exists("models/m1/encoder.pt") and not store.exists("models/m1/other.pt")
    store.fetch_file("models/m1/encoder.pt", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == b"weights"
    with store.open("models/m1/encoder.pt") as stream:
        assert stream.read(3) + stream.read() == b"weights"
    [item] = store.list("models/m1")
    assert (item.key, item.size) == ("models/m1/encoder.pt", 7) and item.etag
    store.put_file(local_file(tmp_path, "in.bin", b"new weights"), "models/m1/encoder.pt")
    [replaced] = store.list("models/m1")
    assert replaced.size == 11 and replaced.etag != item.etag, "the tag changes with the bytes"


def test_an_absent_key_is_file_not_found(store: Storage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.fetch_file("datasets/none/images.npy", tmp_path / "x")
    with pytest.raises(FileNotFoundError):
        store.open("datasets/none/images.npy").__enter__()
    assert not (tmp_path / "x").exists()
    assert store.list("datasets/none") == [] and store.size_bytes("datasets/none") == 0


def test_a_prefix_lists_its_own_objects_only_in_key_order(store: Storage, tmp_path: Path) -> None:
    for key, data in [("ds/a/z.npy", b"123"), ("ds/a/sub/y.npy", b"12"), ("ds/ab/x.npy", b"1"), ("ds/a.npy", b"")]:
        store.put_file(local_file(tmp_path, "f", data), key)
    assert store.list("ds/a") == [
        StoredObject("ds/a/sub/y.npy", 2, store.list("ds/a")[0].etag),
        StoredObject("ds/a/z.npy", 3, store.list("ds/a")[1].etag),
    ], "ds/ab and ds/a.npy share the letters, not the folder"
    assert store.size_bytes("ds/a") == 5 and store.size_bytes("ds") == 6


def test_delete_removes_a_key_or_a_whole_prefix(store: Storage, tmp_path: Path) -> None:
    for key in ("jobs/j1/checkpoint.pt", "jobs/j1/cache/ids.npy", "jobs/j2/checkpoint.pt"):
        store.put_file(local_file(tmp_path, "f", b"x" * 10), key)
    store.delete("jobs/j2/checkpoint.pt")
    assert not store.exists("jobs/j2/checkpoint.pt")
    store.delete("jobs/j1")
    assert store.list("jobs") == []
    store.delete("jobs/never")  # nothing there is not an error


def test_publish_makes_a_staged_folder_visible_whole(store: Storage) -> None:
    staged = store.staging_dir()
    assert staged.is_dir() and not any(staged.iterdir()) and staged != store.staging_dir()
    local_file(staged, "images.npy", b"pixels")
    local_file(staged, "meta/labels.json", b"{}")
    store.publish(staged, "datasets/ds_1")
    assert [(o.key, o.size) for o in store.list("datasets/ds_1")] == [
        ("datasets/ds_1/images.npy", 6),
        ("datasets/ds_1/meta/labels.json", 2),
    ]
    assert not staged.exists(), "the staged folder is consumed"


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "", "a\\..\\b"])
def test_keys_that_could_escape_the_store_are_refused(store: Storage, tmp_path: Path, key: str) -> None:
    source = local_file(tmp_path, "f", b"x")
    calls = [
        lambda: store.put_file(source, key),
        lambda: store.fetch_file(key, tmp_path / "out"),
        lambda: store.open(key),
        lambda: store.list(key),
        lambda: store.delete(key),
        lambda: store.exists(key),
        lambda: store.publish(store.staging_dir(), key),
    ]
    for call in calls:
        with pytest.raises(UnsafeKey):
            call()
    assert not (tmp_path.parent / "escape").exists()


def test_only_the_local_store_says_where_a_prefix_lies(store: Storage, tmp_path: Path) -> None:
    where = store.local_dir("datasets/ds_1")
    if isinstance(store, LocalStorage):
        assert where == tmp_path / "blobs" / "datasets" / "ds_1"
    else:
        assert where is None


def test_a_big_file_travels_in_multipart_transfers(s3_server: ChildProcess, tmp_path: Path) -> None:
    client = s3.client(s3_server.url)
    bucket = s3.new_bucket(s3_server.url)
    store = S3Storage(client, bucket=bucket, prefix="", staging_root=tmp_path / "staging", multipart_bytes=PART)
    data = os.urandom(2 * PART + 1234)
    store.put_file(local_file(tmp_path, "big.bin", data), "datasets/big/images.npy")
    [item] = store.list("datasets/big")
    assert item.size == len(data) and item.etag.endswith("-3"), "an S3 multipart ETag counts its parts"
    store.fetch_file("datasets/big/images.npy", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data


def test_a_stored_object_outlives_its_file_and_deleting_it_leaves_no_empty_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "blobs")
    source = local_file(tmp_path, "upload.zip", b"the upload")
    storage.put_file(source, "uploads/ds_1/upload")
    source.unlink()  # a put may hard-link: the stored object must not depend on the file it came from
    storage.fetch_file("uploads/ds_1/upload", tmp_path / "fetched")
    assert (tmp_path / "fetched").read_bytes() == b"the upload"
    storage.delete("uploads/ds_1/upload")
    assert not (tmp_path / "blobs" / "uploads" / "ds_1").exists(), "the object's own folder went with it"
    assert (tmp_path / "blobs" / "uploads").is_dir(), "a top-level folder stays: others may be writing into it"


def test_named_staging_directories_are_found_and_removed_by_prefix(store: Storage) -> None:
    first = store.staging_dir("ingest-job_1-1")
    (first / "half.npy").write_bytes(b"x")
    again = store.staging_dir("ingest-job_1-1")
    assert again == first and list(again.iterdir()) == [], "a leftover of the same name starts empty"
    store.staging_dir("ingest-job_1-2")
    other = store.staging_dir("ingest-job_2-1")
    anonymous = store.staging_dir()
    store.clear_staging("ingest-job_1-")
    assert sorted(p.name for p in store.staging_root.iterdir()) == sorted([other.name, anonymous.name])
    with pytest.raises(ValueError):
        store.clear_staging("../")
