"""Importing from an allowed object-store prefix, against a real S3 server: the allow-list and the budgets."""

from pathlib import Path

import pytest

from app.core.config import Settings
from app.core.storage.imports import ImportBudget, ImportRefused, check_import_url, import_prefix
from tests.support import s3
from tests.support.s3 import ChildProcess

ROOMY = ImportBudget(max_members=100, max_bytes=10**6)


@pytest.fixture
def bucket(s3_server: ChildProcess, tmp_path: Path) -> str:
    name = s3.new_bucket(s3_server.url)
    client = s3.client(s3_server.url)
    for key, body in [
        ("data/set1/a.png", b"aa"),
        ("data/set1/sub/b.png", b"bbb"),
        ("data-evil/x.png", b"x"),
        ("private/keys.txt", b"secret"),
    ]:
        client.put_object(Bucket=name, Key=key, Body=body)
    return name


def settings_for(s3_server: ChildProcess, tmp_path: Path, *allowed: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        s3_endpoint_url=s3_server.url,
        s3_region="us-east-1",
        import_allowed_prefixes=list(allowed),
    )


def test_objects_below_an_allowed_prefix_arrive_with_their_relative_paths(
    s3_server: ChildProcess, bucket: str, tmp_path: Path
) -> None:
    settings = settings_for(s3_server, tmp_path, f"s3://{bucket}/data")
    dest = tmp_path / "import"
    total = import_prefix(f"s3://{bucket}/data/set1", settings=settings, dest=dest, budget=ROOMY)
    assert total == 5
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == ["a.png", "sub/b.png"]
    assert (dest / "sub" / "b.png").read_bytes() == b"bbb"


@pytest.mark.parametrize(
    "url",
    [
        "s3://{b}/data-evil",  # shares the letters of s3://b/data, not its folder
        "s3://{b}/private",
        "s3://{b}/data/../private",
        "s3://other-bucket/data/set1",
        "s3://{b}",
        "file:///etc",
        "s3://{b}/data/./set1",
    ],
)
def test_urls_outside_the_allowed_prefixes_are_refused(bucket: str, url: str) -> None:
    with pytest.raises(ImportRefused):
        check_import_url(url.format(b=bucket), [f"s3://{bucket}/data"])


def test_imports_are_off_until_the_operator_allows_a_prefix(bucket: str) -> None:
    with pytest.raises(ImportRefused, match="disabled"):
        check_import_url(f"s3://{bucket}/data/set1", [])
    assert check_import_url(f"s3://{bucket}/data", [f"s3://{bucket}/data"]) == (bucket, "data")
    assert check_import_url(f"s3://{bucket}/any/thing", [f"s3://{bucket}"]) == (bucket, "any/thing")


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        (ImportBudget(max_members=1, max_bytes=10**6), "2 objects"),
        (ImportBudget(max_members=10, max_bytes=4), "5 bytes"),
    ],
)
def test_a_prefix_over_budget_is_refused_before_anything_is_downloaded(
    s3_server: ChildProcess, bucket: str, tmp_path: Path, budget: ImportBudget, message: str
) -> None:
    settings = settings_for(s3_server, tmp_path, f"s3://{bucket}/data")
    dest = tmp_path / "import"
    with pytest.raises(ImportRefused, match=message):
        import_prefix(f"s3://{bucket}/data/set1", settings=settings, dest=dest, budget=budget)
    assert not dest.exists()


def test_an_object_whose_name_climbs_out_is_refused(s3_server: ChildProcess, bucket: str, tmp_path: Path) -> None:
    s3.client(s3_server.url).put_object(Bucket=bucket, Key="data/set2/../../escape.png", Body=b"e")
    settings = settings_for(s3_server, tmp_path, f"s3://{bucket}/data")
    with pytest.raises(ImportRefused, match="leave the import folder"):
        import_prefix(f"s3://{bucket}/data/set2", settings=settings, dest=tmp_path / "import", budget=ROOMY)
    assert not (tmp_path / "escape.png").exists()


def test_settings_refuse_an_allowed_prefix_that_is_not_an_s3_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SELFSUP_IMPORT_ALLOWED_PREFIXES"):
        Settings(data_dir=tmp_path, import_allowed_prefixes=["http://example.com/data"])
