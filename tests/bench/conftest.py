"""Fixtures for the bench tests, which run the bench scripts as a user does: as scripts, from bench/."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RunBench = Callable[..., list[str]]


@pytest.fixture
def bench_env(tmp_path: Path) -> dict[str, str]:
    """One intra-op thread, as tests/conftest.py sets for the tests themselves: at toy sizes a second thread
    costs more in synchronization than it saves, and far more on a machine shared with other jobs."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1"}


@pytest.fixture
def run_bench(tmp_path: Path, bench_env: dict[str, str]) -> RunBench:
    """``run_bench("distill.py", *args)``: the script's printed lines, once it has exited 0."""

    def run(script: str, *args: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / script), *args],
            cwd=tmp_path,
            env=bench_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout.splitlines()

    return run
