"""Quota counting against real PostgreSQL: what stored bytes add up to, and a limit that holds under a race."""

import threading

import pytest
from sqlalchemy import func, select

from app.core.db import session_factory, session_scope
from app.datasets.orm import Dataset
from app.jobs.lease import claim_job, record_progress
from app.jobs.orm import Job
from app.models.service import add_model
from app.quotas.errors import QuotaExceeded
from app.quotas.service import TenantLimits, check_job_allowed, stored_bytes

LIMITS = TenantLimits(max_active_jobs=3, max_stored_bytes=10**12, max_uploads=1, upload_stale_seconds=60)


def add_dataset(tenant: str, dataset_id: str, size: int) -> None:
    with session_scope() as session:
        session.add(
            Dataset(
                id=dataset_id, tenant=tenant, name="d", modality="image", num_items=10, size_bytes=size, storage_key="k"
            )
        )


def add_job(tenant: str, job_id: str, dataset_id: str) -> None:
    with session_scope() as session:
        session.add(
            Job(id=job_id, tenant=tenant, dataset_id=dataset_id, method="simclr", params={}, epochs=1, metrics={})
        )


def test_stored_bytes_add_datasets_models_and_checkpoints_of_one_tenant(service_env: dict[str, str]) -> None:
    add_dataset("acme", "ds_a", 1000)
    add_dataset("beta", "ds_b", 7)
    add_job("acme", "job_a", "ds_a")
    with session_factory()() as session:
        claim = claim_job(session, job_id="job_a", worker="w", lease_seconds=30)
        assert claim is not None
        progress = {"epoch": 0, "step": 1, "total_steps": 2, "metrics": {}, "kind": "step"}
        record_progress(session, claim=claim, checkpoint_bytes=300, **progress)  # type: ignore[arg-type]
        add_model(
            session,
            tenant="acme",
            model_id="mdl_a",
            job_id="job_a",
            method="simclr",
            backbone="tiny_cnn",
            modality="image",
            dim=8,
            details={},
            size_bytes=20,
        )
        session.commit()
        assert stored_bytes(session, tenant="acme") == 1320
        assert stored_bytes(session, tenant="beta") == 7
        assert stored_bytes(session, tenant="nobody") == 0


def test_concurrent_submissions_cannot_overshoot_the_active_job_limit(service_env: dict[str, str]) -> None:
    """Eight API requests race for the last slots: the tenant lock lets exactly the limit through."""
    add_dataset("acme", "ds_a", 1)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def submit(index: int) -> None:
        with session_factory()() as session:
            barrier.wait()
            try:
                check_job_allowed(session, tenant="acme", limits=LIMITS)
            except QuotaExceeded:
                outcomes.append("refused")
                return
            session.add(Job(id=f"job_{index}", tenant="acme", dataset_id="ds_a", method="m", params={}, epochs=1))
            session.commit()
            outcomes.append("accepted")

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted"] * 3 + ["refused"] * 5
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 3


@pytest.mark.parametrize("status", ["succeeded", "failed", "canceled"])
def test_finished_jobs_do_not_count_as_active(service_env: dict[str, str], status: str) -> None:
    add_dataset("acme", "ds_a", 1)
    for index in range(3):
        add_job("acme", f"job_{index}", "ds_a")
    with session_scope() as session:
        session.get_one(Job, "job_0").status = status
    with session_factory()() as session:
        check_job_allowed(session, tenant="acme", limits=LIMITS)  # 2 active of 3: allowed
