"""The local blob store's object calls that ingest uses, on real files."""

from pathlib import Path

import pytest

from app.core.storage import LocalStorage


def test_a_file_put_is_fetched_back_and_deleting_it_leaves_no_empty_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "blobs")
    source = tmp_path / "upload.zip"
    source.write_bytes(b"the upload")
    storage.put_file(source, "uploads/ds_1/upload")
    source.unlink()  # the stored object does not depend on the file it came from
    storage.fetch_file("uploads/ds_1/upload", tmp_path / "fetched")
    assert (tmp_path / "fetched").read_bytes() == b"the upload"

    storage.delete("uploads/ds_1/upload")
    assert not (tmp_path / "blobs" / "uploads" / "ds_1").exists(), "the object's own folder went with it"
    assert (tmp_path / "blobs" / "uploads").is_dir(), "a top-level folder stays: others may be writing into it"
    with pytest.raises(FileNotFoundError, match="no object stored at 'uploads/ds_1/upload'"):
        storage.fetch_file("uploads/ds_1/upload", tmp_path / "again")


def test_put_replaces_an_object_whole(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "blobs")
    for content in (b"first", b"second"):
        (tmp_path / "f").write_bytes(content)
        storage.put_file(tmp_path / "f", "uploads/ds_1/upload")
        (tmp_path / "f").unlink()
    assert storage.path("uploads/ds_1/upload").read_bytes() == b"second"
    assert [p.name for p in storage.path("uploads/ds_1").iterdir()] == ["upload"], "no partial file is left"


def test_named_staging_directories_are_found_and_removed_by_prefix(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "blobs")
    first = storage.staging_dir("ingest-job_1-1")
    (first / "half.npy").write_bytes(b"x")
    again = storage.staging_dir("ingest-job_1-1")
    assert again == first and list(again.iterdir()) == [], "a leftover of the same name starts empty"
    storage.staging_dir("ingest-job_1-2")
    other = storage.staging_dir("ingest-job_2-1")
    anonymous = storage.staging_dir()
    storage.clear_staging("ingest-job_1-")
    assert sorted(p.name for p in (tmp_path / "blobs" / ".staging").iterdir()) == sorted([other.name, anonymous.name])
    with pytest.raises(ValueError):
        storage.clear_staging("../")
