"""The production shape for end-to-end tests: a uvicorn API and Celery worker processes on real services."""

import subprocess
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.client import SelfSupClient
from tests.support.processes import ServiceProcess, free_port, wait_for, wait_for_worker, wait_until_healthy

ADMIN_KEY = "ssk_" + "e2e" * 12
FAST_LEASES = {
    # Short enough that a killed worker's job is re-dispatched within seconds, long enough that a live worker
    # starved of CPU on a loaded 2-core machine does not lose it (4 s lost live leases three times in a row).
    "SELFSUP_LEASE_SECONDS": "10",
    "SELFSUP_REAPER_INTERVAL_SECONDS": "1",
    "SELFSUP_PROGRESS_INTERVAL_SECONDS": "0.5",
    "SELFSUP_MAX_DEVICES": "2",  # CPU workers run a 2-device job as two gloo ranks
}


@dataclass
class Stack:
    env: dict[str, str]
    client: SelfSupClient
    log_dir: Path
    api: ServiceProcess | None = None
    workers: list[ServiceProcess] = field(default_factory=list)

    def start_api(self) -> ServiceProcess:
        self.api = ServiceProcess("api", self.env, self.log_dir)
        wait_until_healthy(str(self.client.http.base_url), self.api)
        return self.api

    def start_worker(self, **overrides: str) -> ServiceProcess:
        """A worker with the stack's settings, ``overrides`` on top (a data dir of its own: another host)."""
        worker = ServiceProcess("worker", {**self.env, **overrides}, self.log_dir)
        self.workers.append(worker)
        self.client.servers.append(worker)
        wait_for_worker(worker)
        return worker

    def stop_all(self) -> None:
        for process in [self.api, *self.workers]:
            if process is not None:
                process.kill()

    def activity(self, job_id: str) -> Callable[[], Hashable]:
        """Progress for :func:`wait_for`: the job moving, or any worker still logging (starting up, say)."""
        return lambda: (self.client.progress_marker(job_id), *(w.log_size() for w in self.workers))

    @property
    def data_dir(self) -> Path:
        return Path(self.env["SELFSUP_DATA_DIR"])


StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack(service_env: dict[str, str], tmp_path: Path) -> Iterator[StackFactory]:
    """Start an API and ``workers`` workers on PostgreSQL and Redis, with ``overrides`` on top of the test
    settings."""
    stacks: list[Stack] = []

    def start(*, workers: int = 1, **overrides: str) -> Stack:
        port = free_port()
        env = {**service_env, **FAST_LEASES, "SELFSUP_PORT": str(port), "SELFSUP_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
        stack = Stack({**env, **overrides}, SelfSupClient(f"http://127.0.0.1:{port}", ADMIN_KEY), tmp_path)
        stacks.append(stack)
        stack.start_api()
        for _ in range(workers):
            stack.start_worker()
        return stack

    yield start
    for stack in stacks:
        stack.stop_all()


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    return make_stack()


class PrivateRedis:
    """A Redis server of the test's own on a free port, so stopping it disturbs nothing else."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        log = (self.log_dir / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._answers, timeout=20, what="the private Redis to answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=20)
            self.process = None

    def _answers(self) -> bool:
        ping = ["redis-cli", "-p", str(self.port), "ping"]
        return subprocess.run(ping, capture_output=True, text=True).stdout.strip() == "PONG"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()
