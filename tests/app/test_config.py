"""Settings fail fast, naming the setting that cannot work."""

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import Settings


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'selfsup.db'}"
    assert settings.uses_filesystem_broker and (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.storage_url == f"file://{tmp_path / 'blobs'}" and settings.cache_dir == tmp_path / "cache"
    assert settings.import_allowed_prefixes == [], "imports from object storage are off by default"


def test_storage_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFSUP_STORAGE_URL", "s3://selfsup/blobs")
    monkeypatch.setenv("SELFSUP_IMPORT_ALLOWED_PREFIXES", "s3://shared-data/images, s3://lab")
    settings = Settings(data_dir=tmp_path)
    assert settings.storage_url == "s3://selfsup/blobs"
    assert settings.import_allowed_prefixes == ["s3://shared-data/images", "s3://lab"]


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("database_url", "mysql://x", "SELFSUP_DATABASE_URL"),
        ("broker_url", "kafka://x", "SELFSUP_BROKER_URL"),
        ("port", 70000, "port"),
        ("lease_seconds", 1.0, "SELFSUP_LEASE_SECONDS"),
        ("tenant_max_active_jobs", 0, "tenant_max_active_jobs"),
        ("tenant_max_stored_bytes", 10, "tenant_max_stored_bytes"),
        ("tenant_max_uploads", 0, "tenant_max_uploads"),
        ("upload_stale_seconds", 1, "upload_stale_seconds"),
        ("failed_job_retention_seconds", -1, "failed_job_retention_seconds"),
        ("max_dataset_bytes", 100, "max_dataset_bytes"),
        ("storage_url", "s3://", "SELFSUP_STORAGE_URL 's3://': an s3:// URL needs a bucket"),
        ("storage_url", "s3:///prefix", "needs a bucket"),
        ("storage_url", "gs://bucket/x", "SELFSUP_STORAGE_URL 'gs://bucket/x': scheme not supported"),
        ("storage_url", "file://relative/path", "file:///absolute/path"),
        ("storage_url", "s3://bucket/a/../b", "SELFSUP_STORAGE_URL"),
        ("import_allowed_prefixes", "s3://", "SELFSUP_IMPORT_ALLOWED_PREFIXES"),
    ],
)
def test_unusable_values_are_refused(tmp_path: Path, field: str, value: object, named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        Settings(data_dir=tmp_path, **{field: value})


def test_cli_exits_with_a_message_naming_the_setting(tmp_path: Path) -> None:
    env = {"SELFSUP_DATA_DIR": str(tmp_path), "SELFSUP_PORT": "not-a-port", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "api"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "port" in result.stderr and "invalid configuration" in result.stderr
