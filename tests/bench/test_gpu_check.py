"""bench/gpu_check.sh in its CPU smoke mode, so the GPU check cannot rot between device loans (issue 14).

It starts real API and worker processes (through bench/serve_load.py), hence e2e.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"\d+(\.\d+)?"


def test_cpu_smoke_prints_and_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_check.sh"), "--cpu-smoke"],
        cwd=tmp_path,  # the script finds the repository itself
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (out / "gpu_check.txt").read_text()
    assert table.strip() in done.stdout
    rows = {line[:26].strip(): line[26:].split() for line in table.splitlines()[2:]}
    for path in "ABC":
        samples_per_s, data_wait, peak = rows[f"train resnet18-32px {path}"][:3]
        assert float(samples_per_s) > 0 and 0 <= float(data_wait) <= 1
        assert peak == "n/a"  # no CUDA: no peak GPU memory
    assert re.fullmatch(NUMBER, rows["serve embed cpu"][0]) and float(rows["serve embed cpu"][0]) > 0
    assert rows["train vit_small-96px"][3:] == ["skipped:", "CPU", "smoke"]
    assert rows["serve embed cuda"][3:] == ["skipped:", "CPU", "smoke"]
    assert sorted(p.name for p in (out / "gpu_check_logs").iterdir()) == [
        "serve-cpu.log",
        "train-resnet18-32px.json",
        "train-resnet18-32px.log",
    ]


def test_an_import_that_fails_is_named_before_anything_runs(tmp_path: Path) -> None:
    """A package too old or broken on the device machine (here kornia, shadowed by one that fails) is named,
    with where to get wheels, and the check stops with status 2."""
    (tmp_path / "kornia").mkdir()
    (tmp_path / "kornia" / "__init__.py").write_text("raise ImportError('kornia hidden by the test')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--check-imports"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    assert "bench/gpu_wheels.sh" in done.stderr
    assert "kornia" in done.stderr
