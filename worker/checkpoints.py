"""A job's checkpoint kept in storage (``jobs/<id>/checkpoint.pt``), so any host can resume the job.

The trainer writes the checkpoint into its LOCAL working folder; each one written (by the attempt that holds
the lease) is then uploaded here, and an attempt starting on any host first fetches the stored one. In the
embedded mode the working folder is the stored folder itself and both steps copy nothing.
"""

from pathlib import Path

from app.core.storage import Storage
from app.jobs.workdirs import workdir_key

CHECKPOINT_FILE = "checkpoint.pt"  # the name selfsup's Trainer writes in its workdir


class StoredCheckpoint:
    def __init__(self, storage: Storage, job_id: str) -> None:
        self.storage, self.prefix = storage, workdir_key(job_id)
        self.key = f"{self.prefix}/{CHECKPOINT_FILE}"

    def restore(self, workdir: Path) -> None:
        """Put the stored checkpoint in ``workdir``: it is the latest, whatever a local copy left by an earlier
        attempt on this host holds."""
        if self.storage.exists(self.key):
            workdir.mkdir(parents=True, exist_ok=True)
            self.storage.fetch_file(self.key, workdir / CHECKPOINT_FILE)

    def publish(self, path: Path) -> None:
        self.storage.put_file(path, self.key)

    def stored_bytes(self) -> int:
        """What the job keeps in storage: counts toward the tenant's stored bytes."""
        return self.storage.size_bytes(self.prefix)
