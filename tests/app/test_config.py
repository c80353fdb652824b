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
