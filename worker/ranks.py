"""A training job's other ranks on a multi-device host: each rebuilds rank 0's trainer, without its hooks.

Rank 0 is the job attempt itself (it writes progress, metrics and checkpoints through its ``JobHooks``); the
others are spawned by :func:`selfsup.train.launch.rank_processes` and given a :class:`RankJob`, which is pickled
to them: names and paths only, never the data. They read the same local copy of the dataset and the same working
folder, where rank 0 has already put the job's stored checkpoint, so every rank resumes from it.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.config import Settings
from selfsup.train.distributed import Ranks
from selfsup.train.loop import Trainer
from worker.data import job_data


@dataclass(frozen=True)
class RankJob:
    method: str
    params: Any  # the method's resolved params
    modality: str
    dataset_dir: Path
    workdir: Path
    settings: Settings

    def __call__(self, ranks: Ranks) -> Trainer:
        data = job_data(self.modality, self.dataset_dir, self.params, settings=self.settings, workdir=self.workdir)
        return Trainer(
            self.method,
            self.params,
            data.train,
            workdir=self.workdir,
            device=self.settings.device,
            checkpoint_every_s=self.settings.checkpoint_interval_seconds,
            ranks=ranks,
        )
