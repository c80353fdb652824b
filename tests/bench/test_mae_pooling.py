"""bench/mae_pooling.py end to end at a toy size (1 epoch, 120 images), so that an import or API break shows
in CI, not at the next real run (issue 14). Run as a user runs it: a script beside its helpers in bench/."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOY = ["--count", "120", "--epochs", "1", "--batch-size", "32"]


def test_both_poolings_are_scored_trained_and_at_init(tmp_path: Path, bench_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "mae_pooling.py"), *TOY],
        cwd=tmp_path,
        env=bench_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("pooling")))
    assert lines[header].split() == ["pooling", "kNN", "kNN", "init", "linear", "lin", "init"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[header + 1 : header + 3]}
    assert sorted(rows) == ["avg", "token"]
    for scores in rows.values():
        assert len(scores) == 4 and all(0 <= float(score) <= 1 for score in scores)
    assert lines[header + 3].startswith("kNN gain over the initial weights: class token ")
