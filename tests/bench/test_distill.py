"""bench/distill.py end to end at a toy size (tiny backbones, 1 epoch, 120 images), so that an import or API
break shows in CI, not at the next real run (issue 14: the bench once crashed at import for a helper since
renamed). Run as a user runs it: a script whose helpers sit beside it in bench/."""

from pathlib import Path

from tests.bench.conftest import RunBench

ROWS = ("teacher (simclr, 1 ep)", "student (distill, 1 ep)", "student (simclr, 1 ep)")
NAME_WIDTH = 26  # the table's model column
TOY = ["--num-items", "120", "--batch-size", "32", "--teacher-backbone", "tiny_cnn", "--teacher-epochs", "1"]
TOY += ["--epochs", "1"]


def run_distill(run_bench: RunBench, cache: Path) -> dict[str, list[str]]:
    """The printed table's rows by model name: backbone, kNN, linear, MFLOPs/img, embed img/s, train s."""
    lines = run_bench("distill.py", *TOY, "--teacher-cache", str(cache))
    table = lines[lines.index(next(line for line in lines if line.startswith("---"))) + 1 :]
    rows = {line[:NAME_WIDTH].strip(): line[NAME_WIDTH:].split() for line in table[: table.index("")]}
    assert any(line.startswith("student vs teacher: kNN ") for line in table)
    return rows


def assert_scores(row: list[str]) -> None:
    backbone, knn, linear, mflops, images_per_s = row[:5]
    assert backbone == "tiny_cnn"
    assert 0 <= float(knn) <= 1 and 0 <= float(linear) <= 1
    assert float(mflops) > 0 and float(images_per_s) > 0


def test_every_model_is_scored_and_the_cached_teacher_is_reused(tmp_path: Path, run_bench: RunBench) -> None:
    cache = tmp_path / "teachers"
    first = run_distill(run_bench, cache)
    assert tuple(first) == ROWS
    for row in first.values():
        assert_scores(row)
        assert float(row[5]) >= 0  # trained here: its seconds
    assert len(list(cache.iterdir())) == 1

    second = run_distill(run_bench, cache)
    assert tuple(second) == ROWS
    teacher = second[ROWS[0]]
    assert teacher[5] == "cached"
    assert teacher[:4] == first[ROWS[0]][:4]  # the same exported teacher, scored on the same split
    assert len(list(cache.iterdir())) == 1
