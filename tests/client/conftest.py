"""The client tests run against the e2e suite's real stack: a uvicorn API and a Celery worker."""

import pytest

from tests.e2e.conftest import Stack, StackFactory, make_stack

__all__ = ["make_stack"]


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    # Leases of 30 s rather than the e2e suite's 4: a worker on a loaded machine is slow to renew them.
    return make_stack(SELFSUP_LEASE_SECONDS="30")
