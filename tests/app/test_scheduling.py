"""Fair choice of the next job between tenants, against real PostgreSQL."""

from datetime import timedelta

import pytest

from app.core.db import session_factory, session_scope, utcnow
from app.datasets.orm import Dataset
from app.jobs.lease import claim_job
from app.jobs.orm import Job
from app.jobs.scheduling import claim_next


@pytest.fixture
def queue(service_env: dict[str, str]) -> list[str]:
    """Tenant A queued five jobs, then tenant B one: ids in the order they were submitted."""
    start = utcnow()
    ids = [f"job_a{i}" for i in range(5)] + ["job_b0"]
    with session_scope() as session:
        for tenant in ("a", "b"):
            session.add(
                Dataset(
                    id=f"ds_{tenant}",
                    tenant=tenant,
                    name="d",
                    modality="image",
                    num_items=8,
                    size_bytes=1,
                    storage_key="k",
                )
            )
        session.flush()
        for i, job_id in enumerate(ids):
            tenant = job_id[4]
            session.add(
                Job(
                    id=job_id,
                    tenant=tenant,
                    dataset_id=f"ds_{tenant}",
                    method="simclr",
                    params={},
                    epochs=1,
                    metrics={},
                    created_at=start + timedelta(seconds=i),
                )
            )
    return ids


def claim_order(count: int) -> list[str]:
    order = []
    with session_factory()() as session:
        for _ in range(count):
            claim = claim_next(session, worker="w", lease_seconds=30)
            assert claim is not None
            order.append(claim.job_id)
            with session_scope() as s:  # the job ran and finished before the next claim
                s.get_one(Job, claim.job_id).status = "succeeded"
    return order


def test_a_later_tenant_is_served_before_the_rest_of_a_busy_tenants_queue(queue: list[str]) -> None:
    assert claim_order(3) == ["job_a0", "job_b0", "job_a1"]


def test_the_tenant_with_fewer_running_jobs_goes_first(queue: list[str]) -> None:
    with session_factory()() as session:
        assert claim_job(session, job_id="job_a0", worker="w", lease_seconds=30) is not None
        claim = claim_next(session, worker="w", lease_seconds=30)
    assert claim is not None and claim.job_id == "job_b0", "A already runs one job; B runs none"


def test_canceled_and_claimed_jobs_are_skipped_and_an_empty_queue_gives_none(queue: list[str]) -> None:
    with session_scope() as session:
        session.get_one(Job, "job_b0").cancel_requested = True
        for job_id in queue[:4]:
            session.get_one(Job, job_id).status = "canceled"
    assert claim_order(1) == ["job_a4"]
    with session_factory()() as session:
        assert claim_next(session, worker="w", lease_seconds=30) is None
