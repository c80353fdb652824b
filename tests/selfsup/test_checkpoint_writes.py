"""Atomic checkpoint writes: a writer's own temporary file, and a veto just before it replaces the old one."""

from pathlib import Path

import torch

from selfsup.train.checkpoint import save_atomically


def test_a_vetoed_write_leaves_the_published_checkpoint_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    assert save_atomically({"step": 1}, path)
    assert not save_atomically({"step": 2}, path, may_publish=lambda: False)
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_concurrent_writers_use_temporary_files_of_their_own(tmp_path: Path) -> None:
    """The old fixed ``checkpoint.pt.tmp`` let a second writer truncate the first's file mid-write."""
    path = tmp_path / "checkpoint.pt"
    seen: list[set[str]] = []

    def second_writer_starts() -> bool:  # runs while the first writer's file is written but not yet renamed
        seen.append({p.name for p in tmp_path.iterdir()})
        save_atomically(
            {"writer": 2}, path, may_publish=lambda: seen.append({p.name for p in tmp_path.iterdir()}) or True
        )
        return True

    save_atomically({"writer": 1}, path, may_publish=second_writer_starts)
    first_tmp, both = seen
    assert len(both - first_tmp) == 1, "the second writer's temporary file is a new one, not the first's"
    assert torch.load(path, weights_only=True) == {"writer": 1}, "the last rename wins, each file whole"
