"""Each job kind's worker side, registered once: the Celery task that answers its doorbell, and the function
that runs a claim of it. Claiming is the same for every kind (the fairest queued job of that kind, the
doorbell's id only a hint); the Celery tasks and the in-process runners tests use both go through here.

Runners are named, not imported: a claim comes before the kind's code is loaded, so a doorbell that finds
nothing to claim (a duplicate, a job canceled while queued) costs the worker a database round trip, not the
seconds torch, the decoders or scikit-learn take to import, and the parent process never imports them.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.config import Settings
from app.core.db import session_factory
from app.core.queue import DOORBELLS
from app.jobs.lease import Claim
from app.jobs.scheduling import claim_next
from worker.job_log import logged_attempt

RunClaim = Callable[..., str]  # (claim, *, settings, **options) -> the attempt's outcome


@dataclass(frozen=True)
class JobKind:
    name: str  # jobs.kind
    runner: str  # "module:function" that runs a claim to its end

    @property
    def task(self) -> str:
        """The Celery task its doorbell rings (app.core.queue names each kind's task and queue)."""
        return DOORBELLS[self.name][0]

    def run(self, claim: Claim, *, settings: Settings, **options: Any) -> str:
        module, function = self.runner.split(":")
        run_claim: RunClaim = getattr(importlib.import_module(module), function)
        return logged_attempt(claim, kind=self.name, attempt=lambda: run_claim(claim, settings=settings, **options))


JOB_KINDS = {
    kind.name: kind
    for kind in (
        JobKind("train", "worker.training:run_claim"),
        JobKind("ingest", "worker.ingest:run_ingest_claim"),
        JobKind("embed", "worker.embedding_runs:run_embed_claim"),
        JobKind("classify", "worker.classifiers:run_classify_claim"),
    )
}
assert set(JOB_KINDS) == set(DOORBELLS), "every kind with a doorbell has a runner, and no other"


def run_next(kind: str, settings: Settings, *, worker_name: str, hint: str | None = None, **options: Any) -> str:
    """Claim the fairest queued job of ``kind`` and run it; ``skipped`` when there is none."""
    with session_factory()() as session:
        claim = claim_next(session, worker=worker_name, lease_seconds=settings.lease_seconds, hint=hint, kind=kind)
    if claim is None:
        return "skipped"
    return JOB_KINDS[kind].run(claim, settings=settings, **options)


def run_pending(kind: str, settings: Settings, *, worker_name: str, **options: Any) -> list[str]:
    """Run queued jobs of ``kind`` until none is left (tests and benchmarks run a worker's work in-process)."""
    outcomes = []
    while (outcome := run_next(kind, settings, worker_name=worker_name, **options)) != "skipped":
        outcomes.append(outcome)
    return outcomes
