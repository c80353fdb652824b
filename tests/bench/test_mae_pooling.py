"""bench/mae_pooling.py end to end at a toy size (1 epoch, 120 images), so that an import or API break shows
in CI, not at the next real run (issue 14). Run as a user runs it: a script beside its helpers in bench/."""

from tests.bench.conftest import RunBench

TOY = ["--count", "120", "--epochs", "1", "--batch-size", "32"]


def test_both_poolings_are_scored_trained_and_at_init(run_bench: RunBench) -> None:
    lines = run_bench("mae_pooling.py", *TOY)
    header = lines.index(next(line for line in lines if line.startswith("pooling")))
    assert lines[header].split() == ["pooling", "kNN", "kNN", "init", "linear", "lin", "init"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[header + 1 : header + 3]}
    assert sorted(rows) == ["avg", "token"]
    for scores in rows.values():
        assert len(scores) == 4 and all(0 <= float(score) <= 1 for score in scores)
    assert lines[header + 3].startswith("kNN gain over the initial weights: class token ")
