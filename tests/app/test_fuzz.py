"""Fuzzing the service against its own OpenAPI document: no generated request may end in a server error.

Schemathesis derives requests from every operation's schema, valid ones and invalid ones, and sends them
in process with an admin key. Bounded to a few examples per operation so the run takes well under a minute;
``derandomize`` makes it repeatable, so a failure here reproduces.
"""

import os
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema

from app.core.config import get_settings
from tests.conftest import new_key
from tests.support import ingest
from tests.support.images import digits_zip
from worker.training import run_job

EXAMPLES = int(os.environ.get("SELFSUP_FUZZ_EXAMPLES", "15"))


@pytest.fixture
def admin_header(service_env: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {new_key()}"}


@pytest.fixture
def asgi_app(admin_header: dict[str, str]) -> Any:
    from app.main import create_app

    return create_app()


@pytest.fixture
def real_ids(asgi_app: Any, admin_header: dict[str, str]) -> dict[str, str]:
    """A dataset, a finished job and its model (a tiny one, trained here), for requests to aim at."""
    with TestClient(asgi_app, headers=admin_header) as client:
        files = {"file": ("digits.zip", digits_zip(32))}
        dataset = ingest.upload_ready(client, files, {"name": "d", "image_size": "16"})
        params = {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 16}
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "method": "simclr", "params": params}).json()
        assert run_job(job["id"], settings=get_settings(), worker_name="fuzz") == "succeeded"
        model_id = client.get(f"/v1/jobs/{job['id']}").json()["model_id"]
    return {"job_id": job["id"], "model_id": model_id}


@pytest.fixture
def api_schema(asgi_app: Any, real_ids: dict[str, str]) -> BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", asgi_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("SELFSUP_FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_causes_a_server_error(
    case: schemathesis.Case, admin_header: dict[str, str], real_ids: dict[str, str]
) -> None:
    for name, value in (case.path_parameters or {}).items():
        if name in real_ids and len(str(value)) % 2 == 0:  # half the requests reach a real job or model
            case.path_parameters[name] = real_ids[name]
    response = case.call(headers=admin_header)
    case.validate_response(response, checks=[not_a_server_error])
