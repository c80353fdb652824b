"""A row that its job fills as it ends is read with that job as of one moment, on PostgreSQL (READ COMMITTED).

The worker's commit that ends an embedding run (job ``succeeded``, run ``num_items``) is made to land right after
the reader's first statement: two reads straddle it and pair a succeeded job with an empty run (CI saw exactly
that, by chance); the API's one-statement read never can.
"""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.db import session_factory
from app.datasets.orm import Dataset
from app.embedding_runs import service
from app.embedding_runs.attempts import mark_succeeded
from app.embedding_runs.orm import EmbeddingRun
from app.jobs.lease import Claim, claim_job
from app.jobs.orm import Job
from app.models.orm import RegisteredModel

ITEMS = 120
Reader = Callable[[Session, str], tuple[str, int]]  # (session, run id) -> (job status, run's item count)


@pytest.fixture
def running_run(service_env: dict[str, str]) -> Iterator[tuple[str, Claim]]:
    """An embedding run whose job a worker has claimed, and that claim."""
    with session_factory()() as session:
        session.add_all(
            [
                Dataset(id="ds_1", name="digits", tenant="acme", modality="image", num_items=ITEMS, storage_key="d"),
                Job(id="job_train", tenant="acme", method="simclr", params={}, status="succeeded", epochs=1),
                Job(id="job_embed", kind="embed", tenant="acme", method="embed", params={}, epochs=1),
            ]
        )
        session.flush()
        session.add(
            RegisteredModel(
                id="mdl_1", job_id="job_train", tenant="acme", method="simclr", backbone="tiny_cnn",
                modality="image", dim=8, storage_key="m",
            )
        )  # fmt: skip
        session.flush()
        session.add(
            EmbeddingRun(
                id="emb_1", tenant="acme", model_id="mdl_1", dataset_id="ds_1", job_id="job_embed",
                modality="image", dim=8, dtype="float32", num_items=0, storage_key="e",
            )
        )  # fmt: skip
        session.commit()
        claim = claim_job(session, job_id="job_embed", worker="test", lease_seconds=60, kind="embed")
    assert claim is not None
    yield "emb_1", claim


def read_in_one_statement(session: Session, run_id: str) -> tuple[str, int]:
    run, job = service.run_with_job(session, tenant="acme", run_id=run_id)
    return job.status, run.num_items


def read_in_two_statements(session: Session, run_id: str) -> tuple[str, int]:
    run = session.get_one(EmbeddingRun, run_id)
    return session.get_one(Job, run.job_id).status, run.num_items


def read_while_the_run_ends(reader: Reader, run_id: str, claim: Claim) -> tuple[str, int]:
    """What ``reader`` sees when the worker's ending commit lands right after its first statement."""
    with session_factory()() as api, session_factory()() as worker:
        connection = api.connection()
        ended: list[bool] = []

        def end_the_run(*_: Any) -> None:
            if not ended:
                ended.append(True)
                assert mark_succeeded(worker, claim=claim, run_id=run_id, num_items=ITEMS, size_bytes=1, labels=None)
                worker.commit()

        event.listen(connection, "after_cursor_execute", end_the_run)
        seen = reader(api, run_id)
        assert ended, "the reader ran no statement"
        return seen


def test_two_statements_can_pair_a_succeeded_job_with_an_empty_run(running_run: tuple[str, Claim]) -> None:
    assert read_while_the_run_ends(read_in_two_statements, *running_run) == ("succeeded", 0)


def test_the_api_reads_the_run_and_its_job_from_one_snapshot(running_run: tuple[str, Claim]) -> None:
    assert read_while_the_run_ends(read_in_one_statement, *running_run) == ("running", 0)
    with session_factory()() as session:
        assert read_in_one_statement(session, running_run[0]) == ("succeeded", ITEMS)


def test_a_page_of_runs_pairs_each_with_its_own_job(running_run: tuple[str, Claim]) -> None:
    with session_factory()() as session:
        rows, total = service.list_runs(session, tenant="acme", limit=10, offset=0)
        assert total == 1 and [(run.id, job.id) for run, job in rows] == [("emb_1", "job_embed")]
        assert service.list_runs(session, tenant="other", limit=10, offset=0) == ([], 0)
