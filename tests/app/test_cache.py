"""The host cache of stored prefixes, over a real S3 server: content addressing, LRU by bytes, locking."""

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.cache import BlobCache
from app.core.storage import LocalStorage
from app.core.storage.s3 import S3Storage
from tests.support import s3
from tests.support.processes import wait_for
from tests.support.s3 import ChildProcess


@pytest.fixture
def store(s3_server: ChildProcess, tmp_path: Path) -> S3Storage:
    bucket = s3.new_bucket(s3_server.url)
    return S3Storage(s3.client(s3_server.url), bucket=bucket, prefix="", staging_root=tmp_path / "staging")


def put(store: S3Storage, tmp_path: Path, key: str, data: bytes) -> None:
    source = tmp_path / "source"
    source.write_bytes(data)
    store.put_file(source, key)


def entries(cache: BlobCache) -> set[str]:
    return {p.name for p in cache.entries.iterdir()} if cache.entries.is_dir() else set()


def test_an_entry_holds_the_prefixs_files_and_a_changed_listing_is_a_new_entry(
    store: S3Storage, tmp_path: Path
) -> None:
    put(store, tmp_path, "datasets/ds/images.npy", b"pixels")
    put(store, tmp_path, "datasets/ds/meta/labels.json", b"{}")
    cache = BlobCache(store, tmp_path / "cache", max_bytes=10**6)
    with cache.local("datasets/ds") as first:
        assert (first / "images.npy").read_bytes() == b"pixels" and (first / "meta/labels.json").read_bytes() == b"{}"
    with cache.local("datasets/ds") as again:
        assert again == first, "an unchanged prefix is served from its entry"
    put(store, tmp_path, "datasets/ds/images.npy", b"other pixels")
    with cache.local("datasets/ds") as changed:
        assert changed != first and (changed / "images.npy").read_bytes() == b"other pixels"
    assert not any((tmp_path / "cache" / "partial").iterdir()), "no partial download is left"


def test_forgetting_a_prefix_removes_every_version_of_it_not_in_use(store: S3Storage, tmp_path: Path) -> None:
    cache = BlobCache(store, tmp_path / "cache", max_bytes=10**6)
    for data in (b"v1", b"v2"):  # two versions of one prefix: two entries
        put(store, tmp_path, "models/m/encoder.pt", data)
        with cache.local("models/m"):
            pass
    put(store, tmp_path, "models/other/encoder.pt", b"o")
    with cache.local("models/other") as other, cache.local("models/m") as in_use:
        assert len(entries(cache)) == 3
        assert len(cache.forget("models/m")) == 1 and in_use.is_dir()  # the version being read stays
    assert cache.forget("models/m") == [in_use.name]
    assert entries(cache) == {other.name}  # another prefix's entry is untouched


def test_an_absent_prefix_is_file_not_found(store: S3Storage, tmp_path: Path) -> None:
    cache = BlobCache(store, tmp_path / "cache", max_bytes=10**6)
    with pytest.raises(FileNotFoundError, match="datasets/none"), cache.local("datasets/none"):
        pass


def test_least_recently_used_entries_go_once_the_cache_is_over_its_bytes(store: S3Storage, tmp_path: Path) -> None:
    for name in "abc":
        put(store, tmp_path, f"datasets/{name}/images.npy", b"x" * 100)
    cache = BlobCache(store, tmp_path / "cache", max_bytes=250)
    names = {}
    for name in "aba":  # b is now the least recently used
        with cache.local(f"datasets/{name}") as entry:
            names[name] = entry.name
    with cache.local("datasets/c") as entry:
        names["c"] = entry.name
    assert entries(cache) == {names["a"], names["c"]}


def test_an_entry_in_use_is_not_evicted(store: S3Storage, tmp_path: Path) -> None:
    for name in "abc":
        put(store, tmp_path, f"datasets/{name}/images.npy", b"x" * 100)
    cache = BlobCache(store, tmp_path / "cache", max_bytes=150)
    with cache.local("datasets/a") as held:
        for name in "bc":
            with cache.local(f"datasets/{name}"):
                pass
        assert (held / "images.npy").read_bytes() == b"x" * 100, "the oldest entry stayed while in use"
        assert held.name in entries(cache) and len(entries(cache)) == 2
    cache.evict()
    assert held.name not in entries(cache) and len(entries(cache)) == 1, "once released it may go"


FETCH = """
import json, sys, time
from pathlib import Path
from app.core.cache import BlobCache
from app.core.storage.s3 import S3Storage
from tests.support import s3

endpoint, bucket, root, ready, go = sys.argv[1:]
store = S3Storage(s3.client(endpoint), bucket=bucket, prefix="", staging_root=Path(root) / "staging")
cache = BlobCache(store, Path(root), max_bytes=10**9)
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.001)
with cache.local("datasets/big") as entry:
    print(json.dumps({"entry": str(entry), "bytes": (entry / "images.npy").stat().st_size}))
"""


def test_two_processes_fetching_one_prefix_at_once_end_with_one_complete_entry(
    s3_server: ChildProcess, store: S3Storage, tmp_path: Path
) -> None:
    size = 12 * 1024**2
    put(store, tmp_path, "datasets/big/images.npy", os.urandom(size))
    root, go = tmp_path / "cache", tmp_path / "go"
    env = {**os.environ, **s3.AWS_ENV}
    fetchers = [
        subprocess.Popen(
            [sys.executable, "-c", FETCH, s3_server.url, store.bucket, str(root), str(tmp_path / f"ready{i}"), str(go)],
            stdout=subprocess.PIPE,
            env=env,
        )
        for i in range(2)
    ]
    wait_for(lambda: all((tmp_path / f"ready{i}").exists() for i in range(2)), timeout=60, what="both fetchers")
    go.touch()
    results = [json.loads(f.communicate(timeout=120)[0]) for f in fetchers]
    assert all(f.returncode == 0 for f in fetchers)
    assert results[0] == results[1] == {"entry": results[0]["entry"], "bytes": size}
    assert len(list((root / "entries").iterdir())) == 1 and not any((root / "partial").iterdir())


def test_a_store_on_this_host_is_read_in_place(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "blobs")
    (tmp_path / "blobs" / "datasets" / "ds").mkdir(parents=True)
    cache = BlobCache(store, tmp_path / "cache", max_bytes=10**6)
    with cache.local("datasets/ds") as folder:
        assert folder == tmp_path / "blobs" / "datasets" / "ds"
    assert not (tmp_path / "cache").exists(), "nothing is copied"


def test_working_folders_are_private_to_each_attempt_unless_the_store_is_on_this_host(
    store: S3Storage, tmp_path: Path
) -> None:
    cache = BlobCache(store, tmp_path / "cache", max_bytes=10**6)
    first, second = (cache.workdir("jobs/j1", owner=f"attempt-{n}") for n in (1, 2))
    assert first != second
    for folder in (first, second):
        (folder / "checkpoint.pt").parent.mkdir(parents=True)
        (folder / "checkpoint.pt").write_bytes(b"ckpt")
    cache.drop_workdir(first)
    assert not first.exists() and (second / "checkpoint.pt").read_bytes() == b"ckpt", "a stalled attempt's end"
    cache.drop_workdir(second)
    assert not (tmp_path / "cache" / "work" / "jobs" / "j1").exists()

    local = BlobCache(LocalStorage(tmp_path / "blobs"), tmp_path / "cache", max_bytes=10**6)
    in_place = local.workdir("jobs/j1", owner="attempt-1")
    assert in_place == tmp_path / "blobs" / "jobs" / "j1"
    in_place.mkdir(parents=True)
    local.drop_workdir(in_place)
    assert in_place.exists(), "the stored folder itself is not the cache's to drop"


def test_a_download_a_killed_process_left_half_done_is_swept(store: S3Storage, tmp_path: Path) -> None:
    put(store, tmp_path, "datasets/a/images.npy", b"x" * 10)
    cache = BlobCache(store, tmp_path / "cache", max_bytes=10**6)
    orphan, live = cache.partial / "deadbeef.0", cache.partial / "cafef00d.0"
    for folder in (orphan, live):
        folder.mkdir(parents=True)
        (folder / "images.npy").write_bytes(b"half")
    cache.locks.mkdir(parents=True)
    fetching = (cache.locks / "cafef00d.fetch").open("ab")  # as a process still downloading holds it
    fcntl.flock(fetching, fcntl.LOCK_EX)
    try:
        with cache.local("datasets/a"):  # a new entry: the cache tidies up after it
            pass
        assert not orphan.exists() and (live / "images.npy").exists(), "only the one with no writer left goes"
    finally:
        fetching.close()
