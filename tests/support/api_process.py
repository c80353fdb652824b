"""A real API process (uvicorn, no worker) on the test settings, for tests that need real sockets."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_KEY
from tests.support.processes import ServiceProcess, free_port, wait_until_healthy


@dataclass
class Api:
    port: int
    process: ServiceProcess
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def start_api(service_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Only the API process (no worker: nothing here trains), with ``overrides`` on the test settings."""
    processes: list[ServiceProcess] = []

    def start(**overrides: str) -> Api:
        port = free_port()
        env = {**service_env, "SELFSUP_PORT": str(port), "SELFSUP_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY, **overrides}
        process = ServiceProcess("api", env, tmp_path)
        processes.append(process)
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        return Api(port, process, env)

    yield start
    for process in processes:
        process.kill()
