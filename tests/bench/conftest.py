"""Fixtures for the bench tests, which run the bench scripts as a user does: as scripts, from bench/."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench_env(tmp_path: Path) -> dict[str, str]:
    """One intra-op thread, as tests/conftest.py sets for the tests themselves: at toy sizes a second thread
    costs more in synchronization than it saves, and far more on a machine shared with other jobs."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
